// #/overview: each estate at a glance (GET /api/estates/{id}/summary) and its devices with filters;
// #/device/{estate}/{id}: one device, live, and a chart of a numeric field over 1 h to 30 days with
// its unit and the rules' thresholds.
import { ApiError, api, apiAll, fmtTime, h } from "./common.js";
import { awaitingAck } from "./alarms.js";
import { lineChart } from "./chart.js";
import { fieldLabel, fieldUnit, t, tv } from "./i18n.js";

const KINDS = ["lift", "water_tank", "access", "light", "cctv", "patrol"];
const STATUSES = ["online", "offline", "unknown", "unregistered"];
const SUMMARY_EVERY_MS = 5000; // summaries follow the stream, at most this often

const pct = (rate) => (rate == null ? "—" : `${(rate * 100).toFixed(1)}%`);

/** A bar filled to `rate` (0..1) with a mark at `target`; red below the target. */
function meter(rate, target = null) {
  const low = target != null && rate != null && rate < target;
  return h("div", { class: `meter${low ? " low" : ""}` },
    h("div", { class: "fill", style: `width:${Math.round((rate || 0) * 100)}%` }),
    target != null ? h("div", { class: "target", style: `left:${target * 100}%`, title: pct(target) }) : null);
}

function kindsTable(byKind) {
  const cols = [...STATUSES, "total"];
  const head = cols.map((c) => h("th", {}, c === "total" ? t("overview.total") : tv("deviceStatus", c)));
  // Devices that are not online (offline, unknown, unregistered) stand out.
  const cell = (counts, c) =>
    h("td", { class: `num${counts[c] && !["online", "total"].includes(c) ? " warn" : ""}` }, String(counts[c] || 0));
  return h("table", { class: "compact" },
    h("thead", {}, h("tr", {}, h("th", {}, t("overview.kind")), head)),
    h("tbody", {}, KINDS.filter((k) => byKind[k]).map((k) =>
      h("tr", {}, h("td", {}, tv("kind", k)), cols.map((c) => cell(byKind[k], c))))));
}

/** The alarm figures of an estate from the console's live list: the same alarms, and the same
 *  definition of "unacknowledged", as the alarm list and its badge. */
function liveAlarms(ctx, estate) {
  const open = [...ctx.live.alerts.values()].filter((a) => a.estate === estate);
  const bySeverity = {};
  for (const a of open) bySeverity[a.severity] = (bySeverity[a.severity] || 0) + 1;
  return {
    open: open.length,
    active: open.filter((a) => a.active).length,
    unacknowledged: open.filter(awaitingAck).length,
    by_severity: bySeverity,
  };
}

function summaryCard(s, ctx) {
  if (ctx.live.ready) s = { ...s, alerts: { ...s.alerts, ...liveAlarms(ctx, s.id) } };
  const bySeverity = ["critical", "major", "minor", "info"].filter((sev) => s.alerts.by_severity[sev])
    .map((sev) => [sev, s.alerts.by_severity[sev]])
    .map(([sev, n]) => h("span", { class: `badge sev sev-${sev}` }, `${tv("severity", sev)} ${n}`));
  const byState = Object.entries(s.workorders.by_state || {})
    .map(([state, n]) => h("span", { class: `badge state state-${state}` }, `${tv("orderState", state)} ${n}`));
  const lamps = { failed: s.lamps.failed, total: s.lamps.total, target: pct(s.lamps.target) };
  return h("article", { class: "card estate", "data-estate": s.id },
    h("h2", {}, s.name, h("small", { class: "muted" }, ` ${s.id} · ${s.region} · ${s.timezone}`)),
    h("div", { class: "stats" },
      h("section", {}, h("h3", {}, t("overview.lamps")),
        h("p", { class: "big" }, pct(s.lamps.intact_rate)),
        meter(s.lamps.intact_rate, s.lamps.target),
        h("p", { class: "muted" }, t("overview.lampsDetail", lamps))),
      h("section", {}, h("h3", {}, t("overview.cameras")),
        h("p", { class: "big" }, pct(s.cameras.online_rate)),
        meter(s.cameras.online_rate),
        h("p", { class: "muted" }, t("overview.camerasDetail", { online: s.cameras.online, total: s.cameras.total }))),
      h("section", {}, h("h3", {}, h("a", { href: "#/alarms" }, t("overview.alerts"))),
        h("p", { class: "big", "data-testid": "overview-open" }, String(s.alerts.open)),
        h("p", { class: "muted", "data-testid": "overview-unacked", "data-n": s.alerts.unacknowledged },
          t("overview.alertsDetail", { active: s.alerts.active, unacked: s.alerts.unacknowledged })),
        h("p", {}, bySeverity),
        s.alerts.flooding ? h("p", { class: "badge flood" }, t("overview.flooding")) : null),
      h("section", {}, h("h3", {}, h("a", { href: "#/orders" }, t("overview.orders"))),
        h("p", { class: "big" }, String(s.workorders.live)),
        h("p", { class: s.workorders.breached ? "error" : "muted" }, t("overview.breached", { n: s.workorders.breached })),
        h("p", {}, byState))),
    kindsTable(s.devices_by_kind));
}

