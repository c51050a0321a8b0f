// #/handover: shift handovers (交接班) — the outgoing operator writes one (the gateway adds the open
// and shelved alarms, overdue orders and patrol exceptions as they stand), the incoming operator
// signs it off; #/handover/{id}: one handover laid out for printing.
import { api, fmtTime, h, notify } from "./common.js";
import { field, noteInput, openDialog } from "./dialog.js";
import { getLang, localNote, t, tv } from "./i18n.js";

const SECTIONS = [
  ["open_alarms", "handover.openAlarms"],
  ["shelved_alarms", "handover.shelvedAlarms"],
  ["overdue_orders", "handover.overdueOrders"],
  ["patrol_exceptions", "handover.patrolExceptions"],
];
const post = (path, body) => api(path, { method: "POST", body });

function signDialog(handover, done) {
  const note = noteInput();
  openDialog({
    title: t("handover.signTitle", { id: handover.id }),
    fields: [h("p", { class: "muted" }, t("handover.signHint", { by: handover.written_by })),
      field(t("dialog.noteOptional"), note)],
    confirmLabel: t("handover.sign"),
    onConfirm: async () => done(await post(`/api/handovers/${handover.id}/sign`, { note: note.value })),
  });
}

function writeDialog(done) {
  const notes = h("textarea", { rows: 6, maxlength: 8000, "data-testid": "handover-notes" });
  openDialog({
    title: t("handover.writeTitle"),
    fields: [h("p", { class: "muted" }, t("handover.writeHint")), field(t("handover.notes"), notes)],
    confirmLabel: t("handover.write"),
    onConfirm: async () => done(await post("/api/handovers", { notes: notes.value })),
  });
}

const signedText = (x, tz) => (x.signed_at
  ? t("handover.signedBy", { by: x.signed_by, time: fmtTime(x.signed_at, tz) })
  : t("handover.unsigned"));

export function handoversView(main, ctx) {
  const tz = ctx.tz(ctx.estate() || (ctx.estates[0] || {}).id);
  const tbody = h("tbody");
  const write = ctx.can("handovers:write")
    ? h("button", { type: "button", class: "primary", "data-testid": "handover-write",
      onclick: () => writeDialog((x) => (location.hash = `#/handover/${x.id}`)) }, t("handover.write"))
    : null;
  main.append(
    h("div", { class: "toolbar" }, h("h1", {}, t("nav.handover")), write),
    h("div", { class: "table-wrap" }, h("table", {},
      h("thead", {}, h("tr", {}, ["handover.id", "handover.writtenBy", "handover.counts", "handover.signed"]
        .map((k) => h("th", {}, t(k))))), tbody)),
  );
  (async () => {
    try {
      const list = await api("/api/handovers?limit=100");
      tbody.replaceChildren(...list.map((x) => h("tr", { "data-testid": "handover-row", "data-id": x.id },
        h("td", {}, h("a", { href: `#/handover/${x.id}` }, `#${x.id}`)),
        h("td", {}, `${x.written_by} · ${fmtTime(x.written_at, tz)}`),
        h("td", {}, SECTIONS.map(([k, label]) => `${t(label)} ${x.snapshot[k].length}`).join(" · ")),
        h("td", { class: x.signed_at ? "" : "error" }, signedText(x, tz)))));
      if (!list.length) tbody.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, t("handover.none"))));
    } catch (err) {
      tbody.replaceChildren(h("tr", {}, h("td", { colspan: 4, class: "error" }, err.message)));
    }
  })();
}

function section(items, key, label, ctx) {
  const text = (x) => (key === "overdue_orders"
    ? `#${x.id} ${getLang() === "en" ? x.title_en || x.title : x.title} · ${ctx.crewName(x.crew || "—")} · ${(x.breached || []).map((s) => tv("step", s)).join("、")}`
    : `#${x.id} ${tv("severity", x.severity)} · ${localNote(getLang() === "en" ? x.message_en : x.message)}`);
  return h("section", { class: "handover-section", "data-section": key },
    h("h2", {}, `${t(label)}（${items.length}）`),
    items.length ? h("ul", {}, items.map((x) => h("li", {}, text(x)))) : h("p", { class: "muted" }, t("handover.nothing")));
}

export function handoverView(main, ctx, idText) {
  const body = h("div", { class: "printable", "data-testid": "handover" }, h("p", { class: "muted" }, t("common.loading")));
  main.append(h("p", { class: "no-print" }, h("a", { href: "#/handover" }, `← ${t("nav.handover")}`)), body);
  const tz = ctx.tz(ctx.estate() || (ctx.estates[0] || {}).id);
  const draw = (x) => {
    const canSign = ctx.can("handovers:write") && !x.signed_at && x.written_by !== ctx.me.name;
    body.replaceChildren(
      h("div", { class: "toolbar" }, h("h1", {}, t("handover.title", { id: x.id })),
        canSign ? h("button", { type: "button", class: "primary", "data-testid": "handover-sign",
          onclick: () => signDialog(x, (signed) => (notify(t("handover.signedNotice")), draw(signed))) }, t("handover.sign")) : null,
        h("button", { type: "button", "data-testid": "handover-print", onclick: () => window.print() }, t("journal.print"))),
      h("dl", { class: "details" },
        h("dt", {}, t("handover.writtenBy")), h("dd", { "data-testid": "handover-writer" }, `${x.written_by} · ${fmtTime(x.written_at, tz)}`),
        h("dt", {}, t("handover.signed")), h("dd", { "data-testid": "handover-signer" }, signedText(x, tz)),
        x.sign_note ? [h("dt", {}, t("handover.signNote")), h("dd", {}, x.sign_note)] : null,
        h("dt", {}, t("handover.estates")), h("dd", {}, x.estates.length ? x.estates.map(ctx.estateName).join("、") : t("header.allEstates"))),
      h("h2", {}, t("handover.notes")),
      h("p", { class: "handover-notes note", "data-testid": "handover-text" }, x.notes || "—"),
      ...SECTIONS.map(([key, label]) => section(x.snapshot[key], key, label, ctx)),
    );
  };
  api(`/api/handovers/${Number(idText)}`).then(draw, (err) => body.replaceChildren(h("p", { class: "error" }, err.message)));
}
