// #/alarms: the live alarm list with filters, search, sortable columns, per-severity counts and a bulk
// acknowledge; the closed alarms come from the API on demand. #/alarm/{id}: one alarm with its
// history. The actions (acknowledge, shelve, unshelve, dispatch) open a dialog and POST to
// /api/alerts/{id}/…, and are offered only to a role that may take them (GET /api/me).
import { api, countdown, fmtTime, h, notify, throttled } from "./common.js";
import { crewOptions, field, noteInput, openDialog } from "./dialog.js";
import { getLang, entryNote, localNote, t, tv } from "./i18n.js";

const SEVERITIES = ["critical", "major", "minor", "info"];
const SEVERITY_RANK = { critical: 0, major: 1, minor: 2, info: 3 };
const OPEN_STATES = ["active", "acknowledged", "cleared", "shelved", "suppressed"];
const KINDS = ["lift", "water_tank", "access", "light", "cctv", "patrol"];
/** The trade that repairs each kind of device (as the gateway routes orders): its crews come first. */
const KIND_TRADE = {
  lift: "lift", water_tank: "water", light: "electrical", cctv: "low_voltage", access: "low_voltage", patrol: "security",
};
/** The alarm a work order raises when it misses a deadline: about the order, not a device. */
export const BREACH_RULE = "workorder.overdue";
/** Rows drawn at once: a flood of 2 000 alarms stays responsive; the rest follow on request. */
const PAGE_ROWS = 300;

/** Waiting for an operator's acknowledgement: the gateway's own `unacknowledged` (alerts/model.py),
 *  the one definition the list, the badge and the overview count. */
export const awaitingAck = (a) => (a.unacknowledged ?? (!a.acknowledged && ["active", "cleared"].includes(a.state)));

/** An unacknowledged critical alarm: it keeps the critical cue on. */
export const isCritical = (a) => a.severity === "critical" && awaitingAck(a);

/** The order a `workorder.overdue` alarm is about (its subject is `WO{id}/{step}`), or null. */
export function breachOrder(alert) {
  const found = alert.rule === BREACH_RULE && /^WO(\d+)\//.exec(alert.subject || "");
  return found ? Number(found[1]) : null;
}

/** The alarm's message in the page's language, with device codes shown as words. */
export const message = (a) => localNote(getLang() === "en" ? a.message_en || a.message : a.message);

const post = (path, body) => api(path, { method: "POST", body });

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
      // Whole minutes only: the API refuses 2.5 as it refuses 0 or 481.
      if (!(Number.isInteger(value) && value >= 1 && value <= 480)) throw new Error(t("shelve.minutesRange"));
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

/** The buttons an alert's state allows and the caller's role may use; `done(alert)` receives the
 *  API's answer. An overdue-order alarm is acted on through its order: no dispatch. */
function actionButtons(alert, ctx, done) {
  if (!ctx.can("alerts:act") || alert.state === "closed") return [];
  const button = (attrs, label, open) =>
    h("button", { type: "button", ...attrs, onclick: (e) => (e.stopPropagation(), open()) }, t(label));
  const open = ["active", "acknowledged", "cleared"].includes(alert.state);
  const linked = alert.work_order != null && ctx.live.orders.has(alert.work_order) &&
    !["closed", "cancelled"].includes(ctx.live.orders.get(alert.work_order).state);
  return [
    !alert.acknowledged ? button({ "data-testid": "ack" }, "action.ack", () => ackDialog(alert, done)) : null,
    open ? button({ "data-testid": "shelve" }, "action.shelve", () => shelveDialog(alert, done)) : null,
    alert.state === "shelved"
      ? button({ "data-testid": "unshelve" }, "action.unshelve", () => unshelveDialog(alert, done))
      : null,
    !linked && alert.work_order == null && breachOrder(alert) == null
      ? button({ "data-testid": "dispatch" }, "action.dispatch", () => dispatchDialog(alert, ctx, done))
      : null,
  ];
}

/** What happened after an action: an alarm that closed (acknowledged after it cleared) leaves
 *  the list; the operator is told where it went. */
function afterAction(ctx) {
  return (alert) => {
    ctx.upsertAlert(alert);
    if (alert.state === "closed") {
      notify(t("alarms.closedNotice", { id: alert.id }), "info", `#/alarm/${alert.id}`);
    }
  };
}

// -- cells shared by the list and the journal ---------------------------------------------------------