function latestText(latest) {
  return Object.entries(latest || {}).slice(0, 4).map(([k, v]) => `${k}=${v}`).join(" ");
}

const DEVICE_COLUMNS = ["device.id", "overview.kind", "device.building", "device.parent", "device.status",
  "device.lastSeen", "device.latest"];

function deviceTable(devices, ctx) {
  return h("table", { class: "devices" },
    h("thead", {}, h("tr", {}, DEVICE_COLUMNS.map((k) => h("th", {}, t(k))))),
    h("tbody", {}, devices.map((d) =>
      h("tr", { "data-device": d.id },
        h("td", {}, h("a", { href: `#/device/${encodeURIComponent(d.estate)}/${encodeURIComponent(d.id)}` }, d.id)),
        h("td", {}, tv("kind", d.kind)),
        h("td", {}, d.building || "—"),
        h("td", {}, d.parent || "—"),
        h("td", {}, h("span", { class: `badge status-${d.status}` }, tv("deviceStatus", d.status))),
        h("td", { class: "time" }, fmtTime(d.last_seen, ctx.tz(d.estate))),
        h("td", { class: "muted small" }, latestText(d.latest))))));
}

export function overviewView(main, ctx) {
  const cards = h("div", { class: "estate-cards" }, h("p", { class: "muted" }, t("common.loading")));
  const select = (label, values, group) =>
    h("select", { "aria-label": label },
      h("option", { value: "" }, label), values.map((v) => h("option", { value: v }, tv(group, v))));
  const kind = select(t("overview.allKinds"), KINDS, "kind");
  const status = select(t("overview.allStatuses"), STATUSES, "deviceStatus");
  const search = h("input", { type: "search", placeholder: t("overview.search") });
  const list = h("div", { class: "table-wrap" });
  main.append(h("div", { class: "toolbar" }, h("h1", {}, t("nav.overview"))), cards,
    h("div", { class: "toolbar" }, h("h2", {}, t("overview.devices")), kind, status, search), list);

  let devices = [];
  const drawDevices = () => {
    const q = search.value.trim().toLowerCase();
    const matches = (d) => !q || d.id.toLowerCase().includes(q) || (d.building || "").toLowerCase().includes(q);
    const shown = devices.filter(matches);
    list.replaceChildren(h("p", { class: "muted" }, t("overview.deviceCount", { n: shown.length })), deviceTable(shown, ctx));
  };
  const loadDevices = async () => {
    const chosen = { estate: ctx.estate(), kind: kind.value, status: status.value };
    const params = new URLSearchParams(Object.entries(chosen).filter(([, v]) => v));
    try {
      devices = await apiAll(`/api/devices?${params}`);
      drawDevices();
    } catch (err) {
      list.replaceChildren(h("p", { class: "error" }, err.message));
    }
  };
  let summaries = [];
  const drawCards = () => cards.replaceChildren(...summaries.map((s) => summaryCard(s, ctx)));
  const loadSummaries = async () => {
    const chosen = ctx.estates.filter((e) => !ctx.estate() || e.id === ctx.estate());
    try {
      summaries = await Promise.all(chosen.map((e) => api(`/api/estates/${encodeURIComponent(e.id)}/summary`)));
      drawCards();
    } catch (err) {
      cards.replaceChildren(h("p", { class: "error" }, err.message));
    }
  };
  kind.addEventListener("change", loadDevices);
  status.addEventListener("change", loadDevices);
  search.addEventListener("input", drawDevices);
  loadSummaries();
  loadDevices();
  let timer = null;
  return {
    update(what) {
      if (what === "alerts") drawCards(); // the alarm figures follow the live list at once
      timer = timer || setTimeout(() => ((timer = null), loadSummaries()), SUMMARY_EVERY_MS);
    },
    destroy: () => clearTimeout(timer),
  };
}

