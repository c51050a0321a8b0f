// Views an operator looks at rather than reads, and screens for what only the API had:
// #/plan: each estate's buildings as tiles coloured by their devices' status and open alarms;
// #/wall: the control room's big screen (大屏), dark, large figures, rotating estates;
// #/windows: maintenance windows; #/report: a manual repair report (报修); #/deadletters: rejected
// messages with their reasons.
import { api, apiAll, fmtTime, h, notify } from "./common.js";
import { awaitingAck, message } from "./alarms.js";
import { field, openDialog } from "./dialog.js";
import { t, tv } from "./i18n.js";
import { orderTitle } from "./workorder.js";

const SEVERITIES = ["critical", "major", "minor", "info"];
const RANK = { critical: 0, major: 1, minor: 2, info: 3 };
const TRADES = ["lift", "water", "electrical", "low_voltage", "security"];
const worst = (alerts) => alerts.map((a) => a.severity).sort((a, b) => RANK[a] - RANK[b])[0] || null;
const scoped = (ctx) => ctx.estates.filter((e) => !ctx.estate() || e.id === ctx.estate());

// -- site plan ----------------------------------------------------------------------------------------

function buildingTile(estate, building, devices, alerts) {
  const sev = worst(alerts);
  const offline = devices.filter((d) => d.status !== "online");
  const state = sev ? `sev-${sev}` : offline.length ? "offline" : "ok";
  return h("section", { class: `tile ${state}`, "data-testid": "building-tile", "data-building": building, "data-state": state },
    h("h3", {}, building),
    h("p", { class: "tile-figures" },
      t("plan.devices", { n: devices.length, offline: offline.length }),
      alerts.length ? h("strong", {}, ` · ${t("plan.alarms", { n: alerts.length })}`) : null),
    h("div", { class: "chips" }, devices.map((d) => {
      const mine = alerts.filter((a) => a.device === d.id);
      const chip = worst(mine) ? `sev-${worst(mine)}` : `status-${d.status}`;
      return h("a", { class: `chip ${chip}`, href: `#/device/${encodeURIComponent(estate)}/${encodeURIComponent(d.id)}`,
        "data-testid": "device-chip", "data-device": d.id, title: `${tv("kind", d.kind)} · ${tv("deviceStatus", d.status)}` }, d.id);
    })));
}

export function planView(main, ctx) {
  const body = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  const legend = h("div", { class: "legend" }, SEVERITIES.map((s) => h("span", { class: `badge sev sev-${s}` }, tv("severity", s))),
    h("span", { class: "badge status-offline" }, tv("deviceStatus", "offline")), h("span", { class: "badge status-online" }, t("plan.ok")));
  main.append(h("div", { class: "toolbar" }, h("h1", {}, t("nav.plan")), legend), body);
  let devices = [];
  const draw = () => {
    const open = [...ctx.live.alerts.values()].filter((a) => a.state !== "closed");
    body.replaceChildren(...scoped(ctx).map((e) => {
      const mine = devices.filter((d) => d.estate === e.id);
      const buildings = [...new Set([...(e.buildings || []), ...mine.map((d) => d.building).filter(Boolean)])];
      const estateWide = open.filter((a) => a.estate === e.id && !a.building);
      return h("article", { class: "plan-estate" },
        h("h2", {}, ctx.estateName(e.id), estateWide.length ? h("small", { class: "error" }, ` ${t("plan.estateAlarms", { n: estateWide.length })}`) : null),
        h("div", { class: "tiles" }, buildings.map((b) => buildingTile(e.id, b, mine.filter((d) => d.building === b),
          open.filter((a) => a.estate === e.id && a.building === b)))));
    }));
  };
  (async () => {
    try {
      devices = await apiAll(`/api/devices${ctx.estate() ? `?estate=${encodeURIComponent(ctx.estate())}` : ""}`);
      draw();
    } catch (err) {
      body.replaceChildren(h("p", { class: "error" }, err.message));
    }
  })();
  return { update: (what) => what === "alerts" && devices.length && draw() };
}

// -- wall screen --------------------------------------------------------------------------------------

const ROTATE_MS = 15_000;

