// Shared by the operator console and the crew page: the bearer token and the login form, API calls,
// the live event stream, DOM building, time formatting and deadline countdowns. No framework and no
// build step: the browser loads these ES modules as they are.
import { LANGS, getLang, setLang, t } from "./i18n.js";

const TOKEN_KEY = "estate.token";
export const DEFAULT_TZ = "Asia/Shanghai";

export const getToken = () => localStorage.getItem(TOKEN_KEY) || "";
const setToken = (token) => localStorage.setItem(TOKEN_KEY, token);
const clearToken = () => localStorage.removeItem(TOKEN_KEY);

// -- DOM ----------------------------------------------------------------------------------------------

/** h("button", {class: "x", "data-testid": "ack", onclick: fn}, "text", child, [more]) → an element.
 *  Attributes that are null, undefined or false are left out; `value` is set after the children so a
 *  <select> keeps its chosen option. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  let value;
  for (const [name, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (name.startsWith("on") && typeof v === "function") el.addEventListener(name.slice(2), v);
    else if (name === "value") value = v;
    else el.setAttribute(name, v === true ? "" : String(v));
  }
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  if (value !== undefined) el.value = value;
  return el;
}

/** A small message at the bottom of the screen for a few seconds (a link when `href` is given). */
export function notify(text, kind = "info", href = null) {
  let box = document.getElementById("toasts");
  if (!box) document.body.append((box = h("div", { id: "toasts", "aria-live": "polite" })));
  const toast = h("div", { class: `toast ${kind}`, "data-testid": "toast" }, href ? h("a", { href }, text) : text);
  box.append(toast);
  setTimeout(() => toast.remove(), 8000);
}

/** The language switch (labelled with the language it switches to). */
export function langSwitch() {
  const other = () => LANGS.find((l) => l !== getLang());
  const button = h("button", { type: "button", class: "lang", "data-testid": "lang-switch" });
  const label = () => {
    button.textContent = t(`lang.${other()}`);
    button.title = t("lang.switch");
  };
  label();
  button.addEventListener("click", () => setLang(other()));
  window.addEventListener("langchange", label);
  return button;
}

/** Shows every static element that has a data-i18n attribute (its key) in the current language. */
export function translateStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  document.documentElement.lang = getLang();
}

// -- login and API calls ------------------------------------------------------------------------------

let loginShown = false;

/** The token form, over the page: a token is saved in localStorage and `onLogin` is called.
 *  `messageKey`: why it is asked for again (a dictionary key). */
function showLogin(onLogin, messageKey = null) {
  if (loginShown) return;
  loginShown = true;
  const input = h("input", {
    type: "password", autocomplete: "off", required: true, "data-testid": "login-token", id: "login-token",
  });
  const label = h("label", { for: "login-token" });
  const title = h("h2");
  const hint = h("p", { class: "hint" });
  const submit = h("button", { type: "submit", class: "primary", "data-testid": "login-submit" });
  const error = h("p", { class: "error", role: "alert" });
  const texts = () => {
    title.textContent = t("login.title");
    label.textContent = t("login.token");
    hint.textContent = t("login.hint");
    submit.textContent = t("login.submit");
    error.textContent = messageKey ? t(messageKey) : "";
  };
  texts();
  window.addEventListener("langchange", texts);
  const form = h("form", { class: "login-box" }, title, hint, label, input, error, submit);
  // The header (with its language switch) stays above the overlay.
  const overlay = h("div", { class: "login-overlay" }, form);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    setToken(token);
    window.removeEventListener("langchange", texts);
    overlay.remove();
    loginShown = false;
    onLogin();
  });
  document.body.append(overlay);
  input.focus();
}

/** Calls `start` now if a token is saved, else after the user gives one. */
export function requireLogin(start) {
  if (getToken()) start();
  else showLogin(start);
}

/** Forget the token and start again from the login form. */
export function logout() {
  clearToken();
  location.reload();
}

// A rejected token: forget it and ask again; the page starts afresh afterwards.
function unauthorized() {
  clearToken();
  showLogin(() => location.reload(), "login.rejected");
}

/** A refused call: `message` in the page's language (a zh-CN page never shows the API's English
 *  `detail` alone); `detail` as the API said it. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(explain(status, detail));
    this.status = status;
    this.detail = detail;
  }
}

function explain(status, detail) {
  if (getLang() === "en") return detail;
  const known = t(`error.status.${status}`);
  return known === `error.status.${status}` ? t("error.status.other", { status }) : known;
}

// FastAPI's `detail` is a string, or a list of validation errors with `loc` and `msg`.
function describe(data, status) {
  const detail = data && data.detail;
  if (Array.isArray(detail)) {
    return detail.map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".")}: ${d.msg}`).join("; ");
  }
  return detail ? String(detail) : `HTTP ${status}`;
}

/** fetch() with the bearer token; the JSON answer, or an ApiError carrying the API's `detail`. */
export async function api(path, options = {}) {
  return (await request(path, options)).data;
}

/** Every item of a paged list (GET /api/devices): page after page, following the answer's
 *  `Link: <…>; rel="next"` header, up to `maxPages` pages. */
