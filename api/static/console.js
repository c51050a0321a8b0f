// The operator console: the header (navigation, estate, live-stream state, sound, language, logout),
// the live lists of alerts and work orders kept current from GET /api/stream, and a hash router
// that shows one view at a time. The views live in alarms.js, orders.js, overview.js, reports.js.
import { alarmView, alarmsView, awaitingAck, isCritical } from "./alarms.js";
import {
  DEFAULT_TZ, api, getToken, h, langSwitch, logout, openStream, requireLogin, startCountdowns, streamStatus,
  tones,
  translateStatic,
  watchHealth,
} from "./common.js";
import { getLang, setCrewLabel, t, tv } from "./i18n.js";
import { handoverView, handoversView } from "./handover.js";
import { deadLettersView, planView, reportView, wallView, windowsView } from "./site.js";
import { journalView } from "./journal.js";
import { orderView, ordersView } from "./orders.js";
import { deviceView, overviewView } from "./overview.js";
import { kpisView, patrolsView } from "./reports.js";
import { assetView, ledgerView } from "./ledger.js";

const ESTATE_KEY = "estate.estate";
const SOUND_KEY = "estate.sound";

// Each view with the ability (GET /api/me `can`) its API calls need: a role sees only its views.
const ROUTES = [
  [/^#\/alarms$/, alarmsView, "alerts:read"],
  [/^#\/alarm\/(\d+)$/, alarmView, "alerts:read"],
  [/^#\/overview$/, overviewView, "alerts:read"],
  [/^#\/device\/([^/]+)\/([^/]+)$/, deviceView, "alerts:read"],
  [/^#\/patrols$/, patrolsView, "patrols:read"],
  [/^#\/orders$/, ordersView, "orders:read"],
  [/^#\/order\/(\d+)$/, orderView, "orders:read"],
  [/^#\/journal$/, journalView, "journal:read"],
  [/^#\/handover$/, handoversView, "handovers:read"],
  [/^#\/handover\/(\d+)$/, handoverView, "handovers:read"],
  [/^#\/plan$/, planView, "alerts:read"],
  [/^#\/wall$/, wallView, "alerts:read"],
  [/^#\/windows$/, windowsView, "alerts:read"],
  [/^#\/report$/, reportView, "orders:manage"],
  [/^#\/deadletters$/, deadLettersView, "deadletters:read"],
  [/^#\/kpis$/, kpisView, "kpis:read"],
  [/^#\/ledger$/, ledgerView, "assets:read"],
  [/^#\/asset\/([^/?]+)((?:\?estate=[^&]*)?)$/, assetView, "assets:read"],
];
const NAV = [
  ["#/alarms", "nav.alarms", "alerts:read"],
  ["#/plan", "nav.plan", "alerts:read"],
  ["#/overview", "nav.overview", "alerts:read"],
  ["#/patrols", "nav.patrols", "patrols:read"],
  ["#/orders", "nav.orders", "orders:read"],
  ["#/journal", "nav.journal", "journal:read"],
  ["#/handover", "nav.handover", "handovers:read"],
  ["#/kpis", "nav.kpis", "kpis:read"],
];
/** Used less often: under "more", so the header stays one line at 1024 px. */
const MORE = [
  ["#/ledger", "nav.ledger", "assets:read"],
  ["#/windows", "nav.windows", "alerts:read"],
  ["#/report", "nav.report", "orders:manage"],
  ["#/deadletters", "nav.deadletters", "deadletters:read"],
  ["#/wall", "nav.wall", "alerts:read"],
];
/** Whether this token may use a view: what GET /api/me says (a gateway without it: every view); a
 *  token that cannot read alarms (a crew) has no console views at all. */
const mayUse = (ability) => !me.role || (me.can.includes("alerts:read") && me.can.includes(ability));

// -- the live lists and what the views share ----------------------------------------------------------

const live = { alerts: new Map(), orders: new Map(), ready: false, queue: [] };
const crewCache = new Map();
let estates = [];
let me = { name: "", role: "", can: [] }; // GET /api/me: what this token may do
let view = null; // the current view: { update(what), destroy() }

const ctx = {
  live,
  get estates() {
    return estates;
  },
  get me() {
    return me;
  },
  /** Whether the token's role may do `what` ("alerts:act", "orders:manage", …): pages show only that. */
  can: (what) => me.can.includes(what),
  /** The estate chosen in the header, or "" for every estate in the token's scope. */
  estate: () => localStorage.getItem(ESTATE_KEY) || "",
  tz: (id) => (estates.find((e) => e.id === id) || {}).timezone || DEFAULT_TZ,
  estateName: (id) => (estates.find((e) => e.id === id) || {}).name || id,
  /** Crews serving an estate (GET /api/crews; an older gateway without it: none, i.e. on-duty). */
  async crews(estate) {
    if (!crewCache.has(estate)) {
      crewCache.set(estate, api(`/api/crews?estate=${encodeURIComponent(estate)}`).catch(() => []));
    }
    return crewCache.get(estate);
  },
  /** A crew's name in the page's language: `name` (zh-CN), `name_en` (English; else its id). */
  crewName(id) {
    for (const list of crewCache.values()) {
      const found = Array.isArray(list) ? list.find((c) => c.id === id) : null;
      if (found) return (getLang() === "en" ? found.name_en : found.name) || found.id;
    }
    return id;
  },
  upsertAlert(alert) {
    apply("alert", alert);
  },
  upsertOrder(order) {
    apply("workorder", order);
  },
};

/** Loads both lists after the stream is connected; events arriving meanwhile wait in the queue
 *  and are applied after, in order, so the result is as new as the newest event. */
async function loadLive() {
  live.ready = false;
  live.queue = [];
  try {
    const [alerts, orders] = await Promise.all([api("/api/alerts?limit=5000"), api("/api/workorders?limit=500")]);
    live.alerts = new Map(alerts.filter((a) => a.state !== "closed").map((a) => [a.id, a]));
    live.orders = new Map(orders.map((o) => [o.id, o]));
  } catch (err) {
    showBanner(err.message);
    // A crew's token works on the crew page only.
    if (err.status === 403) {
      document.querySelector("#main .banner").append(" ", h("a", { href: "/crew" }, t("console.crewPage")));
    }
  }
  live.ready = true;
  for (const [type, data] of live.queue.splice(0)) apply(type, data, false);
  changed("alerts");
  changed("orders");
}

function apply(type, data, notifyViews = true) {
  if (!live.ready) {
    live.queue.push([type, data]);
    return;
  }
  if (type === "alert") {
    if (data.state === "closed") live.alerts.delete(data.id);
    else live.alerts.set(data.id, data);
  } else if (type === "workorder") {
    live.orders.set(data.id, data);
  } else {
    return;
  }
  if (notifyViews) changed(type === "alert" ? "alerts" : "orders", data);
}

function changed(what, data) {
  if (what === "alerts") {
    updateCue();
    updateNavCounts();
  }
  if (view && view.update) view.update(what, data);
}

// -- critical cue and sound ---------------------------------------------------------------------------

let audio = null;

function soundOn() {
  return localStorage.getItem(SOUND_KEY) === "on";
}

// Browsers only let audio start from a user's gesture: the context is made or resumed on a click.
function wakeAudio() {
  if (!soundOn()) return;
  audio = audio || new AudioContext();
  if (audio.state === "suspended") audio.resume();
}

function beep() {
  if (!soundOn() || !audio || audio.state !== "running") return;
  tones(audio, [[0, 880], [0.25, 660], [0.5, 880]]);
}

function visibleAlerts() {
  const estate = ctx.estate();
  return [...live.alerts.values()].filter((a) => !estate || a.estate === estate);
}

function updateCue() {
  const cue = document.getElementById("cue");
  const critical = visibleAlerts().filter(isCritical);
  cue.hidden = critical.length === 0;
  cue.textContent = critical.length ? t("cue.critical", { n: critical.length }) : "";
}

function onStreamEvent(type, data) {
  if (type === "gateway") {
    // The gateway's own alarm (a stage failing, or working again): shown now, not at the next look.
    status.health(data.state === "active" ? `${data.stage || data.subject}: ${data.error || ""}` : null);
    if (data.state === "active") beep();
    return;
  }
  apply(type, data);
  const raised = type === "alert" && data.actions.some((a) => ["raise", "reactivate", "escalate"].includes(a));
  if (raised && isCritical(data) && (!ctx.estate() || data.estate === ctx.estate())) beep();
}

// -- header and router --------------------------------------------------------------------------------

const status = streamStatus();
const lang = langSwitch();
let loggedIn = false;

function showBanner(text) {
  const main = document.getElementById("main");
  main.prepend(h("p", { class: "error banner", role: "alert" }, text));
}

function estateSelect() {
  const select = h("select", { id: "estate-select", "aria-label": t("header.estate"), value: ctx.estate() },
    h("option", { value: "" }, t("header.allEstates")),
    estates.map((e) => h("option", { value: e.id }, e.name || e.id)));
  select.addEventListener("change", () => {
    localStorage.setItem(ESTATE_KEY, select.value);
    updateCue();
    updateNavCounts();
    route();
  });
  return select;
}

function soundToggle() {
  const button = h("button", { type: "button", "data-testid": "sound", "aria-pressed": String(soundOn()) },
    t(soundOn() ? "sound.on" : "sound.off"));
  button.addEventListener("click", () => {
    localStorage.setItem(SOUND_KEY, soundOn() ? "off" : "on");
    wakeAudio();
    button.textContent = t(soundOn() ? "sound.on" : "sound.off");
    button.setAttribute("aria-pressed", String(soundOn()));
  });
  return button;
}

function renderHeader() {
  document.title = t("console.title");
  const header = document.getElementById("header");
  const brand = h("a", { class: "brand", href: "#/alarms" }, t("console.brand"));
  if (!loggedIn) {
    header.replaceChildren(brand, h("div", { class: "tools" }, lang));
    return;
  }
  const link = ([href, key]) => h("a", { href, "data-nav": href }, t(key), h("span", { class: "count" }));
  const mine = (list) => list.filter(([, , ability]) => mayUse(ability));
  const extra = mine(MORE);
  const more = extra.length ? h("details", { class: "more", "data-testid": "nav-more" }, h("summary", {}, t("nav.more")),
    h("div", { class: "more-menu", onclick: () => more.removeAttribute("open") }, extra.map(link))) : null;
  const nav = h("nav", {}, mine(NAV).map(link), more);
  const tools = h("div", { class: "tools" }, estateSelect(), status.el, soundToggle(), lang,
    h("button", { type: "button", "data-testid": "logout", onclick: logout }, t("header.logout")));
  header.replaceChildren(brand, nav, tools);
  markNav();
  updateNavCounts();
}

function markNav() {
  const hash = location.hash;
  for (const a of document.querySelectorAll("[data-nav]")) {
    const section = a.dataset.nav.slice(2, -1); // "#/alarms" → "alarm": also marks #/alarm/7
    const device = a.dataset.nav === "#/overview" && hash.startsWith("#/device");
    a.classList.toggle("active", hash.startsWith(`#/${section}`) || device);
  }
}

function updateNavCounts() {
  const alarms = document.querySelector('[data-nav="#/alarms"] .count');
  if (alarms) {
    const n = visibleAlerts().filter(awaitingAck).length;
    alarms.textContent = n ? String(n) : "";
  }
}

function route() {
  if (!loggedIn) return;
  const home = (NAV.find(([, , ability]) => mayUse(ability)) || NAV[0])[0];
  const hash = location.hash || home;
  const found = ROUTES.map(([re, fn, ability]) => [hash.match(re), fn, ability]).find(([m]) => m);
  if (!found || !mayUse(found[2])) {
    // Unknown, or a view this role may not use (a bookmark, a link from someone else): its first.
    if (hash !== home) location.hash = home;
    return;
  }
  const [match, render] = found;
  if (view && view.destroy) view.destroy();
  const main = document.getElementById("main");
  main.replaceChildren();
  view = render(main, ctx, ...match.slice(1).map(decodeURIComponent)) || null;
  markNav();
}

async function start() {
  let failure = null;
  // The estates, the role and the crews at once: none of the answers waits for another.
  const [found, who, crews] = await Promise.allSettled([api("/api/estates"), api("/api/me"), api("/api/crews")]);
  if (found.status === "rejected") {
    if (!getToken()) return; // rejected token: the login form is showing
    failure = found.reason.message;
  } else {
    estates = found.value;
  }
  if (who.status === "fulfilled") me = who.value;
  if (me.role && !ctx.can("alerts:read")) {
    // A crew's token: the console is not theirs. Say where to go instead of failing under an
    // empty alarm list.
    loggedIn = true;
    renderHeader();
    document.getElementById("main").replaceChildren(h("div", { class: "notice", "data-testid": "wrong-page" },
      h("p", {}, t("console.notForRole", { role: tv("role", me.role) })),
      h("p", {}, h("a", { href: "/crew", class: "button primary" }, t("console.crewPage")))));
    return;
  }
  loggedIn = true;
  // A choice saved with another token may name an estate outside this one's scope.
  if (!estates.some((e) => e.id === ctx.estate())) localStorage.removeItem(ESTATE_KEY);
  const all = crews.status === "fulfilled" ? crews.value : [];
  for (const estate of estates) crewCache.set(estate.id, all.filter((c) => c.estates.includes(estate.id)));
  setCrewLabel((id) => ctx.crewName(id)); // history notes the gateway wrote name crews by id
  renderHeader();
  let loaded = false;
  openStream({
    onEvent: onStreamEvent,
    onState: (state) => status.set(state),
    // The first connection loads the lists; later ones resume from Last-Event-ID and need nothing.
    onConnect: () => {
      if (!loaded) loadLive();
      loaded = true;
    },
    onReset: loadLive,
  });
  watchHealth((problem) => status.health(problem));
  window.addEventListener("hashchange", route);
  route();
  if (failure) showBanner(failure);
}

window.addEventListener("langchange", () => {
  translateStatic();
  renderHeader();
  route();
  updateCue();
});
document.addEventListener("pointerdown", wakeAudio);
document.getElementById("cue").addEventListener("click", () => (location.hash = "#/alarms"));
translateStatic();
renderHeader();
startCountdowns();
requireLogin(start);