// The wall's KPIs of one estate (docs/contract.md §8.1): lamp 完好率 and camera online rate now
// (GET /api/estates/{id}/summary), lift availability of the last day rolled up (GET /api/kpis/daily).
const WALL_KPI_TARGETS = { lamp: 95, camera: 95, lift: 100 };
const WALL_KPI_MAX_AGE_MS = 60_000;

async function wallKpis(estate) {
  const id = encodeURIComponent(estate);
  const [summary, daily] = await Promise.allSettled([
    api(`/api/estates/${id}/summary`), api(`/api/kpis/daily?estate=${id}`)]);
  const pct = (rate) => (rate == null ? null : Math.round(rate * 1000) / 10);
  const s = summary.status === "fulfilled" ? summary.value : null;
  const days = daily.status === "fulfilled" ? daily.value.days.filter((d) => d.lift_availability_pct != null) : [];
  const last = days.length ? days[days.length - 1] : null;
  return {
    lamp: s ? pct(s.lamps.intact_rate) : null,
    camera: s ? pct(s.cameras.online_rate) : null,
    lift: last ? last.lift_availability_pct : null,
    liftDay: last ? last.day : null,
    at: Date.now(),
  };
}

export function wallView(main, ctx) {
  document.body.classList.add("wall");
  const screen = h("div", { class: "wall-screen", "data-testid": "wall" });
  main.append(screen);
  let index = 0;
  const kpis = new Map(); // estate id → its figures (refreshed when older than a minute)
  const loading = new Set();
  const fetchKpis = (id) => {
    const known = kpis.get(id);
    if (loading.has(id) || (known && Date.now() - known.at < WALL_KPI_MAX_AGE_MS)) return;
    loading.add(id);
    wallKpis(id).then((figures) => {
      kpis.set(id, figures);
      loading.delete(id);
      draw();
    });
  };
  const draw = () => {
    const estates = scoped(ctx);
    const estate = estates.length ? estates[index % estates.length] : null;
    if (estate) fetchKpis(estate.id);
    const k = (estate && kpis.get(estate.id)) || {};
    const kpi = (key, value, note = null) => {
      const low = value != null && value < WALL_KPI_TARGETS[key];
      return h("div", { class: `wall-figure kpi ${low ? "alert" : ""}`, "data-testid": `wall-kpi-${key}` },
        h("div", { class: "wall-number" }, value == null ? "—" : `${value}%`),
        h("div", { class: "wall-label" }, t(`wall.kpi.${key}`)),
        h("div", { class: "wall-note" }, t("wall.kpi.target", { n: WALL_KPI_TARGETS[key] }), note ? ` · ${note}` : ""));
    };
    const open = [...ctx.live.alerts.values()].filter((a) => a.state !== "closed" && (!estate || a.estate === estate.id));
    const orders = [...ctx.live.orders.values()].filter((o) => !["closed", "cancelled"].includes(o.state) && (!estate || o.estate === estate.id));
    const big = (key, n, cls = "") => h("div", { class: `wall-figure ${cls}`, "data-testid": `wall-${key}` },
      h("div", { class: "wall-number" }, String(n)), h("div", { class: "wall-label" }, t(`wall.${key}`)));
    const top = [...open].sort((a, b) => RANK[a.severity] - RANK[b.severity] || b.id - a.id).slice(0, 8);
    screen.replaceChildren(
      h("header", { class: "wall-head" }, h("h1", {}, estate ? ctx.estateName(estate.id) : t("header.allEstates")),
        h("span", { class: "wall-clock", "data-tz": estate ? ctx.tz(estate.id) : "" }, fmtTime(new Date().toISOString(), estate ? ctx.tz(estate.id) : undefined)),
        h("a", { href: "#/alarms", class: "wall-exit" }, t("wall.exit"))),
      h("div", { class: "wall-figures" },
        big("open", open.length),
        big("unacked", open.filter(awaitingAck).length, open.some(awaitingAck) ? "alert" : ""),
        big("critical", open.filter((a) => a.severity === "critical").length, open.some((a) => a.severity === "critical") ? "alert" : ""),
        big("orders", orders.length),
        big("overdue", orders.filter((o) => (o.breached || []).length).length)),
      h("div", { class: "wall-figures wall-kpis", "data-testid": "wall-kpis" },
        kpi("lamp", k.lamp), kpi("camera", k.camera),
        kpi("lift", k.lift, k.liftDay ? t("wall.kpi.day", { day: k.liftDay }) : null)),
      h("ul", { class: "wall-alarms" }, top.length ? top.map((a) => h("li", { class: `sev-${a.severity}` },
        h("span", { class: `badge sev sev-${a.severity}` }, tv("severity", a.severity)), " ", message(a)))
        : h("li", { class: "muted" }, t("alarms.empty"))),
    );
  };
  draw();
  const rotate = setInterval(() => {
    index += 1;
    draw();
  }, ROTATE_MS);
  const tick = setInterval(() => {
    const clock = screen.querySelector(".wall-clock");
    if (clock) clock.textContent = fmtTime(new Date().toISOString(), clock.dataset.tz || undefined);
  }, 1000);
  return {
    update: () => draw(),
    destroy: () => {
      clearInterval(rotate);
      clearInterval(tick);
      document.body.classList.remove("wall");
    },
  };
}

