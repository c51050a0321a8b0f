// #/alarms: the live alarm list, and #/alarm/{id}: one alarm with its history. The actions
// (acknowledge, shelve, unshelve, dispatch) open a dialog and POST to /api/alerts/{id}/….
import { api, fmtTime, h, notify, throttled } from "./common.js";
import { crewOptions, field, noteInput, openDialog } from "./dialog.js";
import { getLang, t, tv } from "./i18n.js";

const SEVERITY_RANK = { critical: 0, major: 1, minor: 2, info: 3 };
/** The trade that repairs each kind of device (as the gateway routes orders): its crews come first. */
const KIND_TRADE = {
  lift: "lift", water_tank: "water", light: "electrical", cctv: "low_voltage", access: "low_voltage", patrol: "security",
};

/** Active and not acknowledged (not shelved or suppressed either): what needs the operator now. */
const needsAttention = (a) => a.state === "active";

/** Waiting for an operator's acknowledgement, whether its condition is still present or not
 *  (shelved and suppressed ones are out of sight and not counted). */
export const awaitingAck = (a) => !a.acknowledged && (a.state === "active" || a.state === "cleared");

/** An unacknowledged critical alarm: it keeps the critical cue on. */
export const isCritical = (a) => a.severity === "critical" && awaitingAck(a);

/** Unacknowledged active first, then critical > major > minor > info, then newest. */
function sortAlerts(list) {
  const rank = (a) => SEVERITY_RANK[a.severity] ?? 9;
  return list.sort(
    (a, b) =>
      Number(needsAttention(b)) - Number(needsAttention(a)) ||
      rank(a) - rank(b) ||
      Date.parse(b.raised_at) - Date.parse(a.raised_at) ||
      b.id - a.id,
  );
}

const post = (path, body) => api(path, { method: "POST", body });
const message = (a) => (getLang() === "en" ? a.message_en || a.message : a.message);

// -- actions ------------------------------------------------------------------------------------------

function ackDialog(alert, done) {
  const note = noteInput();
  openDialog({
    title: t("ack.title", { id: alert.id }),
    fields: [h("p", { class: "muted" }, message(alert)), field(t("dialog.noteOptional"), note)],
    confirmLabel: t("action.ack"),
    onConfirm: async () => done(await post(`/api/alerts/${alert.id}/ack`, { note: note.value })),
  });
}

function shelveDialog(alert, done) {
  const minutes = h("input", { type: "number", min: 1, max: 480, step: 1, value: "60", "data-testid": "minutes" });
  const reason = h("textarea", { rows: 2, maxlength: 2000, "data-testid": "reason", required: true });
  openDialog({
    title: t("shelve.title", { id: alert.id }),
    fields: [
      h("p", { class: "muted" }, message(alert)),
      field(t("shelve.minutes"), minutes),
      field(t("shelve.reason"), reason),
    ],
    confirmLabel: t("action.shelve"),
    onConfirm: async () => {
      const value = Number(minutes.value);
      if (!(value > 0 && value <= 480)) throw new Error(t("shelve.minutesRange"));
      if (!reason.value.trim()) throw new Error(t("shelve.reasonRequired"));
      done(await post(`/api/alerts/${alert.id}/shelve`, { minutes: value, reason: reason.value.trim() }));
    },
  });
}

function unshelveDialog(alert, done) {
  const note = noteInput();
  openDialog({
    title: t("unshelve.title", { id: alert.id }),
    fields: [field(t("dialog.noteOptional"), note)],
    confirmLabel: t("action.unshelve"),
    onConfirm: async () => done(await post(`/api/alerts/${alert.id}/unshelve`, { note: note.value })),
  });
}

function dispatchDialog(alert, ctx, done) {
  const crew = h("select", { "data-testid": "crew" }, h("option", { value: "" }, t("dispatch.onDutyCrew")));
  crewOptions(crew, ctx.crews(alert.estate), { trade: KIND_TRADE[alert.kind] });
  openDialog({
    title: t("dispatch.title", { id: alert.id }),
    fields: [h("p", { class: "muted" }, message(alert)), field(t("dispatch.crew"), crew)],
    confirmLabel: t("action.dispatch"),
    onConfirm: async () => {
      const body = crew.value ? { crew: crew.value } : {};
      const order = await post(`/api/alerts/${alert.id}/dispatch`, body);
      ctx.upsertOrder(order);
      notify(t("dispatch.created", { id: order.id }));
      done(await api(`/api/alerts/${alert.id}`)); // now naming its work order
    },
  });
}

/** The buttons an alert's state allows; `done(alert)` receives the API's answer. */
function actionButtons(alert, ctx, done) {
  const button = (attrs, label, open) =>
    h("button", { type: "button", ...attrs, onclick: (e) => (e.stopPropagation(), open()) }, t(label));
  const open = ["active", "acknowledged", "cleared"].includes(alert.state);
  return [
    !alert.acknowledged && alert.state !== "closed"
      ? button({ "data-testid": "ack" }, "action.ack", () => ackDialog(alert, done))
      : null,
    open ? button({ "data-testid": "shelve" }, "action.shelve", () => shelveDialog(alert, done)) : null,
    alert.state === "shelved"
      ? button({ "data-testid": "unshelve" }, "action.unshelve", () => unshelveDialog(alert, done))
      : null,
    alert.work_order == null && alert.state !== "closed"
      ? button({ "data-testid": "dispatch" }, "action.dispatch", () => dispatchDialog(alert, ctx, done))
      : null,
  ];
}

// -- the list -----------------------------------------------------------------------------------------

const COLUMNS = ["alarms.severity", "alarms.state", "alarms.estate", "alarms.device", "alarms.message",
  "alarms.count", "alarms.raised", "alarms.order", "alarms.actions"];

