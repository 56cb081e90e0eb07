// Alarm notifications (#notify, admins only; cloud/api/ops_notify.py): the channels messages
// go to (HTTP webhook, 企业微信, 钉钉, 飞书 robots, e-mail), the rules that route alarms to
// them, daily digests, a test message per channel, and the delivery log with every try.
//
// Secrets are write-only: a channel shows only whether it has one, and a robot URL comes
// back with its key cut; sending that cut URL back unchanged keeps the stored one
// (cloud.notify.service.change_channel), so editing the rest never needs the key again.

import { get, send } from "./api.js";
import { announce, clear, h, raw, when } from "./dom.js";
import { t, word } from "./lang.js";
import { values } from "./accounts.js";

const KINDS = ["webhook", "wecom", "dingtalk", "feishu", "email"];
const DONE = new Set(["sent", "failed", "dropped"]);
const POLL_MS = 1000;
const POLL_TRIES = 60; // a test's delivery: the worker's retries can take this long to end
const PAGE = 50;

const list = (v) => values(v || "");
const opt = (value, label, selected) => h("option", { value, selected: selected || null }, label);
const field = (label, input) => h("label", {}, t(label), " ", input);
const check = (name, label, on) =>
  h("label", { class: "check" }, h("input", { type: "checkbox", name, checked: on || null }), " ", t(label));

function table(id, heads, body) {
  return h("div", { class: "scroll" },
    h("table", { id }, h("thead", {}, h("tr", {}, heads.map((k) => h("th", { scope: "col" }, t(k))))), body));
}

function button(label, cls, action, onError) {
  const b = h("button", { type: "button", class: cls }, t(label));
  b.addEventListener("click", () => action().catch(onError));
  return b;
}