// -- maintenance windows ------------------------------------------------------------------------------

function windowDialog(ctx, done) {
  const estate = h("select", { "data-testid": "window-estate" }, scoped(ctx).map((e) => h("option", { value: e.id }, ctx.estateName(e.id))));
  const building = h("input", { "data-testid": "window-building", maxlength: 64 });
  const device = h("input", { "data-testid": "window-device", maxlength: 64 });
  const start = h("input", { type: "datetime-local", "data-testid": "window-start", required: true });
  const end = h("input", { type: "datetime-local", "data-testid": "window-end", required: true });
  const reason = h("textarea", { rows: 2, maxlength: 2000, "data-testid": "reason", required: true });
  openDialog({
    title: t("windows.new"),
    fields: [field(t("header.estate"), estate), field(t("windows.building"), building), field(t("windows.device"), device),
      field(t("windows.start"), start), field(t("windows.end"), end), field(t("windows.reason"), reason)],
    confirmLabel: t("windows.add"),
    onConfirm: async () => {
      if (!start.value || !end.value) throw new Error(t("windows.timesRequired"));
      if (!reason.value.trim()) throw new Error(t("shelve.reasonRequired"));
      const body = {
        estate: estate.value, building: building.value.trim() || null, device: device.value.trim() || null,
        start: new Date(start.value).toISOString(), end: new Date(end.value).toISOString(), reason: reason.value.trim(),
      };
      done(await api("/api/maintenance-windows", { method: "POST", body }));
    },
  });
}

export function windowsView(main, ctx) {
  const tbody = h("tbody");
  const add = ctx.can("alerts:act")
    ? h("button", { type: "button", class: "primary", "data-testid": "window-new", onclick: () => windowDialog(ctx, load) }, t("windows.new"))
    : null;
  main.append(h("div", { class: "toolbar" }, h("h1", {}, t("nav.windows")), add),
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {},
      ["header.estate", "windows.scope", "windows.start", "windows.end", "windows.reason", "windows.by"].map((k) => h("th", {}, t(k))))), tbody)));
  async function load() {
    try {
      const list = await api(`/api/maintenance-windows${ctx.estate() ? `?estate=${encodeURIComponent(ctx.estate())}` : ""}`);
      const now = Date.now();
      tbody.replaceChildren(...list.map((w) => h("tr", { "data-testid": "window-row", "data-id": w.id, class: Date.parse(w.start) <= now ? "current" : "" },
        h("td", {}, ctx.estateName(w.estate)),
        h("td", {}, w.device || w.building || t("windows.wholeEstate")),
        h("td", { class: "time" }, fmtTime(w.start, ctx.tz(w.estate))),
        h("td", { class: "time" }, fmtTime(w.end, ctx.tz(w.estate))),
        h("td", { class: "message" }, w.reason),
        h("td", {}, w.created_by))));
      if (!list.length) tbody.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, t("windows.none"))));
    } catch (err) {
      tbody.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "error" }, err.message)));
    }
  }
  load();
}

