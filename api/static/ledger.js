// #/ledger: the equipment ledger (设备台账, GET /api/assets) — every asset of the estate, with or
// without telemetry: its kind, maker and model, install date, the person responsible, certificates
// (expired or expiring within 30 days highlighted) and its next due date (overdue highlighted);
// filtered by kind and by text; the ledger and a year's records downloaded as CSV.
// #/asset/{id}?estate={estate}: one asset (GET /api/assets/{id}) — its plans with their next dues,
// its planned (maintenance) and breakdown orders listed apart, and its records (what was done,
// readings, who, when, the photo).
import { api, fmtTime, getToken, h, localDate, notify } from "./common.js";
import { fieldLabel, fieldUnit, getLang, t, tv } from "./i18n.js";
import { orderTitle } from "./workorder.js";

/** A certificate is highlighted this many days before it expires (assets/model.py CERT_WARN_DAYS). */
const CERT_WARN_DAYS = 30;
const DAY = 86_400_000;
const PAGE = 1000; // api/params.py MAX_PAGE

/** Days from local date `from` to local date `to` (both "2026-11-22"). */
const daysBetween = (from, to) => Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY);

/** "expired", "expiring" (within 30 days) or "valid", seen from the estate's `today`. */
export function certState(expires, today) {
  const left = daysBetween(today, expires);
  if (left < 0) return "expired";
  return left <= CERT_WARN_DAYS ? "expiring" : "valid";
}

function certBadge(cert, today) {
  const state = certState(cert.expires, today);
  const left = daysBetween(today, cert.expires);
  const when = state === "expired" ? t("ledger.certExpired", { days: -left })
    : state === "expiring" ? t("ledger.certExpiring", { days: left }) : "";
  return h("span", { class: `cert cert-${state}`, "data-testid": "cert", "data-state": state,
    title: cert.issued ? t("ledger.certIssued", { date: cert.issued }) : null },
  `${tv("certKind", cert.kind)} ${cert.number} → ${cert.expires}`, when ? ` (${when})` : "");
}

const assetHref = (a) => `#/asset/${encodeURIComponent(a.id)}?estate=${encodeURIComponent(a.estate)}`;

