// #/journal: the control room's log of a period (GET /api/journal) — alarms cleared or closed and
// work orders finished in it — searchable, printable (the browser's print, laid out by the print
// stylesheet) and exported as CSV (UTF-8 with a byte-order mark, so Excel keeps the Chinese).
import { api, fmtTime, getToken, h, localDate, notify } from "./common.js";
import { getLang, localNote, t, tv } from "./i18n.js";

const DAY = 86_400_000;

/** A local date "2026-11-22" in the estate's zone → the instant its day starts, ISO with offset. */
function dayStart(date, tz) {
  // The zone's offset at that date: the difference between the date read in UTC and in the zone.
  const guess = new Date(`${date}T00:00:00Z`);
  const local = new Date(guess.toLocaleString("en-US", { timeZone: tz }));
  const utc = new Date(guess.toLocaleString("en-US", { timeZone: "UTC" }));
  return new Date(guess.getTime() - (local - utc)).toISOString();
}

function rowOf(r, ctx) {
  const tz = ctx.tz(r.estate);
  const link = r.type === "alert" ? `#/alarm/${r.id}` : `#/order/${r.id}`;
  const linked = r.link == null ? "—" : h("a", { href: r.type === "alert" ? `#/order/${r.link}` : `#/alarm/${r.link}` }, `#${r.link}`);
  const state = r.type === "alert" ? tv("alertState", r.state) : tv("orderState", r.state);
  return h("tr", { "data-testid": "journal-row", "data-type": r.type, "data-id": r.id },
    h("td", {}, t(`journal.type.${r.type}`)),
    h("td", {}, h("a", { href: link }, `#${r.id}`)),
    h("td", { class: "nowrap" }, ctx.estateName(r.estate)),
    h("td", { class: "nowrap" }, [r.building, r.device].filter(Boolean).join(" · ") || "—"),
    h("td", {}, h("span", { class: `badge sev sev-${r.severity}` }, tv("severity", r.severity))),
    h("td", {}, state),
    h("td", { class: "message" }, localNote(r.text)),
    h("td", { class: "time" }, fmtTime(r.started, tz)),
    h("td", { class: "time" }, fmtTime(r.closed || r.cleared, tz)),
    h("td", {}, r.by ? (r.type === "workorder" ? ctx.crewName(r.by) : r.by) : "—"),
    h("td", {}, linked));
}

export function journalView(main, ctx) {
  const tz = ctx.estate() ? ctx.tz(ctx.estate()) : ctx.tz((ctx.estates[0] || {}).id);
  const today = localDate(new Date(), tz);
  const from = h("input", { type: "date", "data-testid": "journal-from", value: localDate(Date.now() - 6 * DAY, tz),
    "aria-label": t("journal.from") });
  const to = h("input", { type: "date", "data-testid": "journal-to", value: today, "aria-label": t("journal.to") });
  const q = h("input", { type: "search", "data-testid": "journal-search", placeholder: t("journal.search"),
    "aria-label": t("journal.search") });
  const show = h("button", { type: "button", class: "primary", "data-testid": "journal-show" }, t("journal.show"));
  const csv = h("button", { type: "button", "data-testid": "journal-csv" }, t("journal.csv"));
  const print = h("button", { type: "button", "data-testid": "journal-print", onclick: () => window.print() }, t("journal.print"));
  const heading = h("p", { class: "muted", "data-testid": "journal-period" });
  const tbody = h("tbody");
  const heads = ["journal.typeCol", "journal.id", "alarms.estate", "alarms.device", "alarms.severity", "alarms.state",
    "alarms.message", "journal.started", "journal.ended", "journal.by", "journal.link"];
  main.append(
    h("div", { class: "toolbar" }, h("h1", {}, t("nav.journal")), heading),
    h("div", { class: "toolbar filters" }, field("journal.from", from), field("journal.to", to), q, show, csv, print),
    h("div", { class: "table-wrap" }, h("table", { class: "journal" },
      h("thead", {}, h("tr", {}, heads.map((k) => h("th", {}, t(k))))), tbody)),
  );
  const params = (format) => {
    const p = new URLSearchParams({
      start: dayStart(from.value, tz), stop: new Date(Date.parse(dayStart(to.value, tz)) + DAY).toISOString(),
      q: q.value.trim(), format, lang: getLang(),
    });
    if (ctx.estate()) p.set("estate", ctx.estate());
    return p;
  };
  const load = async () => {
    tbody.replaceChildren();
    heading.textContent = t("common.loading");
    try {
      const answer = await api(`/api/journal?${params("json")}`);
      heading.textContent = t("journal.period", { from: from.value, to: to.value, n: answer.rows.length });
      tbody.replaceChildren(...answer.rows.map((r) => rowOf(r, ctx)));
    } catch (err) {
      heading.textContent = err.message;
    }
  };
  // The CSV is fetched with the token (a plain link could not send it) and saved from a blob.
  csv.addEventListener("click", async () => {
    const res = await fetch(`/api/journal?${params("csv")}`, { headers: { Authorization: `Bearer ${getToken()}` } });
    if (!res.ok) return notify(t("error.status.other", { status: res.status }), "error");
    const url = URL.createObjectURL(await res.blob());
    const a = h("a", { href: url, download: `journal-${from.value}-${to.value}.csv` });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
  show.addEventListener("click", load);
  q.addEventListener("keydown", (e) => e.key === "Enter" && load());
  load();
}

function field(key, input) {
  return h("label", { class: "inline" }, h("span", { class: "muted" }, `${t(key)} `), input);
}