/** The device an alarm is about; an overdue order's alarm names its order's device. */
export function deviceCell(alert, ctx) {
  const orderId = breachOrder(alert);
  const order = orderId != null ? ctx.live.orders.get(orderId) : null;
  const device = alert.device || (order && order.device);
  const building = alert.building || (order && order.building);
  const link = device
    ? h("a", { href: `#/device/${encodeURIComponent(alert.estate)}/${encodeURIComponent(device)}`, "data-testid": "device-link" }, device)
    : "—";
  return [link, building ? h("small", { class: "muted" }, ` ${building}`) : null];
}

/** The work order of an alarm (or the one an overdue alarm is about), linked to the order's page. */
export function orderCell(alert) {
  const id = alert.work_order ?? breachOrder(alert);
  return id != null ? h("a", { href: `#/order/${id}`, "data-testid": "order-link" }, `#${id}`) : "—";
}

function stateCell(alert, ctx) {
  const badge = h("span", { class: `badge state state-${alert.state}` }, tv("alertState", alert.state));
  if (alert.state !== "shelved" || !alert.shelved_until) return badge;
  // When it comes back: the time and a countdown.
  return [badge, h("div", { class: "small", "data-testid": "shelved-until" },
    t("alarms.shelvedUntil", { time: fmtTime(alert.shelved_until, ctx.tz(alert.estate)) }), " ",
    countdown("shelve", alert.shelved_until))];
}

// -- the list -----------------------------------------------------------------------------------------

/** Sortable columns: the key each sorts by (null: not sortable). */
const COLUMNS = [
  ["select", null], ["alarms.severity", (a) => SEVERITY_RANK[a.severity] ?? 9], ["alarms.state", (a) => a.state],
  ["alarms.estate", (a) => a.estate], ["alarms.device", (a) => a.device || ""], ["alarms.message", (a) => message(a)],
  ["alarms.count", (a) => a.count], ["alarms.raised", (a) => Date.parse(a.raised_at)],
  ["alarms.order", (a) => a.work_order ?? -1], ["alarms.actions", null],
];

/** Unacknowledged first (the gateway's `unacknowledged`: a critical one that has cleared still
 *  waits), then critical > major > minor > info, then active before cleared, then newest. */
function byAttention(a, b) {
  const rank = (x) => SEVERITY_RANK[x.severity] ?? 9;
  const active = (x) => Number(x.state === "active");
  return Number(awaitingAck(b)) - Number(awaitingAck(a)) || rank(a) - rank(b) || active(b) - active(a) ||
    Date.parse(b.raised_at) - Date.parse(a.raised_at) || b.id - a.id;
}

function row(alert, ctx, selected, onSelect) {
  const classes = [`sev-${alert.severity}`, `state-${alert.state}`];
  if (awaitingAck(alert)) classes.push("unacked");
  if (isCritical(alert)) classes.push("flash");
  const canAck = ctx.can("alerts:act") && !alert.acknowledged && alert.state !== "closed";
  const box = canAck
    ? h("input", { type: "checkbox", "data-testid": "select", "aria-label": t("alarms.select", { id: alert.id }),
      checked: selected.has(alert.id), onchange: (e) => onSelect(alert.id, e.target.checked) })
    : null;
  const tr = h("tr", {
      "data-testid": "alarm-row", "data-alert-id": alert.id, "data-rule": alert.rule, "data-severity": alert.severity,
      "data-state": alert.state, class: classes.join(" "), tabindex: 0, title: alert.key,
    },
    h("td", { class: "select" }, box),
    h("td", {}, h("span", { class: `badge sev sev-${alert.severity}` }, tv("severity", alert.severity))),
    h("td", {}, stateCell(alert, ctx)),
    h("td", { class: "nowrap" }, ctx.estateName(alert.estate)),
    h("td", { class: "nowrap" }, deviceCell(alert, ctx)),
    h("td", { class: "message" }, message(alert)),
    h("td", { class: "num" }, String(alert.count)),
    h("td", { class: "time" }, fmtTime(alert.raised_at, ctx.tz(alert.estate))),
    h("td", {}, orderCell(alert)),
    h("td", {}, h("div", { class: "actions" }, actionButtons(alert, ctx, afterAction(ctx)))),
  );
  const openDetail = (event) => {
    if (!event.target.closest("button, a, input")) location.hash = `#/alarm/${alert.id}`;
  };
  tr.addEventListener("click", openDetail);
  tr.addEventListener("keydown", (event) => event.key === "Enter" && openDetail(event));
  return tr;
}

