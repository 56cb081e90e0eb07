// A station's sensor alarm thresholds, in its config card: for each rule the cloud judges
// from the heartbeat (fridge, disk, list ages), the limits in force — the default or this
// station's own — and, for admins, a form that sets them (PUT: the whole set; a blank field
// keeps the default) or brings back the defaults (DELETE). The cloud's monitor judges them:
// nothing is sent to the station.

import { get, send } from "./api.js";
import { announce, clear, h, raw, typingIn } from "./dom.js";
import { num, t, word } from "./lang.js";

export const LIMIT_FIELDS = ["raise_above", "clear_below", "raise_after_s", "clear_after_s"];

// The unit a rule's limits are in, by its metric.
export function unitOf(metric) {
  if (metric.endsWith("_c")) return "°C";
  if (metric.endsWith("_pct")) return "%";
  return t("thr_hours");
}

// Input attributes for one field of one rule (the API's bounds, so the browser catches a
// value the cloud would refuse).
export function limitAttrs(rule, field) {
  const duration = field.endsWith("_s");
  return duration
    ? { type: "number", min: "0", max: "86400", step: "1" }
    : { type: "number", min: String(rule.low), max: String(rule.high), step: "any" };
}

function cell(value, field, unit) {
  if (field.endsWith("_s")) return `${num(value)} s`;
  return `${num(value)} ${unit}`;
}

// In a scrolling box: six columns do not fit a 360 px phone, and the page must not scroll sideways.
function table(rules) {
  return h("div", { class: "scroll" }, h("table", { id: "thr-table", class: "thr-table" },
    h("caption", {}, t("thr_caption")),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("thr_rule")),
      LIMIT_FIELDS.map((f) => h("th", { scope: "col" }, t(`thr_${f}`))), h("th", { scope: "col" }, t("thr_source")))),
    h("tbody", {}, rules.map((r) => {
      const unit = unitOf(r.metric);
      const source = r.override ? [t("thr_own"), " (", raw("span", r.set_by || ""), ")"] : t("thr_default");
      return h("tr", { dataset: { rule: r.rule, own: r.override ? "1" : "0" } },
        h("th", { scope: "row" }, word("rule_words", r.rule)),
        LIMIT_FIELDS.map((f) => h("td", { class: `thr-${f}` }, cell(r.effective[f], f, unit))),
        h("td", { class: "thr-source" }, source));
    }))));
}

// The whole set the form describes: each rule with at least one field filled in.
function fromForm(form, rules) {
  const out = {};
  for (const r of rules) {
    const limits = {};
    for (const f of LIMIT_FIELDS) {
      const text = form.elements[`${r.rule}.${f}`].value.trim();
      if (text !== "") limits[f] = Number(text);
    }
    if (Object.keys(limits).length) out[r.rule] = limits;
  }
  return out;
}

export async function fillThresholds(root, sid, { isAdmin, onSaved }) {
  let view;
  try {
    view = await get(`/stations/${encodeURIComponent(sid)}/thresholds`);
  } catch (err) {
    clear(root, h("p", { role: "alert" }, t("load_failed", sid, err.message)));
    return;
  }
  if (typingIn(root)) return; // an admin started typing while the thresholds were fetched
  const hint = h("p", { class: "sub" }, t("thr_hint"));
  if (!isAdmin) {
    clear(root, table(view.rules), hint, h("p", { class: "sub" }, t("thr_needs_admin")));
    return;
  }
  const status = h("p", { role: "status", id: "thr-result" });
  const url = `/stations/${encodeURIComponent(sid)}/thresholds`;
  const done = (message) => {
    announce(message);
    document.activeElement.blur(); // let the page's refresh redraw the card
    if (onSaved) onSaved();
  };
  const reset = h("button", { type: "button", id: "thr-reset" }, t("thr_reset"));
  reset.addEventListener("click", async () => {
    try {
      await send("DELETE", url);
      done(t("thr_was_reset"));
    } catch (err) {
      status.textContent = t("cfg_failed", err.message);
    }
  });
  const form = h("form", { id: "thr-form", class: "cfg-form" },
    view.rules.map((r) => h("fieldset", { dataset: { rule: r.rule } },
      h("legend", {}, word("rule_words", r.rule), ` (${unitOf(r.metric)})`),
      LIMIT_FIELDS.map((f) => h("label", {}, t(`thr_${f}`), " ", h("input", {
        ...limitAttrs(r, f), name: `${r.rule}.${f}`, placeholder: num(r.default[f]),
        value: r.override && r.override[f] !== null ? String(r.override[f]) : "",
      }))))),
    h("button", { type: "submit" }, t("thr_save")), " ", reset, status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!form.reportValidity()) return;
    try {
      await send("PUT", url, { rules: fromForm(form, view.rules) });
      done(t("thr_saved"));
    } catch (err) {
      status.textContent = t("cfg_failed", err.message);
    }
  });
  clear(root, table(view.rules), hint, form);
}
