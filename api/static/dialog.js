// A modal form for an action (acknowledge, shelve, dispatch, reassign, cancel): the API's answer to
// a refused action is shown inside it, and it stays open until the action succeeds or is cancelled.
import { h } from "./common.js";
import { t, tv } from "./i18n.js";

/** fields: elements (see field()); onConfirm(): a promise, may throw an Error whose message is shown. */
export function openDialog({ title, fields, confirmLabel, onConfirm }) {
  const error = h("p", { class: "error", role: "alert", "data-testid": "dialog-error" });
  const confirm = h("button", { type: "submit", class: "primary", "data-testid": "confirm" },
    confirmLabel || t("dialog.confirm"));
  const cancel = h("button", { type: "button", "data-testid": "cancel" }, t("dialog.cancel"));
  // novalidate: our own checks show their message in the dialog, as the API's refusals are.
  const form = h("form", { novalidate: true },
    h("h2", {}, title), fields, error, h("div", { class: "actions" }, cancel, confirm));
  const dialog = h("dialog", { class: "dialog" }, form);
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.textContent = "";
    confirm.disabled = true;
    try {
      await onConfirm();
      dialog.close();
    } catch (err) {
      error.textContent = err.message;
    } finally {
      confirm.disabled = false;
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  const first = form.querySelector("input, select, textarea");
  if (first) first.focus();
  return dialog;
}

/** A labelled input. */
export function field(label, input) {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

/** An optional or required note. */
export function noteInput(required = false) {
  return h("textarea", { "data-testid": "note", rows: 3, maxlength: 2000, required });
}

/** The crews of an estate as <option>s, the trade's own first; "" (the on-duty crew) when `onDuty`. */
export async function crewOptions(select, crews, { trade = null, onDuty = true } = {}) {
  const ours = (crew) => (crew.trades.includes(trade) ? 0 : 1);
  const list = [...(await crews)].sort((a, b) => ours(a) - ours(b));
  const options = list.map((c) => {
    const trades = c.trades.map((x) => tv("trade", x)).join(", ");
    return h("option", { value: c.id }, `${c.name || c.id} (${trades}) · ${t(c.on_duty ? "crew.onDuty" : "crew.offDuty")}`);
  });
  select.replaceChildren(...(onDuty ? [h("option", { value: "" }, t("dispatch.onDutyCrew"))] : []), ...options);
}
