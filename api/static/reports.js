// #/patrols: a day's guard-tour rounds as a board coloured by status; #/kpis: alarm load, patrol
// compliance and 维修及时率 as cards and bars.
import { DEFAULT_TZ, api, fmtClock, fmtTime, getToken, h, localDate, notify } from "./common.js";
import { lineChart } from "./chart.js";
import { getLang, t, tv } from "./i18n.js";

const ROUND_STATUSES = ["scheduled", "in_progress", "completed", "late", "short_handed", "incomplete", "missed"];
const PATROL_REFRESH_MS = 30_000; // round statuses move with the clock, not only with events

function estateTz(ctx) {
  const estate = ctx.estate() || (ctx.estates[0] || {}).id;
  return estate ? ctx.tz(estate) : DEFAULT_TZ;
}

/** One dot per checkpoint: scanned on time, late, missed (past due), or still to come. */
function checkpointDots(round, tz) {
  const now = Date.now();
  return h("div", { class: "dots" }, round.checkpoints.map((cp) => {
    let state = "pending";
    if (cp.scanned_at) state = cp.on_time ? "ok" : "late";
    else if (Date.parse(cp.due) + round.grace_min * 60_000 < now) state = "missed";
    const when = cp.scanned_at ? fmtClock(cp.scanned_at, tz) : t("patrols.due", { time: fmtClock(cp.due, tz) });
    const title = [cp.checkpoint, when, cp.guards.join(", ")].filter(Boolean).join(" · ");
    return h("span", { class: `dot ${state}`, title });
  }));
}

/** What a round is now, as a guard's supervisor would say it: the gateway's status is "scheduled"
 *  until the round is judged, which reads as 未开始 for a round under way — and one whose first
 *  checkpoints were missed is under way and behind. */
export function roundNow(round, now = Date.now()) {
  if (round.status !== "scheduled" || Date.parse(round.start) > now) return { status: round.status, missed: 0 };
  const missed = round.checkpoints.filter((cp) => !cp.scanned_at && Date.parse(cp.due) + round.grace_min * 60_000 < now).length;
  return { status: "in_progress", missed };
}

/** A plan's name: the inventory's (`name`, `name_en`: GET /api/patrols/plans), else the known ids in
 *  words, else its id; with its route. */
function planLabel(plan, rounds, named) {
  const route = rounds[0] ? rounds[0].checkpoints.map((cp) => cp.checkpoint).join(" → ") : "";
  const own = named && (getLang() === "en" ? named.name_en : named.name);
  const known = tv("patrolPlan", plan);
  const name = own || (known === plan ? t("patrols.plan", { id: plan }) : known);
  return [name, route ? h("small", { class: "muted" }, ` ${t("patrols.route", { route })}`) : null];
}

function roundTile(round, tz) {
  const scanned = round.checkpoints.filter((cp) => cp.scanned_at).length;
  const now = roundNow(round);
  const guards = [...new Set(round.scans.flatMap((s) => s.guards))];
  const guardText = t("patrols.guards", { names: guards.join(", "), min: round.min_guards });
  const findings = round.findings.map((f) => tv("patrolRule", f)).join("; ");
  return h("div", {
      class: `round status-${now.status}${now.missed ? " behind" : ""}${round.watched ? "" : " unwatched"}`,
      "data-round": round.id, "data-status": now.status, "data-testid": "round",
    },
    h("div", { class: "round-head" },
      h("strong", {}, `${tv("patrolWindow", round.window)} #${round.index + 1}`),
      h("span", { class: `badge status-${now.status}`, "data-testid": "round-status" }, tv("roundStatus", now.status),
        now.missed ? ` · ${t("patrols.missedSoFar", { n: now.missed })}` : "")),
    h("div", { class: "muted" }, `${fmtClock(round.start, tz)}–${fmtClock(round.end, tz)}`),
    h("div", {}, t("patrols.scanned", { n: scanned, total: round.checkpoints.length })),
    checkpointDots(round, tz),
    guards.length ? h("div", { class: "small" }, guardText) : null,
    findings ? h("div", { class: "small error" }, findings) : null,
    round.watched ? null : h("div", { class: "small muted" }, t("patrols.unwatched")));
}