export async function apiAll(path, maxPages = 20) {
  const items = [];
  for (let page = 0; path && page < maxPages; page += 1) {
    const { data, res } = await request(path);
    items.push(...data);
    const next = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get("Link") || "");
    path = next ? next[1] : null;
  }
  return items;
}

async function request(path, { method = "GET", body } = {}) {
  const headers = { Authorization: `Bearer ${getToken()}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch {
    throw new ApiError(0, t("error.network"));
  }
  const data = await res.json().catch(() => null);
  if (res.status === 401) unauthorized();
  if (!res.ok) throw new ApiError(res.status, describe(data, res.status));
  return { data, res };
}

// -- the live event stream ----------------------------------------------------------------------------

/** Reads GET /api/stream with fetch() (EventSource cannot send an Authorization header).
 *  handlers: onEvent(type, data, id), onState("connected" | "reconnecting"), onConnect() after each
 *  connection is made (the first one is where a page loads its lists, so nothing is missed), and
 *  onReset() when the server says events were lost (the page reloads its lists).
 *  Returns { stop() }. */
/** How long a stream may stay silent before it is taken for dead (two keep-alives and a margin). */
const SILENT_MS = 40000;

export function openStream({ onEvent, onState = () => {}, onConnect = () => {}, onReset = () => {} }) {
  let lastId = "";
  let retryMs = 2000;
  let stopped = false;
  let controller = null;
  let connectedBefore = false;

  function dispatch(frame) {
    if (frame.id !== undefined) lastId = frame.id;
    if (frame.retry !== undefined) retryMs = frame.retry;
    if (!frame.data.length) return;
    const type = frame.event || "message";
    let data = null;
    try {
      data = JSON.parse(frame.data.join("\n"));
    } catch {
      return; // not ours: every event of the gateway is JSON
    }
    if (type === "reset") onReset(data);
    else onEvent(type, data, lastId);
  }

  async function connectOnce() {
    controller = new AbortController();
    const headers = { Authorization: `Bearer ${getToken()}`, Accept: "text/event-stream" };
    if (lastId) headers["Last-Event-ID"] = lastId;
    const res = await fetch("/api/stream", { headers, signal: controller.signal, cache: "no-store" });
    if (res.status === 401) {
      stopped = true;
      unauthorized();
      return;
    }
    if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
    onState("connected");
    onConnect();
    // Back after a drop without an id to resume from: what happened meanwhile is unknown.
    if (connectedBefore && !lastId) onReset({ reason: "nothing to resume from" });
    connectedBefore = true;
    // The server sends a keep-alive every 15 s: silence past SILENT_MS means it stopped answering
    // (a gateway shutting down kept the socket open for a minute): drop it and show "reconnecting".
    let watchdog = null;
    const heard = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => controller.abort(), SILENT_MS);
    };
    heard();
    try {
      await readFrames(res.body, dispatch, heard);
    } finally {
      clearTimeout(watchdog);
    }
  }

  (async () => {
    while (!stopped) {
      try {
        await connectOnce();
      } catch {
        // a dropped connection or a server that is down: try again below
      }
      if (stopped) return;
      onState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  })();

  return {
    stop() {
      stopped = true;
      if (controller) controller.abort();
    },
  };
}

/** Splits a text/event-stream body into frames ({event, data: [lines], id, retry}) until it ends. */
async function readFrames(body, onFrame, onChunk = () => {}) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let frame = { data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    onChunk();
    buffer += value;
    const lines = buffer.split(/\r\n|\r|\n/);
    buffer = lines.pop(); // an incomplete line waits for the next chunk
    for (const line of lines) {
      if (line === "") {
        onFrame(frame); // a blank line ends a frame
        frame = { data: [] };
        continue;
      }
      if (line.startsWith(":")) continue; // a comment (keep-alive)
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let val = colon < 0 ? "" : line.slice(colon + 1);
      if (val.startsWith(" ")) val = val.slice(1);
      if (field === "data") frame.data.push(val);
      else if (field === "event") frame.event = val;
      else if (field === "id") frame.id = val;
      else if (field === "retry" && /^\d+$/.test(val)) frame.retry = Number(val);
    }
  }
}

/** The live indicator for the header: data-state is "connected", "reconnecting" or "degraded"
 *  (the stream is up but the gateway says it is not processing: GET /health answered 503 or
 *  nothing). The stream's state and the gateway's health are set apart and shown together. */
export function streamStatus() {
  const el = h("span", { class: "stream", "data-testid": "stream-status", "data-state": "reconnecting" });
  let stream = "reconnecting";
  let problem = null; // null: healthy; otherwise what /health says is wrong
  const show = () => {
    el.dataset.state = stream === "connected" && problem !== null ? "degraded" : stream;
    el.textContent = t(`stream.${el.dataset.state}`);
    el.title = problem === null ? "" : problem;
  };
  show();
  window.addEventListener("langchange", show);
  return {
    el,
    set(state) {
      stream = state;
      show();
    },
    health(what) {
      problem = what;
      show();
    },
  };
}

/** Polls GET /health (no token) every ``everyMs`` and tells ``onHealth`` null when the gateway
 *  is processing, else a short text of what is not (the failing checks and stages). */
export function watchHealth(onHealth, everyMs = 10000) {
  async function look() {
    try {
      const res = await fetch("/health", { cache: "no-store" });
      const body = await res.json();
      if (res.ok && body.ok) return onHealth(null);
      const failing = Object.entries(body)
        .filter(([, v]) => v && typeof v === "object" && v.ok === false)
        .map(([name, v]) => {
          const stages = Object.entries(v).filter(([, s]) => s && typeof s === "object" && s.ok === false);
          return stages.length ? `${name}: ${stages.map(([n, s]) => `${n} (${s.last_error || "down"})`).join(", ")}` : name;
        });
      onHealth(failing.join("; ") || `HTTP ${res.status}`);
    } catch (err) {
      onHealth(String(err.message || err));
    }
  }
  look();
  return setInterval(look, everyMs);
}

// -- time ---------------------------------------------------------------------------------------------

const formats = new Map();

function formatter(tz, options) {
  const key = `${getLang()}|${tz}|${JSON.stringify(options)}`;
  if (!formats.has(key)) {
    formats.set(key, new Intl.DateTimeFormat(getLang(), { timeZone: tz, hour12: false, ...options }));
  }
  return formats.get(key);
}

const HMS = { hour: "2-digit", minute: "2-digit", second: "2-digit" };

/** A moment in the estate's time zone: "11/22 10:47:44" (with `year` for old dates). */
export function fmtTime(iso, tz = DEFAULT_TZ) {
  if (!iso) return "—";
  const when = new Date(iso);
  const old = Math.abs(Date.now() - when) > 180 * 86_400_000;
  return formatter(tz, { ...(old ? { year: "numeric" } : {}), month: "2-digit", day: "2-digit", ...HMS }).format(when);
}

/** Only the clock time, "10:47". */
export function fmtClock(iso, tz = DEFAULT_TZ) {
  return iso ? formatter(tz, { hour: "2-digit", minute: "2-digit" }).format(new Date(iso)) : "—";
}

/** A deadline, short: "10:47" today, "11/23 10:47" on another day. */
export function fmtShort(iso, tz = DEFAULT_TZ) {
  if (!iso) return "—";
  if (localDate(iso, tz) === localDate(new Date(), tz)) return fmtClock(iso, tz);
  return formatter(tz, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" }).format(new Date(iso));
}

/** The local date of a moment in a time zone, "2026-11-22". */
export function localDate(when = new Date(), tz = DEFAULT_TZ) {
  const d = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" });
  return d.format(new Date(when));
}

/** A span of time: "45s", "12:04", "3:02:10", "2d 03:02:10". */
function fmtSpan(ms) {
  const total = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(total / 86400);
  const [hh, mm, ss] = [Math.floor(total / 3600) % 24, Math.floor(total / 60) % 60, total % 60];
  const two = (n) => String(n).padStart(2, "0");
  if (total < 60) return `${ss}s`;
  if (total < 3600) return `${mm}:${two(ss)}`;
  if (d === 0) return `${hh}:${two(mm)}:${two(ss)}`;
  return `${d}${t("unit.day")} ${two(hh)}:${two(mm)}:${two(ss)}`;
}

/** A countdown to a deadline, kept current by tickCountdowns(). */
export function countdown(step, dueIso, breached = false) {
  const el = h("span", {
    class: "countdown", "data-testid": "countdown", "data-step": step, "data-due": dueIso,
    "data-breached": breached ? "1" : null,
  });
  updateCountdown(el, Date.now());
  return el;
}

function updateCountdown(el, now) {
  const left = Date.parse(el.dataset.due) - now;
  const overdue = left < 0;
  el.textContent = t(overdue ? "countdown.overdue" : "countdown.left", { time: fmtSpan(left) });
  el.classList.toggle("overdue", overdue || el.dataset.breached === "1");
  el.classList.toggle("soon", !overdue && left < 10 * 60_000);
}

/** Updates every countdown on the page, once a second. */
export function startCountdowns() {
  const tick = () => {
    const now = Date.now();
    for (const el of document.querySelectorAll("[data-testid=countdown]")) updateCountdown(el, now);
  };
  window.addEventListener("langchange", tick);
  return setInterval(tick, 1000);
}

/** Coalesces bursts of calls (e.g. a flood of stream events) into one call a few milliseconds later.
 *  A timer rather than requestAnimationFrame: a page in a background tab still keeps up. */
/** Play a short run of tones, ``[[start s, Hz], …]``, on a running AudioContext. */
export function tones(audio, notes, { volume = 0.15, length = 0.18 } = {}) {
  for (const [start, freq] of notes) {
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = freq;
    gain.gain.value = volume;
    osc.connect(gain).connect(audio.destination);
    osc.start(audio.currentTime + start);
    osc.stop(audio.currentTime + start + length);
  }
}

export function throttled(fn, ms = 30) {
  let pending = false;
  return () => {
    if (pending) return;
    pending = true;
    setTimeout(() => {
      pending = false;
      fn();
    }, ms);
  };
}