// -- manual repair report (报修) -----------------------------------------------------------------------

export function reportView(main, ctx) {
  const estate = h("select", { "data-testid": "report-estate" }, scoped(ctx).map((e) => h("option", { value: e.id }, ctx.estateName(e.id))));
  const title = h("input", { "data-testid": "report-title", maxlength: 200, required: true, placeholder: t("report.titleHint") });
  const description = h("textarea", { "data-testid": "report-description", rows: 3, maxlength: 4000 });
  const trade = h("select", { "data-testid": "report-trade" }, TRADES.map((x) => h("option", { value: x }, tv("trade", x))));
  const severity = h("select", { "data-testid": "report-severity", value: "minor" }, SEVERITIES.map((s) => h("option", { value: s }, tv("severity", s))));
  const device = h("input", { "data-testid": "report-device", maxlength: 64 });
  const error = h("p", { class: "error", role: "alert", "data-testid": "report-error" });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "report-submit" }, t("report.submit"));
  const form = h("form", { class: "card report-form", novalidate: true },
    field(t("header.estate"), estate), field(t("report.title"), title), field(t("report.description"), description),
    field(t("report.trade"), trade), field(t("alarms.severity"), severity), field(t("report.device"), device), error, submit);
  const recent = h("div", { class: "cards" });
  main.append(h("div", { class: "toolbar" }, h("h1", {}, t("nav.report"))),
    ctx.can("orders:manage") ? form : h("p", { class: "notice" }, t("report.notAllowed")), h("h2", {}, t("report.recent")), recent);
  const drawRecent = () => {
    const mine = [...ctx.live.orders.values()].filter((o) => o.source === "report").sort((a, b) => b.id - a.id).slice(0, 20);
    recent.replaceChildren(...mine.map((o) => h("p", { "data-testid": "report-row" },
      h("a", { href: `#/order/${o.id}` }, `#${o.id}`), ` ${orderTitle(o)} · ${tv("orderState", o.state)}`)));
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    if (!title.value.trim()) {
      error.textContent = t("report.titleRequired");
      return;
    }
    const body = {
      estate: estate.value, title: title.value.trim(), description: description.value.trim(),
      severity: severity.value, ...(device.value.trim() ? { device: device.value.trim() } : { trade: trade.value }),
    };
    try {
      const order = await api("/api/workorders", { method: "POST", body });
      ctx.upsertOrder(order);
      notify(t("report.created", { id: order.id }), "info", `#/order/${order.id}`);
      title.value = description.value = device.value = "";
    } catch (err) {
      error.textContent = err.message;
    }
  });
  drawRecent();
  return { update: (what) => what === "orders" && drawRecent() };
}

// -- dead letters -------------------------------------------------------------------------------------

export function deadLettersView(main, ctx) {
  const counts = h("div", { class: "legend", "data-testid": "deadletter-counts" });
  const tbody = h("tbody");
  main.append(h("div", { class: "toolbar" }, h("h1", {}, t("nav.deadletters")), counts),
    h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {},
      ["deadletters.at", "deadletters.topic", "deadletters.reason", "deadletters.detail", "deadletters.excerpt"].map((k) => h("th", {}, t(k))))), tbody)));
  (async () => {
    try {
      const page = await api("/api/deadletters?limit=200");
      counts.replaceChildren(...Object.entries(page.counts).map(([r, n]) => h("span", { class: "badge" }, `${tv("deadReason", r)} ${n}`)));
      tbody.replaceChildren(...page.items.map((d) => h("tr", { "data-testid": "deadletter-row" },
        h("td", { class: "time" }, fmtTime(d.received_at || d.at, ctx.tz((ctx.estates[0] || {}).id))),
        h("td", { class: "nowrap" }, d.topic),
        h("td", {}, tv("deadReason", d.reason)),
        h("td", { class: "message" }, d.detail || ""),
        h("td", { class: "message" }, h("code", {}, d.excerpt || "")))));
      if (!page.items.length) tbody.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, t("deadletters.none"))));
    } catch (err) {
      tbody.replaceChildren(h("tr", {}, h("td", { colspan: 5, class: "error" }, err.message)));
    }
  })();
}