export class Notify {
  constructor(root) {
    this.root = root;
    this.channels = [];
    this.status = h("p", { id: "notify-status", role: "status" });
    this.channelRows = h("tbody", { id: "channel-rows" });
    this.ruleRows = h("tbody", { id: "rule-rows" });
    this.digestRows = h("tbody", { id: "digest-rows" });
    this.deliveryRows = h("tbody", { id: "delivery-rows" });
    this.channelForm = h("form", { id: "channel-form", class: "admin-form" });
    this.ruleForm = h("form", { id: "rule-form", class: "admin-form" });
    this.digestForm = h("form", { id: "digest-form", class: "admin-form" });
    this.logStatus = h("select", { id: "log-status" }, opt("", t("all")),
      ["pending", "sending", "sent", "failed", "dropped"].map((s) => opt(s, word("delivery_words", s))));
    this.logStatus.addEventListener("change", () => this.loadLog().catch((e) => this.fail(e)));
    this.more = button("nt_older", "", () => this.loadLog(true), (e) => this.fail(e));
    this.more.hidden = true;
    for (const [form, save] of [[this.channelForm, () => this.saveChannel()], [this.ruleForm, () => this.saveRule()],
      [this.digestForm, () => this.saveDigest()]]) {
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        if (form.reportValidity()) save().catch((err) => this.fail(err));
      });
    }
    const block = (id, title, ...children) => h("section", { id, class: "notify-block" }, h("h3", {}, t(title)), ...children);
    clear(
      root,
      h("h2", { id: "notify-title" }, t("notify_title")),
      h("p", { class: "hint" }, t("notify_hint")),
      this.status,
      block("notify-channels", "nt_channels",
        table("channel-table", ["nt_name", "nt_kind", "nt_target", "nt_secret", "nt_quiet", "nt_enabled", "mem_actions"], this.channelRows),
        this.channelForm),
      block("notify-rules", "nt_rules",
        table("rule-table", ["nt_name", "nt_channel", "nt_min_severity", "nt_which", "nt_escalate", "nt_enabled", "mem_actions"], this.ruleRows),
        this.ruleForm),
      block("notify-digests", "nt_digests",
        table("digest-table", ["nt_name", "nt_channel", "city", "operator", "nt_hour", "nt_enabled", "mem_actions"], this.digestRows),
        this.digestForm),
      block("notify-log", "nt_log",
        h("div", { class: "filters" }, field("nt_status", this.logStatus),
          button("nt_refresh", "", () => this.loadLog(), (e) => this.fail(e))),
        table("delivery-table", ["nt_created", "nt_channel", "nt_event", "nt_title", "nt_status", "nt_attempts", "nt_last", "nt_sent"], this.deliveryRows),
        this.more),
    );
  }

  fail(err) {
    this.status.textContent = t("nt_failed", err.message);
  }

  say(text) {
    this.status.textContent = text;
    announce(text);
  }

  async load() {
    await this.loadChannels();
    await Promise.all([this.loadRules(), this.loadDigests(), this.loadLog()]);
  }

  channelName(id) {
    const c = this.channels.find((x) => x.id === id);
    return c ? raw("span", c.name) : "—";
  }

  channelSelect(name, chosen, optional) {
    return h("select", { name, required: !optional || null },
      optional ? opt("", t("nt_none")) : "",
      this.channels.map((c) => h("option", { value: String(c.id), selected: c.id === chosen || null, translate: "no" }, c.name)));
  }

  // --- channels -------------------------------------------------------------------------------

  async loadChannels() {
    this.channels = await get("/notify/channels");
    clear(this.channelRows, this.channels.map((c) => h("tr", { dataset: { channel: String(c.id), name: c.name } },
      h("th", { scope: "row" }, raw("span", c.name)),
      h("td", {}, word("channel_words", c.kind)),
      h("td", {}, raw("span", c.target, { class: "target" })),
      h("td", {}, t(c.has_secret ? "nt_yes" : "nt_no")),
      h("td", {}, c.quiet_start ? raw("span", `${c.quiet_start}–${c.quiet_end}`) : "—"),
      h("td", {}, t(c.enabled ? "nt_yes" : "nt_no")),
      h("td", { class: "actions" },
        button("nt_test", "test", () => this.test(c), (e) => this.fail(e)), " ",
        button("nt_edit", "edit", async () => this.fillChannel(c), (e) => this.fail(e)), " ",
        button("nt_delete", "danger delete", () => this.remove(`/notify/channels/${c.id}`, t("nt_delete_channel", c.name)), (e) => this.fail(e))))));
    this.fillChannel(null);
  }

  fillChannel(c) {
    const v = c || { kind: "webhook", tz: "Asia/Shanghai", timeout_s: 10, enabled: true, quiet_bypass_critical: true };
    clear(
      this.channelForm,
      h("fieldset", {}, h("legend", {}, c ? [t("nt_edit_channel"), " ", raw("span", c.name)] : t("nt_add_channel")),
        h("input", { type: "hidden", name: "id", value: c ? String(c.id) : "" }),
        field("nt_name", h("input", { name: "name", required: true, maxlength: "80", value: v.name || "" })),
        field("nt_kind", h("select", { name: "kind" }, KINDS.map((k) => opt(k, word("channel_words", k), k === v.kind)))),
        field("nt_target", h("input", { name: "target", required: true, maxlength: "2000", size: "50", value: v.target || "", placeholder: t("nt_target_ph") })),
        field("nt_secret", h("input", { name: "secret", type: "password", maxlength: "200", autocomplete: "off",
          placeholder: t(c && c.has_secret ? "nt_secret_keep" : "nt_secret_ph") })),
        field("nt_tz", h("input", { name: "tz", maxlength: "64", value: v.tz })),
        field("nt_quiet_start", h("input", { name: "quiet_start", type: "time", value: v.quiet_start || "" })),
        field("nt_quiet_end", h("input", { name: "quiet_end", type: "time", value: v.quiet_end || "" })),
        check("quiet_bypass_critical", "nt_bypass", v.quiet_bypass_critical),
        field("nt_timeout", h("input", { name: "timeout_s", type: "number", min: "1", max: "120", step: "1", value: String(v.timeout_s) })),
        check("enabled", "nt_enabled", v.enabled),
        h("button", { type: "submit" }, t(c ? "nt_save" : "nt_add")),
        c ? button("cancel", "", async () => this.fillChannel(null), (e) => this.fail(e)) : ""),
    );
  }

  async saveChannel() {
    const f = this.channelForm.elements;
    const body = {
      name: f.name.value.trim(), kind: f.kind.value, target: f.target.value.trim(), tz: f.tz.value.trim(),
      quiet_start: f.quiet_start.value || null, quiet_end: f.quiet_end.value || null,
      quiet_bypass_critical: f.quiet_bypass_critical.checked, timeout_s: Number(f.timeout_s.value), enabled: f.enabled.checked,
    };
    const id = f.id.value;
    if (!id || f.secret.value) body.secret = f.secret.value; // editing: blank keeps the stored secret
    const saved = await send(id ? "PUT" : "POST", id ? `/notify/channels/${id}` : "/notify/channels", body);
    this.say(t("nt_saved", saved.name));
    await this.loadChannels();
    await Promise.all([this.loadRules(), this.loadDigests()]);
  }

  // Queue a test message, then follow its delivery until the worker is done with it.
  async test(c) {
    const { event_id: eventId } = await send("POST", `/notify/channels/${c.id}/test`);
    this.say(t("nt_test_queued", c.name));
    for (let i = 0; i < POLL_TRIES; i++) {
      const [d] = await get("/notify/deliveries", { event_id: eventId });
      if (d && DONE.has(d.status)) {
        this.say(d.status === "sent" ? t("nt_test_sent", c.name) : t("nt_test_failed", c.name, d.last_error || d.last_status || d.status));
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    await this.loadLog();
  }

  async remove(path, question) {
    if (!window.confirm(question)) return;
    await send("DELETE", path);
    this.say(t("nt_deleted"));
    await this.load();
  }

  // --- rules ----------------------------------------------------------------------------------

  async loadRules() {
    const rules = await get("/notify/rules");
    const which = (r) => {
      const parts = [];
      if (r.rules.length) parts.push(r.rules.map((x) => word("rule_words", x)).join("、"));
      for (const [key, vals] of [["city", r.cities], ["operator", r.operators], ["th_station", r.stations]]) {
        if (vals.length) parts.push([t(key), "：", raw("span", vals.join("、"))]);
      }
      return parts.length ? parts.flatMap((p, i) => (i ? ["；", p] : [p])) : t("nt_every_alarm");
    };
    clear(this.ruleRows, rules.map((r) => h("tr", { dataset: { rule: String(r.id) } },
      h("th", { scope: "row" }, raw("span", r.name)),
      h("td", {}, this.channelName(r.channel_id)),
      h("td", {}, word("severity_words", r.min_severity)),
      h("td", {}, which(r)),
      h("td", {}, r.escalate_channel_id ? [t("nt_escalate_after", r.escalate_after_min), " ", this.channelName(r.escalate_channel_id)] : "—"),
      h("td", {}, t(r.enabled ? "nt_yes" : "nt_no")),
      h("td", { class: "actions" },
        button("nt_edit", "edit", async () => this.fillRule(r), (e) => this.fail(e)), " ",
        button("nt_delete", "danger delete", () => this.remove(`/notify/rules/${r.id}`, t("nt_delete_rule", r.name)), (e) => this.fail(e))))));
    this.fillRule(null);
  }

  fillRule(r) {
    const v = r || { min_severity: "warning", rules: [], cities: [], operators: [], stations: [], notify_clear: true, enabled: true };
    const ruleWords = t("rule_words");
    clear(
      this.ruleForm,
      h("fieldset", {}, h("legend", {}, r ? [t("nt_edit_rule"), " ", raw("span", r.name)] : t("nt_add_rule")),
        h("input", { type: "hidden", name: "id", value: r ? String(r.id) : "" }),
        field("nt_name", h("input", { name: "name", required: true, maxlength: "80", value: v.name || "" })),
        field("nt_channel", this.channelSelect("channel_id", v.channel_id, false)),
        field("nt_min_severity", h("select", { name: "min_severity" },
          ["warning", "critical"].map((s) => opt(s, word("severity_words", s), s === v.min_severity)))),
        field("nt_alarm_rules", h("select", { name: "rules", multiple: true, size: "5" },
          Object.entries(ruleWords).map(([k, label]) => opt(k, label, v.rules.includes(k))))),
        field("city", h("input", { name: "cities", maxlength: "2000", value: v.cities.join("、"), placeholder: t("nt_any") })),
        field("operator", h("input", { name: "operators", maxlength: "2000", value: v.operators.join("、"), placeholder: t("nt_any") })),
        field("th_station", h("input", { name: "stations", maxlength: "20000", value: v.stations.join("、"), placeholder: t("nt_any") })),
        check("notify_clear", "nt_notify_clear", v.notify_clear),
        field("nt_escalate_min", h("input", { name: "escalate_after_min", type: "number", min: "1", max: "10080", step: "1", value: v.escalate_after_min ?? "" })),
        field("nt_escalate_to", this.channelSelect("escalate_channel_id", v.escalate_channel_id, true)),
        check("enabled", "nt_enabled", v.enabled),
        h("button", { type: "submit", disabled: !this.channels.length || null }, t(r ? "nt_save" : "nt_add")),
        r ? button("cancel", "", async () => this.fillRule(null), (e) => this.fail(e)) : ""),
    );
  }

  async saveRule() {
    const f = this.ruleForm.elements;
    const escalate = f.escalate_after_min.value;
    const body = {
      name: f.name.value.trim(), channel_id: Number(f.channel_id.value), min_severity: f.min_severity.value,
      rules: [...f.rules.selectedOptions].map((o) => o.value), cities: list(f.cities.value),
      operators: list(f.operators.value), stations: list(f.stations.value), notify_clear: f.notify_clear.checked,
      escalate_after_min: escalate ? Number(escalate) : null,
      escalate_channel_id: f.escalate_channel_id.value ? Number(f.escalate_channel_id.value) : null,
      enabled: f.enabled.checked,
    };
    const id = f.id.value;
    const saved = await send(id ? "PUT" : "POST", id ? `/notify/rules/${id}` : "/notify/rules", body);
    this.say(t("nt_saved", saved.name));
    await this.loadRules();
  }

  // --- digests --------------------------------------------------------------------------------

  async loadDigests() {
    const digests = await get("/notify/digests");
    clear(this.digestRows, digests.map((d) => h("tr", { dataset: { digest: String(d.id) } },
      h("th", { scope: "row" }, raw("span", d.name)),
      h("td", {}, this.channelName(d.channel_id)),
      h("td", {}, d.city ? raw("span", d.city) : t("all")),
      h("td", {}, d.operator ? raw("span", d.operator) : t("all")),
      h("td", {}, t("nt_at_hour", d.hour)),
      h("td", {}, t(d.enabled ? "nt_yes" : "nt_no")),
      h("td", { class: "actions" },
        button("nt_delete", "danger delete", () => this.remove(`/notify/digests/${d.id}`, t("nt_delete_digest", d.name)), (e) => this.fail(e))))));
    clear(
      this.digestForm,
      h("fieldset", {}, h("legend", {}, t("nt_add_digest")),
        field("nt_name", h("input", { name: "name", required: true, maxlength: "80" })),
        field("nt_channel", this.channelSelect("channel_id", null, false)),
        field("city", h("input", { name: "city", maxlength: "60", placeholder: t("all") })),
        field("operator", h("input", { name: "operator", maxlength: "120", placeholder: t("all") })),
        field("nt_hour", h("input", { name: "hour", type: "number", min: "0", max: "23", step: "1", value: "8", required: true })),
        check("enabled", "nt_enabled", true),
        h("button", { type: "submit", disabled: !this.channels.length || null }, t("nt_add"))),
    );
  }

  async saveDigest() {
    const f = this.digestForm.elements;
    const body = {
      name: f.name.value.trim(), channel_id: Number(f.channel_id.value), city: f.city.value.trim() || null,
      operator: f.operator.value.trim() || null, hour: Number(f.hour.value), enabled: f.enabled.checked,
    };
    const saved = await send("POST", "/notify/digests", body);
    this.say(t("nt_saved", saved.name));
    await this.loadDigests();
  }

  // --- the delivery log -----------------------------------------------------------------------

  async loadLog(older = false) {
    const before = older ? this.oldest : null;
    const rows = await get("/notify/deliveries", { status: this.logStatus.value, before, limit: PAGE });
    const drawn = rows.map((d) => h("tr", { dataset: { delivery: String(d.id), event: String(d.event_id), status: d.status } },
      h("td", {}, when(d.created_at)),
      h("td", {}, d.channel ? raw("span", d.channel) : "—"),
      h("td", {}, word("event_words", d.kind)),
      h("td", {}, raw("span", d.title, { lang: "und" })),
      h("td", { class: `delivery-status st-${d.status}` }, word("delivery_words", d.status)),
      h("td", { class: "attempts" }, String(d.attempts)),
      h("td", {}, d.last_error ? raw("span", d.last_error, { lang: "und" }) : d.last_status ?? "—"),
      h("td", {}, d.sent_at ? when(d.sent_at) : "—")));
    if (older) drawn.forEach((r) => this.deliveryRows.appendChild(r));
    else clear(this.deliveryRows, drawn);
    if (rows.length) this.oldest = rows[rows.length - 1].id;
    this.more.hidden = rows.length < PAGE;
  }
}