function row(alert, ctx) {
  const classes = [`sev-${alert.severity}`, `state-${alert.state}`];
  if (needsAttention(alert)) classes.push("unacked");
  if (isCritical(alert)) classes.push("flash");
  const tr = h("tr", {
      "data-testid": "alarm-row", "data-alert-id": alert.id, "data-rule": alert.rule, "data-severity": alert.severity,
      "data-state": alert.state, class: classes.join(" "), tabindex: 0, title: alert.key,
    },
    h("td", {}, h("span", { class: `badge sev sev-${alert.severity}` }, tv("severity", alert.severity))),
    h("td", {}, h("span", { class: `badge state state-${alert.state}` }, tv("alertState", alert.state))),
    h("td", { class: "nowrap" }, ctx.estateName(alert.estate)),
    h("td", { class: "nowrap" }, alert.device || "—",
      alert.building ? h("small", { class: "muted" }, ` ${alert.building}`) : null),
    h("td", { class: "message" }, message(alert)),
    h("td", { class: "num" }, String(alert.count)),
    h("td", { class: "time" }, fmtTime(alert.raised_at, ctx.tz(alert.estate))),
    h("td", {}, alert.work_order != null ? h("a", { href: "#/orders" }, `#${alert.work_order}`) : "—"),
    h("td", {}, h("div", { class: "actions" }, actionButtons(alert, ctx, (a) => ctx.upsertAlert(a)))),
  );
  const openDetail = (event) => {
    if (!event.target.closest("button, a")) location.hash = `#/alarm/${alert.id}`;
  };
  tr.addEventListener("click", openDetail);
  tr.addEventListener("keydown", (event) => event.key === "Enter" && openDetail(event));
  return tr;
}

export function alarmsView(main, ctx) {
  const summary = h("span", { class: "summary" });
  const tbody = h("tbody");
  const empty = h("p", { class: "empty", hidden: true }, t("alarms.empty"));
  main.append(
    h("div", { class: "toolbar" }, h("h1", {}, t("nav.alarms")), summary),
    h("div", { class: "table-wrap" },
      h("table", { class: "alarms" }, h("thead", {}, h("tr", {}, COLUMNS.map((k) => h("th", {}, t(k))))), tbody)),
    empty,
  );
  const draw = () => {
    if (!ctx.live.ready) {
      summary.textContent = t("common.loading");
      return;
    }
    const estate = ctx.estate();
    const list = sortAlerts([...ctx.live.alerts.values()].filter((a) => !estate || a.estate === estate));
    tbody.replaceChildren(...list.map((a) => row(a, ctx)));
    empty.hidden = list.length > 0;
    summary.textContent = t("alarms.summary", { n: list.length, unacked: list.filter(awaitingAck).length });
  };
  draw();
  const redraw = throttled(draw);
  return { update: (what) => what === "alerts" && redraw() };
}

// -- one alarm ----------------------------------------------------------------------------------------

function details(alert, ctx) {
  const tz = ctx.tz(alert.estate);
  const rows = [
    ["alarms.severity", h("span", { class: `badge sev sev-${alert.severity}` }, tv("severity", alert.severity))],
    ["alarms.state", h("span", { class: `badge state state-${alert.state}` }, tv("alertState", alert.state))],
    ["alarms.estate", ctx.estateName(alert.estate)],
    ["alarm.building", alert.building || "—"],
    ["alarms.device", alert.device ? h("a", { href: `#/device/${alert.estate}/${alert.device}` }, alert.device) : "—"],
    ["alarm.kind", alert.kind ? tv("kind", alert.kind) : "—"],
    ["alarm.rule", alert.rule],
    ["alarm.key", alert.key],
    ["alarms.count", String(alert.count)],
    ["alarms.raised", fmtTime(alert.raised_at, tz)],
    ["alarm.cleared", fmtTime(alert.cleared_at, tz)],
    ["alarm.acknowledged",
      alert.acknowledged ? `${fmtTime(alert.acknowledged_at, tz)} · ${alert.acknowledged_by || ""}` : t("common.no")],
    ["alarms.order", alert.work_order != null ? h("a", { href: "#/orders" }, `#${alert.work_order}`) : "—"],
  ];
  return h("dl", { class: "details" }, rows.map(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v)]));
}

function history(alert, tz) {
  const entries = [...(alert.history || [])].reverse(); // newest first
  return h("table", { class: "history" },
    h("thead", {}, h("tr", {}, ["history.at", "history.by", "history.action", "history.note"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, entries.map((e) =>
      h("tr", {},
        h("td", { class: "time" }, fmtTime(e.at, tz)),
        h("td", {}, e.by),
        h("td", {}, tv("alertAction", e.action)),
        h("td", {}, e.note)))));
}

export function alarmView(main, ctx, idText) {
  const id = Number(idText);
  const body = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  main.append(h("p", {}, h("a", { href: "#/alarms" }, `← ${t("alarm.back")}`)), body);
  let alert = null;
  const draw = () => {
    const done = (a) => {
      ctx.upsertAlert(a);
      alert = a;
      draw();
    };
    body.replaceChildren(
      h("h1", { class: `sev-${alert.severity}` }, message(alert)),
      h("div", { class: "actions detail-actions" }, actionButtons(alert, ctx, done)),
      details(alert, ctx),
      h("h2", {}, t("alarm.history")),
      history(alert, ctx.tz(alert.estate)),
    );
  };
  const load = async () => {
    try {
      alert = await api(`/api/alerts/${id}`);
      draw();
    } catch (err) {
      body.replaceChildren(h("p", { class: "error" }, err.message));
    }
  };
  load();
  const reload = throttled(load);
  return { update: (what, data) => what === "alerts" && data && data.id === id && reload() };
}