function filterBar(ctx, onChange) {
  const select = (testid, label, values, text) =>
    h("select", { "data-testid": testid, "aria-label": label, onchange: onChange },
      h("option", { value: "" }, label), values.map((v) => h("option", { value: v }, text(v))));
  const estate = ctx.estate();
  const buildings = [...new Set(ctx.estates.filter((e) => !estate || e.id === estate).flatMap((e) => e.buildings || []))];
  const f = {
    building: select("filter-building", t("alarms.allBuildings"), buildings, (b) => b),
    kind: select("filter-kind", t("alarms.allKinds"), KINDS, (k) => tv("kind", k)),
    severity: select("filter-severity", t("alarms.allSeverities"), SEVERITIES, (s) => tv("severity", s)),
    state: select("filter-state", t("alarms.openStates"), ["unacked", ...OPEN_STATES, "closed"],
      (s) => (s === "unacked" ? t("alarms.unackedOnly") : tv("alertState", s))),
    search: h("input", { type: "search", "data-testid": "filter-search", placeholder: t("alarms.search"),
      "aria-label": t("alarms.search"), oninput: onChange }),
  };
  return f;
}

function matches(a, f) {
  const q = f.search.value.trim().toLowerCase();
  const text = () => [a.id, a.device, a.building, a.rule, a.message, a.message_en, a.key].join(" ").toLowerCase();
  const state = f.state.value;
  return (!f.building.value || a.building === f.building.value) &&
    (!f.kind.value || a.kind === f.kind.value) &&
    (!f.severity.value || a.severity === f.severity.value) &&
    (!state || state === "closed" || (state === "unacked" ? awaitingAck(a) : a.state === state)) &&
    (!q || text().includes(q));
}

function bulkAckDialog(ids, ctx, done) {
  const note = noteInput();
  openDialog({
    title: t("alarms.bulkTitle", { n: ids.length }),
    fields: [field(t("dialog.noteOptional"), note)],
    confirmLabel: t("action.ack"),
    onConfirm: async () => {
      for (const id of ids) ctx.upsertAlert(await post(`/api/alerts/${id}/ack`, { note: note.value }));
      done();
    },
  });
}

export function alarmsView(main, ctx) {
  const counts = h("div", { class: "sev-counts", "data-testid": "severity-counts" });
  const summary = h("span", { class: "summary", "data-testid": "alarm-summary" });
  const tbody = h("tbody");
  const more = h("button", { type: "button", hidden: true, "data-testid": "more-rows" }, t("alarms.more"));
  const empty = h("p", { class: "empty", hidden: true, "data-testid": "alarms-empty" }, t("alarms.empty"));
  const selected = new Set();
  const bulk = h("button", { type: "button", "data-testid": "bulk-ack", disabled: true,
    hidden: !ctx.can("alerts:act") }, t("alarms.bulkAck", { n: 0 }));
  let closed = null; // the closed alarms, when that state is chosen (GET /api/alerts?state=closed)
  let sort = { col: null, dir: 1 };
  let limit = PAGE_ROWS;
  const f = filterBar(ctx, () => {
    limit = PAGE_ROWS;
    if (f.state.value === "closed" && closed === null) loadClosed();
    redraw();
  });
  const head = h("tr", {}, COLUMNS.map(([key, by], i) => {
    if (key === "select") return h("th", { class: "select" });
    if (!by) return h("th", {}, t(key));
    return h("th", { class: "sortable", "data-sort": key, tabindex: 0, onclick: () => {
      sort = { col: i, dir: sort.col === i ? -sort.dir : 1 };
      draw();
    } }, t(key));
  }));
  main.append(
    h("div", { class: "toolbar" }, h("h1", {}, t("nav.alarms")), summary, counts, bulk),
    h("div", { class: "toolbar filters" }, f.building, f.kind, f.severity, f.state, f.search),
    h("div", { class: "table-wrap" }, h("table", { class: "alarms" }, h("thead", {}, head), tbody)),
    more, empty,
  );
  const onSelect = (id, on) => {
    if (on) selected.add(id);
    else selected.delete(id);
    bulk.disabled = selected.size === 0;
    bulk.textContent = t("alarms.bulkAck", { n: selected.size });
  };
  bulk.addEventListener("click", () => bulkAckDialog([...selected], ctx, () => {
    selected.clear();
    onSelect(0, false);
  }));
  more.addEventListener("click", () => {
    limit += PAGE_ROWS;
    draw();
  });
  async function loadClosed() {
    const params = new URLSearchParams({ state: "closed", limit: "500" });
    if (ctx.estate()) params.set("estate", ctx.estate());
    try {
      closed = await api(`/api/alerts?${params}`);
    } catch (err) {
      closed = [];
      notify(err.message, "error");
    }
    draw();
  }
  function draw() {
    if (!ctx.live.ready) {
      summary.textContent = t("common.loading");
      return;
    }
    const estate = ctx.estate();
    const inScope = (a) => !estate || a.estate === estate;
    const open = [...ctx.live.alerts.values()].filter(inScope);
    const source = f.state.value === "closed" ? (closed || []) : open;
    const list = source.filter((a) => matches(a, f));
    if (sort.col === null) list.sort(byAttention);
    else {
      const key = COLUMNS[sort.col][1];
      list.sort((a, b) => (key(a) < key(b) ? -sort.dir : key(a) > key(b) ? sort.dir : b.id - a.id));
    }
    for (const th of head.querySelectorAll("th[data-sort]")) th.removeAttribute("aria-sort");
    if (sort.col !== null) {
      head.children[sort.col].setAttribute("aria-sort", sort.dir > 0 ? "ascending" : "descending");
    }
    for (const id of [...selected]) if (!ctx.live.alerts.has(id) || !awaitingAck(ctx.live.alerts.get(id))) selected.delete(id);
    onSelect(0, false);
    tbody.replaceChildren(...list.slice(0, limit).map((a) => row(a, ctx, selected, onSelect)));
    more.hidden = list.length <= limit;
    empty.hidden = list.length > 0;
    const unacked = open.filter(awaitingAck);
    summary.textContent = t("alarms.summary", { n: open.length, unacked: unacked.length });
    counts.replaceChildren(...SEVERITIES.map((s) => h("button", {
      type: "button", class: `badge sev sev-${s}`, "data-testid": `count-${s}`, "data-n": open.filter((a) => a.severity === s).length,
      title: t("alarms.countTitle"),
      onclick: () => {
        f.severity.value = f.severity.value === s ? "" : s;
        draw();
      },
    }, `${tv("severity", s)} ${open.filter((a) => a.severity === s).length}`)));
  }
  draw();
  const redraw = throttled(draw);
  return { update: (what) => (what === "alerts" || what === "orders") && redraw() };
}