// -- one device ---------------------------------------------------------------------------------------

/** The periods a chart shows, each with its bucket: a few hundred points whatever the span. */
export const PERIODS = { "1h": [3600_000, "30s"], "24h": [86_400_000, "5m"], "7d": [7 * 86_400_000, "30m"],
  "30d": [30 * 86_400_000, "2h"] };
// A period is asked for in pieces, each well within the API's limits (10 000 points a request and
// the SQL store's scan limit).
const CHUNKS = 8;
const DEVICE_EVERY_MS = 10_000; // the device's values and "last seen" (and the chart's last point)

async function readings(estate, id, field, start, stop, every) {
  const span = (stop - start) / CHUNKS;
  const parts = await Promise.all(Array.from({ length: CHUNKS }, (_, i) => {
    const [from, to] = [new Date(start + i * span), new Date(start + (i + 1) * span)];
    const params = new URLSearchParams({
      field, start: from.toISOString(), stop: to.toISOString(), every, limit: "10000",
    });
    return api(`/api/devices/${encodeURIComponent(estate)}/${encodeURIComponent(id)}/readings?${params}`);
  }));
  return parts.flat()
    .filter((r) => typeof r.fields[field] === "number")
    .map((r) => ({ t: Date.parse(r.time), v: r.fields[field] }));
}

/** The rules' limits on a field, as lines for the chart (GET /api/thresholds). */
async function limitsOf(estate, kind, device) {
  try {
    return await api(`/api/thresholds?${new URLSearchParams({ estate, kind, device })}`);
  } catch {
    return []; // an older gateway: the chart without its lines
  }
}

async function drawChart(box, { estate, id, kind, field, tz, period }, quiet = false) {
  if (!quiet) box.replaceChildren(h("p", { class: "muted" }, t("common.loading")));
  const [span, every] = PERIODS[period];
  const stop = Date.now();
  const start = stop - span;
  try {
    const [points, limits] = await Promise.all([readings(estate, id, field, start, stop, every), limitsOf(estate, kind, id)]);
    const unit = fieldUnit(field);
    const lines = limits.filter((l) => l.field === field)
      .map((l) => ({ value: l.value, label: `${l.op} ${l.value}${unit ? ` ${unit}` : ""}`, severity: l.severity }));
    box.dataset.period = period; // what is drawn now (a test waits for it)
    box.dataset.field = field;
    if (!points.length) box.replaceChildren(h("p", { class: "muted" }, t("device.noReadings")));
    else {
      box.replaceChildren(
        lineChart(points, { start, stop, tz, title: `${id} ${fieldLabel(field)}`, unit, thresholds: lines }),
        h("p", { class: "muted", "data-testid": "chart-points" }, t("device.points", { n: points.length }),
          lines.length ? ` · ${t("device.thresholds", { n: lines.length })}` : ""));
    }
  } catch (err) {
    const text = err instanceof ApiError && err.status === 501 ? t("device.influx") : err.message;
    box.replaceChildren(h("p", { class: "notice" }, text));
  }
}

