// #/overview: each estate at a glance (GET /api/estates/{id}/summary) and its devices with filters;
// #/device/{estate}/{id}: one device and a 24-hour chart of a numeric field.
import { ApiError, api, apiAll, fmtTime, h } from "./common.js";
import { lineChart } from "./chart.js";
import { t, tv } from "./i18n.js";

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

function summaryCard(s) {
  const bySeverity = Object.entries(s.alerts.by_severity || {})
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
        h("p", { class: "big" }, String(s.alerts.open)),
        h("p", { class: "muted" },
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
  const loadSummaries = async () => {
    const chosen = ctx.estates.filter((e) => !ctx.estate() || e.id === ctx.estate());
    try {
      const summaries = await Promise.all(chosen.map((e) => api(`/api/estates/${encodeURIComponent(e.id)}/summary`)));
      cards.replaceChildren(...summaries.map(summaryCard));
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
    update() {
      timer = timer || setTimeout(() => ((timer = null), loadSummaries()), SUMMARY_EVERY_MS);
    },
    destroy: () => clearTimeout(timer),
  };
}

// -- one device ---------------------------------------------------------------------------------------

// The 24 h are asked for in 3-hour pieces, each within the API's limit of 10 000 stored points, as
// one-minute means: 1 440 points, about two per pixel column of the chart.
const CHUNKS = 8;
const EVERY = "1m";

async function readings(estate, id, field, start, stop) {
  const span = (stop - start) / CHUNKS;
  const parts = await Promise.all(Array.from({ length: CHUNKS }, (_, i) => {
    const [from, to] = [new Date(start + i * span), new Date(start + (i + 1) * span)];
    const params = new URLSearchParams({
      field, start: from.toISOString(), stop: to.toISOString(), every: EVERY, limit: "10000",
    });
    return api(`/api/devices/${encodeURIComponent(estate)}/${encodeURIComponent(id)}/readings?${params}`);
  }));
  return parts.flat()
    .filter((r) => typeof r.fields[field] === "number")
    .map((r) => ({ t: Date.parse(r.time), v: r.fields[field] }));
}

async function drawChart(box, estate, id, field, tz) {
  box.replaceChildren(h("p", { class: "muted" }, t("common.loading")));
  const stop = Date.now();
  const start = stop - 24 * 3600_000;
  try {
    const points = await readings(estate, id, field, start, stop);
    if (!points.length) box.replaceChildren(h("p", { class: "muted" }, t("device.noReadings")));
    else box.replaceChildren(lineChart(points, { start, stop, tz, title: `${id} ${field}` }),
      h("p", { class: "muted" }, t("device.points", { n: points.length })));
  } catch (err) {
    const text = err instanceof ApiError && err.status === 501 ? t("device.influx") : err.message;
    box.replaceChildren(h("p", { class: "notice" }, text));
  }
}

export function deviceView(main, ctx, estate, id) {
  const body = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  main.append(h("p", {}, h("a", { href: "#/overview" }, `← ${t("nav.overview")}`)), body);
  (async () => {
    let device;
    try {
      device = await api(`/api/devices/${encodeURIComponent(estate)}/${encodeURIComponent(id)}`);
    } catch (err) {
      body.replaceChildren(h("p", { class: "error" }, err.message));
      return;
    }
    const tz = ctx.tz(estate);
    const numeric = Object.keys(device.latest).filter((k) => typeof device.latest[k] === "number");
    const fields = [["device.estate", ctx.estateName(device.estate)], ["overview.kind", tv("kind", device.kind)],
      ["device.building", device.building || "—"], ["device.parent", device.parent || "—"],
      ["device.status", h("span", { class: `badge status-${device.status}` }, tv("deviceStatus", device.status))],
      ["device.lastSeen", fmtTime(device.last_seen, tz)]];
    const chartBox = h("div", { class: "chart-box" });
    const picker = h("select", { "aria-label": t("device.field") }, numeric.map((f) => h("option", { value: f }, f)));
    picker.addEventListener("change", () => drawChart(chartBox, estate, id, picker.value, tz));
    body.replaceChildren(
      h("h1", {}, `${device.id}`, h("small", { class: "muted" }, ` ${tv("kind", device.kind)}`)),
      h("dl", { class: "details" }, fields.map(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v)])),
      h("h2", {}, t("device.latest")),
      h("table", { class: "compact" }, h("tbody", {}, Object.entries(device.latest).map(([k, v]) =>
        h("tr", {}, h("th", {}, k), h("td", {}, String(v)))))),
      h("h2", {}, t("device.chart"), " ", numeric.length ? picker : null),
      numeric.length ? chartBox : h("p", { class: "muted" }, t("device.noNumeric")),
      h("details", {}, h("summary", {}, t("device.json")), h("pre", {}, JSON.stringify(device, null, 2))),
    );
    if (numeric.length) drawChart(chartBox, estate, id, numeric[0], tz);
  })();
}