/** Saves what `path` answers (fetched with the token: a plain link could not send it) as `name`. */
async function download(path, name) {
  const res = await fetch(path, { headers: { Authorization: `Bearer ${getToken()}` } });
  if (!res.ok) {
    notify(t("error.status.other", { status: res.status }), "error");
    return;
  }
  const url = URL.createObjectURL(await res.blob());
  const a = h("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The text a row is searched by: what the page shows of it, in both languages' kind names. */
function haystack(a, ctx) {
  const certs = a.certificates.map((c) => `${c.kind} ${c.number}`);
  return [a.id, a.name, a.building, a.location, a.maker, a.model, a.owner, a.responsible, a.kind,
    tv("assetKind", a.kind), ctx.estateName(a.estate), ...certs].filter(Boolean).join(" ").toLowerCase();
}

function dash(value) {
  return value === null || value === undefined || value === "" ? "—" : value;
}

function assetRow(a, ctx, showEstate) {
  const today = localDate(new Date(), ctx.tz(a.estate));
  const certs = a.certificates.map((c) => certBadge(c, today));
  const worst = ["expired", "expiring"].find((s) => certs.some((c) => c.dataset.state === s)) || "";
  const due = a.next_due ? h("span", { class: a.overdue ? "due overdue" : "due", "data-testid": "next-due",
    "data-overdue": String(a.overdue) }, a.next_due, a.overdue ? ` ${t("ledger.overdue")}` : "") : "—";
  const place = [a.building, a.location].filter(Boolean).join(" · ");
  return h("tr", { "data-testid": "ledger-row", "data-id": a.id, "data-estate": a.estate, "data-kind": a.kind,
    class: [a.overdue ? "overdue" : "", worst ? `cert-${worst}` : ""].filter(Boolean).join(" ") || null },
  h("td", { class: "nowrap" }, tv("assetKind", a.kind),
    a.device ? null : h("span", { class: "badge no-telemetry", title: t("ledger.noTelemetryHint") }, t("ledger.noTelemetry"))),
  h("td", {}, h("a", { href: assetHref(a), "data-testid": "asset-link" }, a.name || a.id),
    a.name ? h("span", { class: "muted small" }, ` ${a.id}`) : null,
    place ? h("div", { class: "muted small" }, place) : null,
    showEstate ? h("div", { class: "muted small" }, ctx.estateName(a.estate)) : null),
  h("td", {}, [a.maker, a.model].filter(Boolean).join(" ") || "—"),
  h("td", { class: "time" }, dash(a.installed)),
  h("td", {}, dash(a.responsible), a.owner ? h("div", { class: "muted small" }, a.owner) : null),
  h("td", { class: "certs" }, certs.length ? certs : "—"),
  h("td", { class: "time" }, due));
}

export function ledgerView(main, ctx) {
  const estate = ctx.estate();
  const tz = ctx.tz(estate || (ctx.estates[0] || {}).id);
  const kind = h("select", { "data-testid": "ledger-kind", "aria-label": t("ledger.kind") },
    h("option", { value: "" }, t("ledger.allKinds")));
  const q = h("input", { type: "search", "data-testid": "ledger-search", placeholder: t("ledger.search"),
    "aria-label": t("ledger.search") });
  const summary = h("span", { class: "summary", "data-testid": "ledger-summary" }, t("common.loading"));
  const thisYear = Number(localDate(new Date(), tz).slice(0, 4));
  const year = h("select", { "data-testid": "records-year", "aria-label": t("ledger.year") },
    [0, 1, 2].map((back) => h("option", { value: thisYear - back }, String(thisYear - back))));
  const scope = estate ? `estate=${encodeURIComponent(estate)}` : "";
  const csv = h("button", { type: "button", "data-testid": "ledger-csv",
    onclick: () => download(`/api/assets.csv?${scope}`, `ledger-${estate || "all"}.csv`) }, t("ledger.csv"));
  const recordsCsv = h("button", { type: "button", "data-testid": "records-csv",
    onclick: () => download(`/api/assets/records.csv?year=${year.value}${scope ? `&${scope}` : ""}`,
      `maintenance-records-${year.value}.csv`) }, t("ledger.recordsCsv"));
  const tbody = h("tbody");
  const heads = ["ledger.kind", "ledger.name", "ledger.makerModel", "ledger.installed", "ledger.responsible",
    "ledger.certificates", "ledger.nextDue"];
  main.append(
    h("div", { class: "toolbar" }, h("h1", {}, t("nav.ledger")), summary),
    h("div", { class: "toolbar filters" }, kind, q,
      h("span", { class: "export" }, csv, h("label", { class: "inline" }, h("span", { class: "muted" }, `${t("ledger.year")} `), year),
        recordsCsv)),
    h("div", { class: "table-wrap" }, h("table", { class: "ledger", "data-testid": "ledger" },
      h("thead", {}, h("tr", {}, heads.map((k) => h("th", {}, t(k))))), tbody)),
  );
  let assets = [];
  const show = () => {
    const words = q.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const shown = assets.filter((a) => (!kind.value || a.kind === kind.value)
      && words.every((w) => haystack(a, ctx).includes(w)));
    const many = new Set(assets.map((a) => a.estate)).size > 1;
    tbody.replaceChildren(...shown.map((a) => assetRow(a, ctx, many)));
    if (!shown.length) tbody.append(h("tr", {}, h("td", { colspan: heads.length, class: "empty" }, t("ledger.empty"))));
    const overdue = shown.filter((a) => a.overdue).length;
    summary.textContent = t("ledger.summary", { n: shown.length, total: assets.length, overdue });
  };
  kind.addEventListener("change", show);
  q.addEventListener("input", show);
  (async () => {
    try {
      // Page by page (the API gives at most 1000 at a time): an estate's whole ledger.
      for (let offset = 0; ; offset += PAGE) {
        const page = await api(`/api/assets?limit=${PAGE}&offset=${offset}${scope ? `&${scope}` : ""}`);
        assets.push(...page);
        if (page.length < PAGE || offset >= 50 * PAGE) break;
      }
    } catch (err) {
      summary.textContent = err.message;
      return;
    }
    const kinds = [...new Set(assets.map((a) => a.kind))];
    kind.append(...kinds.map((k) => h("option", { value: k }, tv("assetKind", k))));
    show();
  })();
}

// -- one asset ------------------------------------------------------------------------------------

/** "15d" → "15 天" / "15 days"; "6mo", "20wd", "1y" likewise. */
function interval(text) {
  const m = /^(\d+)(d|wd|mo|y)$/.exec(text || "");
  return m ? t(`interval.${m[2]}`, { n: m[1] }) : dash(text);
}

const planTask = (p) => (getLang() === "en" ? p.task_en || p.task : p.task);

function readingsText(readings) {
  const parts = Object.entries(readings || {}).map(([k, v]) => {
    const unit = fieldUnit(k);
    return `${fieldLabel(k)} ${v}${unit ? ` ${unit}` : ""}`;
  });
  return parts.length ? parts.join("；") : "—";
}

/** The record's photo, fetched with the token and opened in a new tab. */
function photoLink(record) {
  if (!record.photo) return "—";
  return h("a", { href: `/api/assets/records/${record.id}/photo`, "data-testid": "photo-link", target: "_blank",
    onclick: async (event) => {
      event.preventDefault();
      const tab = window.open("", "_blank");
      const res = await fetch(`/api/assets/records/${record.id}/photo`, { headers: { Authorization: `Bearer ${getToken()}` } });
      if (!res.ok) {
        if (tab) tab.close();
        notify(t("error.status.other", { status: res.status }), "error");
        return;
      }
      const url = URL.createObjectURL(await res.blob());
      if (tab) tab.location = url;
      else window.location.assign(url);
    } }, t("ledger.photo"));
}

function ordersTable(orders, testid, tz, ctx) {
  if (!orders.length) return h("p", { class: "empty", "data-testid": testid }, t("ledger.noOrders"));
  return h("div", { class: "table-wrap" }, h("table", { "data-testid": testid },
    h("thead", {}, h("tr", {}, ["ledger.order", "ledger.orderTitle", "alarms.state", "ledger.crew", "ledger.created"]
      .map((k) => h("th", {}, t(k))))),
    h("tbody", {}, orders.map((o) => h("tr", { "data-testid": "asset-order", "data-id": o.id, "data-kind": o.kind },
      h("td", {}, h("a", { href: `#/order/${o.id}` }, `#${o.id}`)),
      h("td", { class: "message" }, orderTitle(o)),
      h("td", {}, h("span", { class: `badge state-${o.state}` }, tv("orderState", o.state))),
      h("td", {}, o.crew ? ctx.crewName(o.crew) : "—"),
      h("td", { class: "time" }, fmtTime(o.created_at, tz)))))));
}

export function assetView(main, ctx, id, query = "") {
  const estate = new URLSearchParams(query.replace(/^\?/, "")).get("estate") || ctx.estate();
  const box = h("div", { "data-testid": "asset" }, h("p", { class: "muted" }, t("common.loading")));
  main.append(h("p", {}, h("a", { href: "#/ledger", "data-testid": "back-to-ledger" }, `← ${t("nav.ledger")}`)), box);
  const scope = estate ? `?estate=${encodeURIComponent(estate)}` : "";
  let destroyed = false;
  const render = (a, planned, fetched) => {
    const tz = ctx.tz(a.estate);
    const today = localDate(new Date(), tz);
    const tasks = Object.fromEntries(a.plans.map((p) => [p.id, planTask(p)]));
    // The plan's last visit is its newest record; a plan with none counts from when the ledger
    // started (or the install date), which is no visit and is said so.
    const lastDone = {};
    for (const r of a.records) if (r.plan && !(lastDone[r.plan] > r.done_on)) lastDone[r.plan] = r.done_on;
    const facts = [
      ["ledger.id", a.id],
      ["alarms.estate", ctx.estateName(a.estate)],
      ["ledger.kind", tv("assetKind", a.kind)],
      ["ledger.place", [a.building, a.location].filter(Boolean).join(" · ") || "—"],
      ["ledger.makerModel", [a.maker, a.model].filter(Boolean).join(" ") || "—"],
      ["ledger.installed", dash(a.installed)],
      ["ledger.owner", dash(a.owner)],
      ["ledger.responsible", dash(a.responsible)],
      ["ledger.telemetry", a.device
        ? h("a", { href: `#/device/${encodeURIComponent(a.estate)}/${encodeURIComponent(a.id)}` }, t("ledger.deviceLink"))
        : t("ledger.noTelemetry")],
      ["ledger.certificates", a.certificates.length ? a.certificates.map((c) => certBadge(c, today)) : "—"],
    ];
    const plans = h("div", { class: "table-wrap" }, h("table", { "data-testid": "asset-plans" },
      h("thead", {}, h("tr", {}, ["ledger.plan", "ledger.every", "ledger.lead", "ledger.trade", "ledger.lastDone",
        "ledger.nextDue", "ledger.order"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, a.plans.length ? a.plans.map((p) => h("tr", { "data-testid": "plan-row", "data-plan": p.id,
        class: p.overdue ? "overdue" : null },
      h("td", {}, planTask(p), p.standard ? h("div", { class: "muted small" }, p.standard) : null),
      h("td", {}, interval(p.every)),
      h("td", {}, interval(p.lead)),
      h("td", {}, tv("trade", p.trade)),
      h("td", { class: "time" }, lastDone[p.id] || "—",
        !lastDone[p.id] && p.last_done ? h("div", { class: "muted small" }, t("ledger.countingFrom", { date: p.last_done })) : null),
      h("td", { class: "time" }, p.next_due ? h("span", { class: p.overdue ? "due overdue" : "due", "data-testid": "plan-due",
        "data-overdue": String(Boolean(p.overdue)) }, p.next_due, p.overdue ? ` ${t("ledger.overdue")}` : "") : "—"),
      h("td", {}, p.work_order ? h("a", { href: `#/order/${p.work_order}` }, `#${p.work_order}`) : "—")))
        : h("tr", {}, h("td", { colspan: 7, class: "empty" }, t("ledger.noPlans"))))));
    const records = h("div", { class: "table-wrap" }, h("table", { "data-testid": "asset-records" },
      h("thead", {}, h("tr", {}, ["ledger.doneOn", "ledger.task", "ledger.readings", "ledger.by", "ledger.source",
        "ledger.order", "ledger.note", "ledger.nextDue", "ledger.photo"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, a.records.length ? a.records.map((r) => h("tr", { "data-testid": "record-row", "data-id": r.id },
        h("td", { class: "time", title: fmtTime(r.at, tz) }, r.done_on),
        h("td", {}, r.plan ? h("div", {}, tasks[r.plan] || r.plan) : null,
          r.task && r.task !== tasks[r.plan] ? h("div", { class: r.plan ? "muted small" : null }, r.task) : null,
          r.plan || r.task ? null : "—"),
        h("td", { "data-testid": "record-readings" }, readingsText(r.readings)),
        h("td", {}, r.by),
        h("td", {}, tv("recordSource", r.source)),
        h("td", {}, r.work_order ? h("a", { href: `#/order/${r.work_order}` }, `#${r.work_order}`) : "—"),
        h("td", { class: "note" }, dash(r.note)),
        h("td", { class: "time" }, dash(r.next_due)),
        h("td", {}, photoLink(r))))
        : h("tr", {}, h("td", { colspan: 9, class: "empty" }, t("ledger.noRecords"))))));
    // Planned orders: this asset's device id, or an order a plan or record of it names (an asset
    // without telemetry has no device on its orders). Breakdowns: the live board's, by device.
    const named = new Set([...a.plans.map((p) => p.work_order), ...a.records.map((r) => r.work_order)].filter(Boolean));
    const mine = (o) => o.estate === a.estate && (o.device === a.id || named.has(o.id));
    const plannedOrders = planned.filter(mine);
    const byId = new Map([...fetched, ...ctx.live.orders.values()].map((o) => [o.id, o])); // the stream's newer
    const breakdowns = a.device ? [...byId.values()]
      .filter((o) => o.estate === a.estate && o.device === a.id && o.kind !== "maintenance")
      .sort((x, y) => y.id - x.id) : [];
    box.replaceChildren(
      h("div", { class: "toolbar" }, h("h1", { "data-testid": "asset-title" }, a.name || a.id),
        h("span", { class: "badge" }, tv("assetKind", a.kind))),
      h("dl", { class: "details" }, facts.map(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v)])),
      h("h2", {}, t("ledger.plans")), plans,
      h("h2", {}, t("ledger.plannedOrders")), ordersTable(plannedOrders, "planned-orders", tz, ctx),
      ...(a.device ? [h("h2", {}, t("ledger.breakdownOrders")), ordersTable(breakdowns, "breakdown-orders", tz, ctx)] : []),
      h("h2", {}, t("ledger.records")), records,
    );
  };
  let current = null;
  (async () => {
    try {
      const inEstate = estate ? `&estate=${encodeURIComponent(estate)}` : "";
      const [a, planned, orders] = await Promise.all([
        api(`/api/assets/${encodeURIComponent(id)}${scope}`),
        api(`/api/maintenance/orders?limit=1000${inEstate}`).catch(() => []),
        api(`/api/workorders?limit=1000${inEstate}`).catch(() => []),
      ]);
      if (destroyed) return;
      current = [a, planned, orders];
      render(...current);
    } catch (err) {
      box.replaceChildren(h("p", { class: "error", role: "alert" }, err.message));
    }
  })();
  return {
    // A breakdown order of this device arriving on the stream: shown without a reload.
    update(what, data) {
      if (what === "orders" && current && (!data || data.device === current[0].id)) render(...current);
    },
    destroy() {
      destroyed = true;
    },
  };
}
