// #/orders: the work-order board, one column per live state (closed and cancelled folded away),
// kept current from the stream's `workorder` events. Operators reassign and cancel here, and can
// take a crew's step on its behalf (a crew that phones in).
import { api, h, throttled } from "./common.js";
import { crewOptions, field, noteInput, openDialog } from "./dialog.js";
import { t, tv } from "./i18n.js";
import { FINISHED, orderCard, replaceCards } from "./workorder.js";

const COLUMNS = ["open", "assigned", "accepted", "on_site", "resolved"];
const SEVERITY_RANK = { critical: 0, major: 1, minor: 2, info: 3 };
const FINISHED_SHOWN = 50;

function reassignDialog(order, ctx) {
  const crew = h("select", { "data-testid": "crew", required: true });
  crewOptions(crew, ctx.crews(order.estate), { trade: order.trade, onDuty: false });
  const note = noteInput();
  openDialog({
    title: t("reassign.title", { id: order.id }),
    fields: [
      h("p", { class: "muted" }, order.title),
      field(t("dispatch.crew"), crew),
      field(t("dialog.noteOptional"), note),
    ],
    confirmLabel: t("action.reassign"),
    onConfirm: async () => {
      if (!crew.value) throw new Error(t("reassign.crewRequired"));
      const body = { crew: crew.value, note: note.value };
      ctx.upsertOrder(await api(`/api/workorders/${order.id}/reassign`, { method: "POST", body }));
    },
  });
}

function cancelDialog(order, ctx) {
  const note = noteInput(true);
  openDialog({
    title: t("cancel.title", { id: order.id }),
    fields: [h("p", { class: "muted" }, order.title), field(t("cancel.note"), note)],
    confirmLabel: t("action.cancelOrder"),
    onConfirm: async () => {
      if (!note.value.trim()) throw new Error(t("cancel.noteRequired"));
      const body = { note: note.value.trim() };
      ctx.upsertOrder(await api(`/api/workorders/${order.id}/cancel`, { method: "POST", body }));
    },
  });
}

/** The operator's buttons on a card. */
function managerActions(order, ctx) {
  if (FINISHED.has(order.state)) return null;
  return [
    order.state !== "resolved"
      ? h("button", { type: "button", "data-testid": "reassign", onclick: () => reassignDialog(order, ctx) },
        t("action.reassign"))
      : null,
    h("button", { type: "button", class: "danger", "data-testid": "cancel-order", onclick: () => cancelDialog(order, ctx) },
      t("action.cancelOrder")),
  ];
}

// Most urgent first: severity, then the nearest pending deadline, then newest.
function urgency(a, b) {
  const next = (o) => Math.min(...["accept", "arrive", "resolve"]
    .filter((s) => o.deadlines[s] && !(o.done && o.done[s]))
    .map((s) => Date.parse(o.deadlines[s])), Infinity);
  return (SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]) || next(a) - next(b) || b.id - a.id;
}

export function ordersView(main, ctx) {
  const columns = new Map(COLUMNS.map((state) => [state, h("div", { class: "cards" })]));
  const counts = new Map(COLUMNS.map((state) => [state, h("span", { class: "count" })]));
  const finished = h("div", { class: "cards" });
  const finishedCount = h("span", { class: "count" });
  main.append(
    h("div", { class: "toolbar" }, h("h1", {}, t("nav.orders"))),
    h("div", { class: "board" }, COLUMNS.map((state) =>
      h("section", { class: `column state-${state}`, "data-column": state },
        h("h2", {}, tv("orderState", state), " ", counts.get(state)), columns.get(state)))),
    h("details", { class: "finished" }, h("summary", {}, t("orders.finished"), " ", finishedCount), finished),
  );
  const card = (order) =>
    orderCard(order, {
      tz: ctx.tz(order.estate), crewName: ctx.crewName, onChange: ctx.upsertOrder, compact: true, linkAlerts: true,
      extraActions: (o) => managerActions(o, ctx),
    });
  const draw = () => {
    const estate = ctx.estate();
    const orders = [...ctx.live.orders.values()].filter((o) => !estate || o.estate === estate);
    for (const state of COLUMNS) {
      const list = orders.filter((o) => o.state === state).sort(urgency);
      replaceCards(columns.get(state), list.map(card));
      counts.get(state).textContent = String(list.length);
    }
    const done = orders.filter((o) => FINISHED.has(o.state)).sort((a, b) => b.id - a.id);
    replaceCards(finished, done.slice(0, FINISHED_SHOWN).map(card));
    finishedCount.textContent = String(done.length);
  };
  draw();
  const redraw = throttled(draw);
  return { update: (what) => what === "orders" && redraw() };
}
