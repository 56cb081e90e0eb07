// One config change for many stations (#bulkconfig, admins only): pick stations by city,
// operator and/or ids, set or clear the same fields as a station's config card (config.js:
// door timings, free hours, code window, heartbeat), preview how many stations match and
// which, then apply after a confirmation (POST /ops/config/bulk). A field left blank keeps
// each station's own value; "clear" removes it (the station's default then applies).
// Below, one sensor alarm threshold for the same stations (POST /ops/thresholds/bulk,
// thresholds.js): judged by the cloud, not sent; previewed and applied with the config.

import { get, post } from "./api.js";
import { announce, clear, h, raw } from "./dom.js";
import { FIELDS } from "./config.js";
import { t, word } from "./lang.js";
import { LIMIT_FIELDS, limitAttrs, unitOf } from "./thresholds.js";
import { values } from "./accounts.js";

const SHOWN = 50; // the API lists the first 50 matching stations

function choice(name, label, options) {
  return h("label", {}, t(label), " ",
    h("select", { name }, h("option", { value: "" }, t("all")),
      options.map((v) => h("option", { value: v, translate: "no" }, v))));
}

export class BulkConfig {
  constructor(root) {
    this.root = root;
    this.form = h("form", { id: "bulk-form", class: "admin-form" });
    this.preview = h("div", { id: "bulk-preview", role: "status" });
    this.apply = h("button", { type: "button", id: "bulk-apply", class: "danger", disabled: true }, t("bulk_apply"));
    this.apply.addEventListener("click", () => this.send(true).catch((e) => this.fail(e)));
    this.result = h("p", { id: "bulk-result", role: "status" });
    this.previewed = null; // the request body the preview was for
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (this.form.reportValidity()) this.send(false).catch((err) => this.fail(err));
    });
    this.form.addEventListener("input", () => this.stale());
    this.form.addEventListener("change", () => this.stale());
    clear(root, h("h2", { id: "bulk-title" }, t("bulk_title")), h("p", { class: "hint" }, t("bulk_hint")),
      this.form, this.preview, this.apply, this.result);
  }

  async load() {
    const [data, rules] = await Promise.all([get("/map/stations"), get("/thresholds")]);
    this.rules = rules;
    const at = Object.fromEntries(data.fields.map((f, i) => [f, i]));
    const distinct = (field) => [...new Set(data.rows.map((r) => r[at[field]]).filter(Boolean))].sort();
    clear(
      this.form,
      h("fieldset", {}, h("legend", {}, t("bulk_which")),
        choice("city", "city", distinct("city")), " ",
        choice("operator", "operator", distinct("operator")), " ",
        h("label", {}, t("bulk_ids"), " ",
          h("textarea", { name: "ids", rows: "2", cols: "40", maxlength: "200000", placeholder: t("bulk_ids_ph") }))),
      h("fieldset", {}, h("legend", {}, t("bulk_what")),
        FIELDS.map(([section, key, label, attrs]) => {
          const name = `${section || "top"}.${key}`;
          return h("div", { class: "bulk-field" },
            h("label", {}, t(label), " ", h("input", { ...attrs, name, placeholder: t("bulk_keep") })), " ",
            h("label", { class: "check" }, h("input", { type: "checkbox", name: `clear:${name}` }), " ", t("bulk_clear")));
        })),
      this.thresholdFields(),
      h("button", { type: "submit", id: "bulk-preview-button" }, t("bulk_preview")),
    );
  }

  thresholdFields() {
    const limits = h("div", { id: "bulk-thr-limits", class: "bulk-field" });
    const pick = h("select", { name: "thr.rule" }, h("option", { value: "" }, t("bulk_thr_none")),
      this.rules.map((r) => h("option", { value: r.rule }, word("rule_words", r.rule))));
    const show = () => {
      const rule = this.rules.find((r) => r.rule === pick.value);
      clear(limits, rule ? [
        LIMIT_FIELDS.map((f) => h("label", {}, t(`thr_${f}`), f.endsWith("_s") ? "" : ` (${unitOf(rule.metric)})`, " ",
          h("input", { ...limitAttrs(rule, f), name: `thr.${f}`, placeholder: String(rule.default[f]) }))),
        h("label", { class: "check" }, h("input", { type: "checkbox", name: "thr.clear" }), " ", t("bulk_thr_clear")),
      ] : "");
    };
    pick.addEventListener("change", show);
    return h("fieldset", { id: "bulk-thr" }, h("legend", {}, t("bulk_thr")),
      h("div", { class: "bulk-field" }, h("label", {}, t("bulk_thr_rule"), " ", pick), limits));
  }

  // {rule: limits} (null: back to the default) the threshold fields describe, or null.
  thresholdRules() {
    const f = this.form.elements;
    const rule = f["thr.rule"] && f["thr.rule"].value;
    if (!rule) return null;
    if (f["thr.clear"].checked) return { [rule]: null };
    const limits = {};
    for (const name of LIMIT_FIELDS) {
      const text = f[`thr.${name}`].value.trim();
      if (text !== "") limits[name] = Number(text);
    }
    return Object.keys(limits).length ? { [rule]: limits } : null;
  }

  // The request the form describes; null fields the admin wants cleared, blank ones left out.
  body() {
    const f = this.form.elements;
    const out = { sections: {} };
    if (f.city.value) out.city = f.city.value;
    if (f.operator.value) out.operator = f.operator.value;
    const ids = values(f.ids.value);
    if (ids.length) out.stations = ids;
    for (const [section, key, , attrs] of FIELDS) {
      const name = `${section || "top"}.${key}`;
      const text = f[name].value.trim();
      let value;
      if (f[`clear:${name}`].checked) value = null;
      else if (text !== "") value = attrs.type === "number" ? Number(text) : text;
      else continue;
      if (section) (out.sections[section] ||= {})[key] = value;
      else out.sections[key] = value;
    }
    const rules = this.thresholdRules();
    if (rules) out.thresholds = rules;
    return out;
  }

  stale() {
    this.previewed = null;
    this.apply.disabled = true;
  }

  fail(err) {
    this.result.textContent = t("bulk_failed", err.message);
  }

  async send(apply) {
    const body = this.body();
    const { thresholds: rules, ...config } = body;
    const hasConfig = Object.keys(body.sections).length > 0;
    if (!hasConfig && !rules) throw new Error(t("bulk_no_fields"));
    if (!body.city && !body.operator && !body.stations) throw new Error(t("bulk_no_stations"));
    if (apply) {
      if (JSON.stringify(body) !== this.previewed) return;
      if (!window.confirm(t("bulk_confirm", this.matched))) return;
    }
    this.result.textContent = "";
    // The thresholds first: checked by the cloud alone, a bad limit stops before any config goes out.
    const { sections, ...which } = config;
    const thr = rules ? await post("/thresholds/bulk", { ...which, rules, apply }) : null;
    const out = hasConfig ? await post("/config/bulk", { ...config, apply }) : { ...thr, published: 0 };
    const more = out.matched - Math.min(out.matched, SHOWN);
    clear(
      this.preview,
      h("p", { id: "bulk-matched", dataset: { matched: String(out.matched) } }, t(apply ? "bulk_applied" : "bulk_matched", out.matched, out.published),
        apply && thr ? `; ${t("bulk_thr_done")}` : ""),
      out.station_ids.length
        ? h("ul", { id: "bulk-stations", class: "inline-list" }, out.station_ids.map((sid) =>
          h("li", { dataset: { sid } }, h("a", { href: `#station/${encodeURIComponent(sid)}` }, raw("span", sid)))))
        : "",
      more ? h("p", {}, t("bulk_more", more)) : "",
    );
    if (apply) {
      announce(t("bulk_applied", out.matched, out.published));
      this.stale();
    } else {
      this.matched = out.matched;
      this.previewed = JSON.stringify(body);
      this.apply.disabled = out.matched === 0;
    }
  }
}
