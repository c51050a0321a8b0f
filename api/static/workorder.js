// A work-order card, shared by the console's board and the crew page: what, where, who, the three
// deadlines with live countdowns, and the crew's steps with a note.
import { api, countdown, fmtShort, fmtTime, h } from "./common.js";
import { entryNote, getLang, t, tv } from "./i18n.js";

export const STEPS = ["accept", "arrive", "resolve"];
export const FINISHED = new Set(["closed", "cancelled"]);
/** Orders the crew still has to work on (a resolved one waits for the device, not for them). */
export const IN_HAND = new Set(["assigned", "accepted", "on_site"]);

/** An order's title in the page's language (an order from an alert carries its English message). */
export const orderTitle = (o) => (getLang() === "en" ? o.title_en || o.title : o.title);

/** The crew's own words: the notes of their steps, newest first. */
export function crewNotes(order) {
  return (order.history || []).filter((e) => STEPS.includes(e.action) && e.note).reverse();
}

/** What the crew page lists under an order, newest first: the crew's notes, and what the desk said
 *  that changes their work (a deadline missed, reassigned, reopened, escalated, cancelled). */
const FOR_CREW = new Set(["breach", "reassign", "reopen", "escalate", "cancel"]);
export function crewTimeline(order) {
  return (order.history || [])
    .filter((e) => (STEPS.includes(e.action) && e.note) || (FOR_CREW.has(e.action) && (e.code || e.note)))
    .reverse();
}

/** Steps an order's state allows (the desk answers 409 for any other). */
const STEPS_BY_STATE = {
  assigned: ["accept"],
  accepted: ["arrive", "resolve"],
  on_site: ["resolve"],
};

/** The deadline rows: done steps with their time, pending ones with a countdown. */
function deadlines(order, tz) {
  const rows = [];
  for (const step of STEPS) {
    const due = order.deadlines && order.deadlines[step];
    const done = order.done && order.done[step];
    if (!due && !done) continue;
    const breached = (order.breached || []).includes(step);
    let status;
    if (done) status = h("span", { class: "done" }, t("order.doneAt", { time: fmtShort(done, tz) }));
    else if (FINISHED.has(order.state)) status = h("span", { class: "muted" }, "—");
    else status = countdown(step, due, breached);
    rows.push(
      h("li", { class: breached ? "breached" : null },
        h("span", { class: "step" }, tv("step", step)),
        h("span", { class: "due", title: due ? fmtTime(due, tz) : null }, due ? fmtShort(due, tz) : "—"),
        status,
        breached ? h("span", { class: "badge breach" }, t("order.breached")) : null),
    );
  }
  return rows.length ? h("ul", { class: "deadlines" }, rows) : null;
}

/** One card. options: tz, crewName(id), onChange(order) after an action, extraActions(order, error)
 *  → more buttons (the console's reassign and cancel), compact (smaller note field), linkAlerts (to
 *  the console's alarm and order pages), canStep (the role may take the crew's steps), confirmStep
 *  (step → a promise of true to go on: the crew page asks before "resolve"), allNotes (every crew
 *  note, newest first, with its time: the crew page; else the latest only). */
export function orderCard(order, opts) {
  const {
    tz, crewName = (id) => id, onChange = () => {}, extraActions, compact = false, linkAlerts = false,
    canStep = true, confirmStep = async () => true, allNotes = false,
  } = opts;
  const error = h("p", { class: "error", role: "alert" });
  const steps = canStep ? STEPS_BY_STATE[order.state] || [] : [];
  const note = steps.length
    ? h("textarea", {
        "data-testid": "order-note", rows: compact ? 1 : 2, maxlength: 2000, placeholder: t("order.notePlaceholder"),
        "aria-label": t("order.note"),
      })
    : null;
  const stepButton = (step) =>
    h("button", {
      type: "button", class: step === "resolve" ? "primary" : "", "data-testid": step,
      onclick: async (event) => {
        const button = event.target;
        if (!(await confirmStep(step, order))) return;
        event.target.disabled = true;
        error.textContent = "";
        try {
          const done = await api(`/api/workorders/${order.id}/${step}`, { method: "POST", body: { note: note.value } });
          note.value = ""; // the note went with the step: it is not kept for the redrawn card
          onChange(done);
        } catch (err) {
          error.textContent = err.message;
          button.disabled = false;
        }
      },
    }, t(`action.${step}`));
  const where = [order.building, order.device].filter(Boolean).join(" · ");
  const who = order.crew ? crewName(order.crew) : t("order.noCrew");
  const alertText = order.alert ? t("order.alert", { id: order.alert }) : null;
  const title = orderTitle(order);
  // The description of an order from an alert is the alert's English message: shown as the English
  // title, not under the Chinese one. A report's description is what the reporter wrote.
  const description = order.source === "report" ? order.description : null;
  const notes = allNotes ? crewTimeline(order) : crewNotes(order).slice(0, 1);
  const noteLine = (e) => h("li", { class: "crew-note", "data-testid": "crew-note", "data-action": e.action },
    allNotes ? h("time", { datetime: e.at }, `${fmtShort(e.at, tz)} `) : null,
    allNotes ? `${tv("orderAction", e.action)} · ${e.by}：${entryNote(e)}` : `${tv("step", e.action)} · ${e.by}：${entryNote(e)}`);
  return h("article", {
      class: `card order sev-${order.severity} state-${order.state}`, "data-testid": "order-card",
      "data-order-id": order.id, "data-state": order.state,
    },
    h("header", {},
      linkAlerts ? h("a", { class: "order-id", href: `#/order/${order.id}`, "data-testid": "order-link" }, `#${order.id}`)
        : h("span", { class: "order-id" }, `#${order.id}`),
      h("span", { class: `badge sev sev-${order.severity}` }, tv("severity", order.severity)),
      h("span", { class: `badge state state-${order.state}` }, tv("orderState", order.state)),
      order.reopened ? h("span", { class: "badge" }, t("order.reopened", { n: order.reopened })) : null),
    h("h3", { "data-testid": "order-title" }, title),
    h("p", { class: "meta" }, [tv("trade", order.trade), where, who].filter(Boolean).join(" · ")),
    description ? h("p", { class: "description" }, description) : null,
    notes.length ? h("ul", { class: "crew-notes", "data-testid": "card-notes" }, notes.map(noteLine)) : null,
    h("p", { class: "meta" }, t("order.created", { time: fmtTime(order.created_at, tz) }),
      order.alert ? " · " : null,
      alertText && linkAlerts ? h("a", { href: `#/alarm/${order.alert}` }, alertText) : alertText),
    deadlines(order, tz),
    note,
    h("div", { class: "actions" }, steps.map(stepButton), extraActions ? extraActions(order, error) : null),
    error,
  );
}

/** Replaces a container's cards, keeping what was typed into each card's note. */
export function replaceCards(container, cards) {
  const typed = new Map();
  for (const area of container.querySelectorAll("[data-testid=order-note]")) {
    const id = area.closest("[data-order-id]").dataset.orderId;
    const focused = document.activeElement === area;
    if (area.value || focused) typed.set(id, { value: area.value, focused });
  }
  container.replaceChildren(...cards);
  for (const [id, { value, focused }] of typed) {
    const area = container.querySelector(`[data-order-id="${id}"] [data-testid=order-note]`);
    if (!area) continue;
    area.value = value;
    if (focused) area.focus();
  }
}