// -- one alarm ----------------------------------------------------------------------------------------

function details(alert, ctx) {
  const tz = ctx.tz(alert.estate);
  const rows = [
    ["alarms.severity", h("span", { class: `badge sev sev-${alert.severity}` }, tv("severity", alert.severity))],
    ["alarms.state", stateCell(alert, ctx)],
    ["alarms.estate", ctx.estateName(alert.estate)],
    ["alarm.building", alert.building || "—"],
    ["alarms.device", deviceCell(alert, ctx)],
    ["alarm.kind", alert.kind ? tv("kind", alert.kind) : "—"],
    ["alarm.rule", alert.rule],
    ["alarms.count", String(alert.count)],
    ["alarms.raised", fmtTime(alert.raised_at, tz)],
    ["alarm.cleared", fmtTime(alert.cleared_at, tz)],
    ["alarm.acknowledged",
      alert.acknowledged ? `${fmtTime(alert.acknowledged_at, tz)} · ${alert.acknowledged_by || ""}` : t("common.no")],
    ["alarm.closed", fmtTime(alert.closed_at, tz)],
    ["alarms.order", orderCell(alert)],
  ];
  return h("dl", { class: "details" }, rows.map(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v)]));
}

/** A history table (an alarm's or an order's): time, who, what, the note in the page's language. */
export function historyTable(entries, tz, group) {
  return h("table", { class: "history", "data-testid": "history" },
    h("thead", {}, h("tr", {}, ["history.at", "history.by", "history.action", "history.note"].map((k) => h("th", {}, t(k))))),
    h("tbody", {}, [...(entries || [])].reverse().map((e) =>
      h("tr", {},
        h("td", { class: "time" }, fmtTime(e.at, tz)),
        h("td", {}, e.by === "system" || e.by === "dispatch" ? t(`history.${e.by}`) : e.by),
        h("td", {}, tv(group, e.action)),
        h("td", { class: "note" }, entryNote(e))))));
}

export function alarmView(main, ctx, idText) {
  const id = Number(idText);
  const body = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  main.append(h("p", {}, h("a", { href: "#/alarms" }, `← ${t("alarm.back")}`)), body);
  let alert = null;
  const draw = () => {
    const done = (a) => {
      afterAction(ctx)(a);
      alert = a;
      draw();
    };
    body.replaceChildren(
      h("h1", { class: `sev-${alert.severity}` }, message(alert)),
      h("div", { class: "actions detail-actions" }, actionButtons(alert, ctx, done)),
      details(alert, ctx),
      h("h2", {}, t("alarm.history")),
      historyTable(alert.history, ctx.tz(alert.estate), "alertAction"),
    );
  };
  const load = async () => {
    try {
      alert = await api(`/api/alerts/${id}`);
      draw();
    } catch (err) {
      body.replaceChildren(h("p", { class: "error", "data-testid": "error" }, err.message));
    }
  };
  load();
  const reload = throttled(load);
  return { update: (what, data) => what === "alerts" && data && data.id === id && reload() };
}