function deviceFacts(device, ctx, tz) {
  const fields = [["device.estate", ctx.estateName(device.estate)], ["overview.kind", tv("kind", device.kind)],
    ["device.building", device.building || "—"], ["device.parent", device.parent || "—"],
    ["device.status", h("span", { class: `badge status-${device.status}`, "data-testid": "device-status" },
      tv("deviceStatus", device.status))],
    ["device.lastSeen", h("span", { "data-testid": "last-seen" }, fmtTime(device.last_seen, tz))]];
  return h("dl", { class: "details" }, fields.map(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v)]));
}

function latestTable(device) {
  return h("table", { class: "compact", "data-testid": "latest" }, h("tbody", {}, Object.entries(device.latest).map(([k, v]) => {
    const unit = typeof v === "number" ? fieldUnit(k) : "";
    return h("tr", { "data-field": k }, h("th", {}, fieldLabel(k)), h("td", {}, `${v}${unit ? ` ${unit}` : ""}`));
  })));
}

export function deviceView(main, ctx, estate, id) {
  const body = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  main.append(h("p", {}, h("a", { href: "#/overview" }, `← ${t("nav.overview")}`)), body);
  const path = `/api/devices/${encodeURIComponent(estate)}/${encodeURIComponent(id)}`;
  const tz = ctx.tz(estate);
  const facts = h("div");
  const latest = h("div");
  const raw = h("pre");
  const chartBox = h("div", { class: "chart-box", "data-testid": "chart" });
  const picker = h("select", { "aria-label": t("device.field"), "data-testid": "chart-field" });
  const period = h("div", { class: "periods", role: "group", "aria-label": t("device.period") });
  let chosen = { period: "24h", field: null, kind: null };
  const chart = (quiet = false) => chosen.field && drawChart(chartBox, { estate, id, tz, ...chosen }, quiet);
  for (const p of Object.keys(PERIODS)) {
    period.append(h("button", { type: "button", "data-period": p, "data-testid": `period-${p}`,
      "aria-pressed": String(p === chosen.period),
      onclick: () => {
        chosen.period = p;
        for (const b of period.children) b.setAttribute("aria-pressed", String(b.dataset.period === p));
        chart();
      } }, t(`period.${p}`)));
  }
  picker.addEventListener("change", () => {
    chosen.field = picker.value;
    chart();
  });
  let drawn = false;
  let lastSeen = null;
  const show = (device) => {
    facts.replaceChildren(deviceFacts(device, ctx, tz));
    latest.replaceChildren(latestTable(device));
    raw.textContent = JSON.stringify(device, null, 2);
    if (drawn) {
      // New readings since the chart was drawn: it follows (the live part of the period).
      // (A long period gains nothing visible from a few seconds more: its chart is left alone.)
      if (device.last_seen !== lastSeen && ["1h", "24h"].includes(chosen.period)) chart(true);
      lastSeen = device.last_seen;
      return;
    }
    drawn = true;
    lastSeen = device.last_seen;
    const numeric = Object.keys(device.latest).filter((k) => typeof device.latest[k] === "number");
    chosen = { ...chosen, kind: device.kind, field: numeric[0] || null };
    picker.replaceChildren(...numeric.map((f) => h("option", { value: f }, fieldLabel(f))));
    body.replaceChildren(
      h("h1", {}, `${device.id}`, h("small", { class: "muted" }, ` ${tv("kind", device.kind)}`)),
      facts,
      h("h2", {}, t("device.latest")),
      latest,
      h("h2", {}, t("device.chart"), " ", numeric.length ? picker : null, " ", numeric.length ? period : null),
      numeric.length ? chartBox : h("p", { class: "muted" }, t("device.noNumeric")),
      h("details", {}, h("summary", {}, t("device.json")), raw),
    );
    chart();
  };
  const load = async () => {
    try {
      show(await api(path));
    } catch (err) {
      if (!drawn) body.replaceChildren(h("p", { class: "error" }, err.message));
    }
  };
  load();
  // Live: the device is read again every few seconds (its values, status and "last seen"), and at
  // once when one of its alarms changes.
  const timer = setInterval(load, DEVICE_EVERY_MS);
  return {
    update: (what, data) => what === "alerts" && data && data.device === id && data.estate === estate && load(),
    destroy: () => clearInterval(timer),
  };
}
