// The crew page: my crew's work orders with countdowns to each pending deadline, and the steps
// (accept, arrive, resolve) with a note; live from the stream's `workorder` events, which a crew
// token receives for its own crew only.
import {
  DEFAULT_TZ, api, getToken, h, langSwitch, localDate, logout, notify, openStream, requireLogin, startCountdowns,
  streamStatus, throttled, tones, translateStatic,
} from "./common.js";
import { getLang, setCrewLabel, t } from "./i18n.js";
import { FINISHED, IN_HAND, orderCard, orderTitle, replaceCards } from "./workorder.js";
import { openDialog } from "./dialog.js";

const SOUND_KEY = "estate.crewSound";
const SEEN_KEY = "estate.crewSeen"; // critical orders already opened: their alert stays off

// What needs the crew first: orders waiting for them, then those in hand, then the rest.
const STATE_ORDER = ["assigned", "accepted", "on_site", "open", "resolved", "closed", "cancelled"];

const status = streamStatus();
const lang = langSwitch();
let crew = null; // {id, name, …} from GET /api/crews (a crew token sees its own crew only)
let estates = [];
let orders = new Map();
let ready = false;
let queue = [];
let loggedIn = false;

/** The crew's name in the page's language (its `name_en` in English, else its id). */
function crewName(id) {
  if (!crew || crew.id !== id) return id;
  return (getLang() === "en" ? crew.name_en : crew.name) || id;
}
setCrewLabel(crewName); // the notes the gateway wrote name crews by id

const tz = (estate) => (estates.find((e) => e.id === estate) || {}).timezone || DEFAULT_TZ;

function nextDeadline(order) {
  const pending = ["accept", "arrive", "resolve"].filter((s) => order.deadlines[s] && !(order.done && order.done[s]));
  return Math.min(...pending.map((s) => Date.parse(order.deadlines[s])), Infinity);
}

// Finished orders stay on the page for the day they finished (in the estate's time zone).
function shown(order) {
  if (!FINISHED.has(order.state)) return true;
  const zone = tz(order.estate);
  return localDate(order.closed_at || order.created_at, zone) >= localDate(new Date(), zone);
}

function apply(order) {
  if (!ready) {
    queue.push(order);
    return;
  }
  const mine = !crew || order.crew === crew.id; // a reassigned order leaves the crew it was taken from
  const fresh = mine && ["assign", "reassign", "reopen"].includes(order.action) && !orders.has(order.id);
  if (mine) orders.set(order.id, order);
  else orders.delete(order.id);
  if (fresh) {
    notify(t("crew.newOrder", { id: order.id, title: orderTitle(order) }));
    if (order.severity === "critical") {
      beep();
      drawCritical();
    }
  }
  redraw();
}

async function load() {
  ready = false;
  queue = [];
  try {
    orders = new Map((await api("/api/workorders?limit=500&with_history=true")).map((o) => [o.id, o]));
  } catch (err) {
    document.getElementById("orders").replaceChildren(h("p", { class: "error" }, err.message));
  }
  ready = true;
  for (const order of queue.splice(0)) apply(order);
  draw();
}

function draw() {
  const main = document.getElementById("main");
  if (!loggedIn) return;
  const list = [...orders.values()].filter(shown).sort((a, b) =>
    STATE_ORDER.indexOf(a.state) - STATE_ORDER.indexOf(b.state) || nextDeadline(a) - nextDeadline(b) || b.id - a.id);
  // "In hand": what the crew still has to do; a resolved order waits for the device, not for them.
  const live = list.filter((o) => IN_HAND.has(o.state)).length;
  main.querySelector("h1").textContent = t("crew.myOrders");
  main.querySelector(".summary").textContent = ready ? t("crew.summary", { n: live }) : t("common.loading");
  const cards = list.map((o) => orderCard(o, { tz: tz(o.estate), crewName, onChange: apply, confirmStep, allNotes: true }));
  replaceCards(document.getElementById("orders"), cards);
  document.getElementById("empty").hidden = !ready || list.length > 0;
  drawCritical();
}
const redraw = throttled(draw);

