// The crew page: my crew's work orders with countdowns to each pending deadline, and the steps
// (accept, arrive, resolve) with a note; live from the stream's `workorder` events, which a crew
// token receives for its own crew only.
import {
  DEFAULT_TZ, api, getToken, h, langSwitch, localDate, logout, notify, openStream, requireLogin, startCountdowns,
  streamStatus, throttled, translateStatic,
} from "./common.js";
import { t } from "./i18n.js";
import { FINISHED, orderCard, replaceCards } from "./workorder.js";

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
  if (fresh) notify(t("crew.newOrder", { id: order.id, title: order.title }));
  redraw();
}

async function load() {
  ready = false;
  queue = [];
  try {
    orders = new Map((await api("/api/workorders?limit=500")).map((o) => [o.id, o]));
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
  const live = list.filter((o) => !FINISHED.has(o.state)).length;
  main.querySelector("h1").textContent = t("crew.myOrders");
  main.querySelector(".summary").textContent = ready ? t("crew.summary", { n: live }) : t("common.loading");
  const crewName = (id) => (crew && crew.name) || id;
  const cards = list.map((o) => orderCard(o, { tz: tz(o.estate), crewName, onChange: apply }));
  replaceCards(document.getElementById("orders"), cards);
  document.getElementById("empty").hidden = !ready || list.length > 0;
}
const redraw = throttled(draw);

function renderHeader() {
  document.title = t("crew.title");
  const header = document.getElementById("header");
  const name = crew ? h("small", {}, ` ${crew.name || crew.id}`) : null;
  const brand = h("span", { class: "brand" }, t("crew.brand"), name);
  const tools = loggedIn
    ? [status.el, lang, h("button", { type: "button", "data-testid": "logout", onclick: logout }, t("header.logout"))]
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
translateStatic();
renderHeader();
startCountdowns();
requireLogin(start);
