// #/orders: the work-order board, one column per live state (closed and cancelled folded away),
// kept current from the stream's `workorder` events. #/order/{id}: one order with the crew's notes
// and its whole history. Operators and managers reassign and cancel; an operator can take a
// crew's step on its behalf (a crew that phones in).
import { api, fmtTime, h, throttled } from "./common.js";
import { crewOptions, field, noteInput, openDialog } from "./dialog.js";
import { historyTable } from "./alarms.js";
import { entryNote, t, tv } from "./i18n.js";
import { FINISHED, crewNotes, orderCard, orderTitle, replaceCards } from "./workorder.js";

const COLUMNS = ["open", "assigned", "accepted", "on_site", "resolved"];
const SEVERITY_RANK = { critical: 0, major: 1, minor: 2, info: 3 };
const FINISHED_SHOWN = 50;

function reassignDialog(order, ctx) {
  const crew = h("select", { "data-testid": "crew", required: true });
  crewOptions(crew, ctx.crews(order.estate), { trade: order.trade, onDuty: false });
  const note = noteInput();
  const warning = h("p", { class: "warning", "data-testid": "trade-warning", role: "alert", hidden: true });
  let warned = null; // the crew the operator was warned about: a second confirm goes ahead
  const check = async () => {
    const chosen = (await ctx.crews(order.estate)).find((c) => c.id === crew.value);
    const other = chosen && !chosen.trades.includes(order.trade);
    warning.hidden = !other;
    warning.textContent = other
      ? t("reassign.otherTrade", { crew: ctx.crewName(chosen.id), trade: tv("trade", order.trade),
        trades: chosen.trades.map((x) => tv("trade", x)).join("、") })
      : "";
    return other;
  };
  crew.addEventListener("change", check);
  openDialog({
    title: t("reassign.title", { id: order.id }),
    fields: [
      h("p", { class: "muted" }, orderTitle(order)),
      field(t("dispatch.crew"), crew),
      warning,
      field(t("dialog.noteOptional"), note),
    ],
    confirmLabel: t("action.reassign"),
    onConfirm: async () => {
      if (!crew.value) throw new Error(t("reassign.crewRequired"));
      if ((await check()) && warned !== crew.value) {
        warned = crew.value;
        throw new Error(t("reassign.confirmOtherTrade"));
      }
      const body = { crew: crew.value, note: note.value };
      ctx.upsertOrder(await api(`/api/workorders/${order.id}/reassign`, { method: "POST", body }));
    },
  });
}

function cancelDialog(order, ctx, done = ctx.upsertOrder) {
  const note = noteInput(true);
  openDialog({
    title: t("cancel.title", { id: order.id }),
    fields: [h("p", { class: "muted" }, orderTitle(order)), field(t("cancel.note"), note)],
    confirmLabel: t("action.cancelOrder"),
    onConfirm: async () => {
      if (!note.value.trim()) throw new Error(t("cancel.noteRequired"));
      const body = { note: note.value.trim() };
      done(await api(`/api/workorders/${order.id}/cancel`, { method: "POST", body }));
    },
  });
}

/** The operator's and manager's buttons on a card. */
function managerActions(order, ctx) {
  if (FINISHED.has(order.state) || !ctx.can("orders:manage")) return null;
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

function cardFor(order, ctx) {
  return orderCard(order, {
    tz: ctx.tz(order.estate), crewName: ctx.crewName, onChange: ctx.upsertOrder, compact: true, linkAlerts: true,
    canStep: ctx.can("orders:step"), extraActions: (o) => managerActions(o, ctx),
  });
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
  const draw = () => {
    const estate = ctx.estate();
    const orders = [...ctx.live.orders.values()].filter((o) => !estate || o.estate === estate);
    for (const state of COLUMNS) {
      const list = orders.filter((o) => o.state === state).sort(urgency);
      replaceCards(columns.get(state), list.map((o) => cardFor(o, ctx)));
      counts.get(state).textContent = String(list.length);
    }
    const done = orders.filter((o) => FINISHED.has(o.state)).sort((a, b) => b.id - a.id);
    replaceCards(finished, done.slice(0, FINISHED_SHOWN).map((o) => cardFor(o, ctx)));
    finishedCount.textContent = String(done.length);
  };
  draw();
  const redraw = throttled(draw);
  return { update: (what) => what === "orders" && redraw() };
}

// -- one order ----------------------------------------------------------------------------------------

export function orderView(main, ctx, idText) {
  const id = Number(idText);
  const body = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  main.append(h("p", {}, h("a", { href: "#/orders" }, `← ${t("nav.orders")}`)), body);
  let order = null;
  const draw = () => {
    const tz = ctx.tz(order.estate);
    const notes = crewNotes(order);
    body.replaceChildren(
      h("div", { class: "order-detail", "data-testid": "order-detail", "data-order-id": order.id }, cardFor(order, ctx)),
      h("h2", {}, t("order.crewNotes")),
      notes.length
        ? h("ul", { class: "notes", "data-testid": "crew-notes" }, notes.map((e) =>
          h("li", {}, h("span", { class: "time" }, fmtTime(e.at, tz)), " ", h("strong", {}, `${tv("step", e.action)} · ${e.by}`),
            h("div", { class: "note" }, entryNote(e)))))
        : h("p", { class: "muted" }, t("order.noCrewNotes")),
      h("h2", {}, t("alarm.history")),
      historyTable(order.history, tz, "orderAction"),
    );
  };
  const load = async () => {
    try {
      order = await api(`/api/workorders/${id}`);
      draw();
    } catch (err) {
      body.replaceChildren(h("p", { class: "error", "data-testid": "error" }, err.message));
    }
  };
  load();
  const reload = throttled(load);
  return { update: (what, data) => what === "orders" && data && data.id === id && reload() };
}