// -- a critical order stays on screen (and sounds, if allowed) until it is opened ----------------------

const seen = () => new Set(JSON.parse(localStorage.getItem(SEEN_KEY) || "[]"));

function markSeen(id) {
  const ids = [...seen(), id].slice(-200);
  localStorage.setItem(SEEN_KEY, JSON.stringify(ids));
  drawCritical();
}

/** The unopened critical orders waiting to be accepted, in a banner that stays until opened. */
function drawCritical() {
  const box = document.getElementById("critical");
  const waiting = [...orders.values()].filter((o) =>
    o.severity === "critical" && o.state === "assigned" && !seen().has(o.id));
  box.hidden = waiting.length === 0;
  box.replaceChildren(...waiting.map((o) => h("div", { class: "critical-order", "data-testid": "critical-order",
    "data-order-id": o.id },
    h("strong", {}, t("crew.criticalOrder", { id: o.id })), " ", orderTitle(o), " ",
    h("button", { type: "button", class: "primary", "data-testid": "open-critical", onclick: () => {
      markSeen(o.id);
      const card = document.querySelector(`[data-testid=order-card][data-order-id="${o.id}"]`);
      if (card) card.scrollIntoView({ block: "center" });
    } }, t("crew.openOrder")))));
}

let audio = null;
const soundOn = () => localStorage.getItem(SOUND_KEY) !== "off";

// Browsers only let audio start after a gesture on the page: the context is made on the first tap.
function wakeAudio() {
  if (!soundOn()) return;
  audio = audio || new AudioContext();
  if (audio.state === "suspended") audio.resume();
}

function beep() {
  window.crewBeeps = (window.crewBeeps || 0) + 1; // counted, so a test can tell it sounded
  if (!soundOn() || !audio || audio.state !== "running") return;
  tones(audio, [[0, 988], [0.3, 784], [0.6, 988], [0.9, 784]], { volume: 0.2, length: 0.2 });
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

/** "Resolve" asks first: it cannot be taken back from the phone. */
function confirmStep(step, order) {
  if (step !== "resolve") return Promise.resolve(true);
  return new Promise((resolve) => {
    const dialog = openDialog({
      title: t("crew.resolveTitle", { id: order.id }),
      fields: [h("p", {}, orderTitle(order)), h("p", { class: "muted" }, t("crew.resolveHint"))],
      confirmLabel: t("action.resolve"),
      onConfirm: async () => resolve(true),
    });
    dialog.addEventListener("close", () => resolve(false)); // a promise settles once: after a confirm, no-op
  });
}

function renderHeader() {
  document.title = t("crew.title");
  const header = document.getElementById("header");
  const name = crew ? h("small", {}, ` ${crewName(crew.id)}`) : null;
  const brand = h("span", { class: "brand" }, t("crew.brand"), name);
  const tools = loggedIn
    ? [status.el, soundToggle(), lang,
      h("button", { type: "button", "data-testid": "logout", onclick: logout }, t("header.logout"))]
    : [lang];
  header.replaceChildren(brand, h("div", { class: "tools" }, tools));
}

async function start() {
  try {
    [estates, crew] = await Promise.all([
      api("/api/estates"),
      api("/api/crews").then((list) => (list.length === 1 ? list[0] : null), () => null),
    ]);
  } catch {
    if (!getToken()) return; // a rejected token: the login form is showing
  }
  loggedIn = true;
  renderHeader();
  draw();
  let loaded = false;
  openStream({
    onEvent: (type, data) => type === "workorder" && apply(data),
    onState: (state) => status.set(state),
    onConnect: () => {
      if (!loaded) load(); // the first connection: from here on nothing is missed
      loaded = true;
    },
    onReset: load,
  });
}

window.addEventListener("langchange", () => {
  translateStatic();
  renderHeader();
  draw();
});
document.addEventListener("pointerdown", wakeAudio);
translateStatic();
renderHeader();
startCountdowns();
requireLogin(start);