/** The gateway's printable patrol record of the day (GET /api/patrols/report), fetched with the
 *  token (a plain link could not send it) and opened in a window of its own to print. */
async function printRecord(estate, day) {
  const params = new URLSearchParams({ estate, date: day });
  const res = await fetch(`/api/patrols/report?${params}`, { headers: { Authorization: `Bearer ${getToken()}` } });
  if (!res.ok) return notify(t("error.status.other", { status: res.status }), "error");
  const url = URL.createObjectURL(new Blob([await res.text()], { type: "text/html;charset=utf-8" }));
  const win = window.open(url, "_blank");
  if (win) win.addEventListener("load", () => win.print());
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

function estateBoard(record, ctx, names) {
  const tz = ctx.tz(record.estate);
  const plans = new Map();
  const byStart = [...record.rounds].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
  for (const round of byStart) plans.set(round.plan, [...(plans.get(round.plan) || []), round]);
  const compliance = record.compliance_pct == null ? "—" : `${record.compliance_pct}%`;
  return h("section", { class: "patrol-estate" },
    h("h2", {}, ctx.estateName(record.estate), " ",
      h("small", { class: "muted" }, t("patrols.compliance", { pct: compliance })), " ",
      h("button", { type: "button", class: "no-print", "data-testid": "patrol-print",
        onclick: () => printRecord(record.estate, record.date) }, t("patrols.print"))),
    record.rounds.length ? null : h("p", { class: "muted" }, t("patrols.none")),
    [...plans].map(([plan, rounds]) =>
      h("div", { class: "plan" }, h("h3", { "data-testid": "plan-name" }, planLabel(plan, rounds, names.get(`${record.estate}/${plan}`))),
        h("div", { class: "rounds" }, rounds.map((r) => roundTile(r, tz))))));
}

// The plans' display names change with the inventory only: fetched once per page load.
let plansLoaded = null;
function planNames() {
  plansLoaded = plansLoaded || api("/api/patrols/plans").then(
    (list) => new Map(list.map((p) => [`${p.estate}/${p.id}`, p])),
    () => { plansLoaded = null; return new Map(); }); // an older gateway: ids and known words
  return plansLoaded;
}

export function patrolsView(main, ctx) {
  const day = h("input", { type: "date", value: localDate(new Date(), estateTz(ctx)), "aria-label": t("patrols.date") });
  const body = h("div", {}, h("p", { class: "muted" }, t("common.loading")));
  const legend = h("div", { class: "legend" },
    ROUND_STATUSES.map((s) => h("span", { class: `badge status-${s}` }, tv("roundStatus", s))));
  main.append(h("div", { class: "toolbar" }, h("h1", {}, t("nav.patrols")), day, legend), body);
  const load = async () => {
    const params = new URLSearchParams({ date: day.value });
    if (ctx.estate()) params.set("estate", ctx.estate());
    try {
      const [records, plans] = await Promise.all([api(`/api/patrols?${params}`), planNames()]);
      body.replaceChildren(...records.map((r) => estateBoard(r, ctx, plans)));
      if (!records.length) body.append(h("p", { class: "muted" }, t("patrols.none")));
    } catch (err) {
      body.replaceChildren(h("p", { class: "error" }, err.message));
    }
  };
  day.addEventListener("change", load);
  load();
  const timer = setInterval(load, PATROL_REFRESH_MS);
  return { destroy: () => clearInterval(timer) };
}

// -- KPIs ---------------------------------------------------------------------------------------------

const PERIODS = { "1": "kpis.day", "7": "kpis.week", "30": "kpis.month" };
const SEVERITIES = ["critical", "major", "minor", "info"];
const STEPS = ["accept", "arrive", "resolve"];

const stat = (label, value, note = null) =>
  h("div", { class: "stat" },
    h("div", { class: "big" }, value), h("div", { class: "muted" }, label), note ? h("div", { class: "small" }, note) : null);

/** A horizontal bar per entry: [label, value 0..100 or null]. */
function bars(entries, target = null) {
  return h("div", { class: "bars" }, entries.map(([label, value]) =>
    h("div", { class: "bar-row" }, h("span", { class: "bar-label" }, label),
      h("div", { class: `meter${target != null && value != null && value < target ? " low" : ""}` },
        h("div", { class: "fill", style: `width:${value || 0}%` }),
        target != null ? h("div", { class: "target", style: `left:${target}%` }) : null),
      h("span", { class: "bar-value" }, value == null ? "—" : `${value}%`))));
}

function alarmCard(a) {
  const mix = SEVERITIES.filter((s) => a.priority_mix_pct[s]);
  const share = (s) => `${tv("severity", s)} ${a.priority_mix_pct[s]}%`;
  return h("article", { class: "card" }, h("h2", {}, t("kpis.alarms")),
    h("div", { class: "stats" },
      stat(t("kpis.count"), String(a.alarms)),
      stat(t("kpis.per10"), String(a.per_10_min), t("kpis.per10Target")),
      stat(t("kpis.peak"), String(a.peak_10_min)),
      stat(t("kpis.flood"), `${a.flood_time_pct}%`),
      stat(t("kpis.chattering"), String(a.chattering)),
      stat(t("kpis.stale"), String(a.stale))),
    h("h3", {}, t("kpis.mix")),
    h("div", { class: "stacked" }, mix.map((s) =>
      h("div", { class: `sev-bg-${s}`, style: `width:${a.priority_mix_pct[s]}%`, title: share(s) }))),
    h("p", { class: "legend" }, mix.map((s) => h("span", { class: `badge sev sev-${s}` }, share(s)))));
}

function patrolCard(patrols, ctx) {
  return h("article", { class: "card" }, h("h2", {}, t("kpis.patrols")),
    Object.entries(patrols).map(([estate, days]) => [
      h("h3", {}, ctx.estateName(estate)),
      bars(Object.entries(days).map(([day, pctDone]) => [day, pctDone])),
    ]),
    Object.keys(patrols).length ? null : h("p", { class: "muted" }, t("patrols.none")));
}

function repairCard(r) {
  const rate = r.timeliness == null ? null : Math.round(r.timeliness * 1000) / 10;
  const minutes = (v) => (v == null ? "—" : t("kpis.minutes", { n: v }));
  const perStep = (label, value) => h("tr", {}, h("th", {}, label), STEPS.map((s) => h("td", { class: "num" }, value(s))));
  const byState = Object.entries(r.by_state)
    .map(([s, n]) => h("span", { class: `badge state state-${s}` }, `${tv("orderState", s)} ${n}`));
  return h("article", { class: "card" }, h("h2", {}, t("kpis.repairs")),
    bars([[t("kpis.timeliness"), rate]], r.target * 100),
    h("p", { class: "muted" }, t("kpis.target", { pct: `${r.target * 100}%` })),
    h("div", { class: "stats" },
      stat(t("kpis.orders"), String(r.orders)),
      stat(t("kpis.decided"), String(r.decided)),
      stat(t("kpis.onTime"), String(r.on_time)),
      stat(t("kpis.late"), String(r.late)),
      stat(t("kpis.pending"), String(r.pending)),
      stat(t("kpis.cancelled"), String(r.cancelled))),
    h("table", { class: "compact" },
      h("thead", {}, h("tr", {}, h("th", {}), STEPS.map((s) => h("th", {}, tv("step", s))))),
      h("tbody", {},
        perStep(t("kpis.meanMinutes"), (s) => minutes(r.mean_minutes[s])),
        perStep(t("kpis.breaches"), (s) => String(r.breaches[s] || 0)))),
    h("p", {}, byState));
}

// -- KPI trends (GET /api/kpis/daily): a line per figure and estate over 30 or 90 days, with its target

const TRENDS = ["lamp_intact_pct", "camera_online_pct", "lift_availability_pct", "repair_timely_pct",
  "patrol_compliance_pct", "alarms_per_10min"];
const DAY_MS = 86_400_000;

function trendCard(figure, days, targets, start, stop, tz) {
  const points = days.filter((d) => d[figure] != null)
    .map((d) => ({ t: Date.parse(`${d.day}T12:00:00Z`), v: d[figure] }));
  const target = targets[figure];
  const lines = target && target.target != null
    ? [{ value: target.target, label: t("kpis.targetLine", { value: target.target }), severity: "major" }] : [];
  const last = points.length ? points[points.length - 1].v : null;
  const met = last == null || !target ? null : target.kind === "max" ? last <= target.target : last >= target.target;
  return h("article", { class: "card trend", "data-testid": "trend", "data-figure": figure },
    h("h3", {}, tv("kpiFigure", figure), " ",
      last == null ? null : h("span", { class: `badge ${met === false ? "sev sev-major" : "status-online"}` }, String(last))),
    points.length
      ? lineChart(points, { start, stop, tz, title: tv("kpiFigure", figure), unit: figure.endsWith("_pct") ? "%" : "", thresholds: lines })
      : h("p", { class: "muted" }, t("kpis.noDays")));
}

function trendsSection(ctx) {
  const range = h("select", { "aria-label": t("kpis.trendRange"), "data-testid": "trend-range" },
    h("option", { value: "30" }, t("kpis.days30")), h("option", { value: "90" }, t("kpis.days90")));
  const body = h("div");
  const load = async () => {
    const tz = estateTz(ctx);
    const today = localDate(new Date(), tz);
    const first = localDate(Date.now() - Number(range.value) * DAY_MS, tz);
    const params = new URLSearchParams({ start: first, stop: today });
    if (ctx.estate()) params.set("estate", ctx.estate());
    try {
      const answer = await api(`/api/kpis/daily?${params}`);
      const [start, stop] = [Date.parse(`${first}T00:00:00Z`), Date.parse(`${today}T00:00:00Z`)];
      const estates = [...new Set(answer.days.map((d) => d.estate))];
      const chosen = estates.length ? estates : ctx.estate() ? [ctx.estate()] : ctx.estates.map((e) => e.id);
      body.replaceChildren(...chosen.map((estate) => h("section", { class: "trend-estate" },
        h("h3", {}, ctx.estateName(estate)),
        h("div", { class: "kpi-cards" }, TRENDS.map((figure) =>
          trendCard(figure, answer.days.filter((d) => d.estate === estate), answer.targets || {}, start, stop, "UTC"))))));
    } catch (err) {
      body.replaceChildren(h("p", { class: err.status === 404 ? "muted" : "error" }, err.message));
    }
  };
  range.addEventListener("change", load);
  load();
  return h("section", { class: "trends" }, h("div", { class: "toolbar" }, h("h2", {}, t("kpis.trends")), range), body);
}

export function kpisView(main, ctx) {
  const period = h("select", { "aria-label": t("kpis.period") },
    Object.entries(PERIODS).map(([days, key]) => h("option", { value: days }, t(key))));
  const body = h("div", { class: "kpi-cards" }, h("p", { class: "muted" }, t("common.loading")));
  const span = h("p", { class: "muted" });
  main.append(h("div", { class: "toolbar" }, h("h1", {}, t("nav.kpis")), period), span, body);
  const load = async () => {
    const start = new Date(Date.now() - Number(period.value) * 86_400_000);
    const params = new URLSearchParams({ start: start.toISOString() });
    if (ctx.estate()) params.set("estate", ctx.estate());
    try {
      const k = await api(`/api/kpis?${params}`);
      const tz = estateTz(ctx);
      span.textContent = t("kpis.span", { start: fmtTime(k.start, tz), stop: fmtTime(k.stop, tz) });
      body.replaceChildren(alarmCard(k.alarms), repairCard(k.repairs), patrolCard(k.patrols, ctx));
    } catch (err) {
      body.replaceChildren(h("p", { class: "error" }, err.message));
    }
  };
  period.addEventListener("change", load);
  load();
  main.append(trendsSection(ctx));
}
