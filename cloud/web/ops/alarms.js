// The alarm inbox: newest first, filters, acknowledge (operators; viewers read only). Live
// `alarm` events insert or update rows without a reload.

import { get, post } from "./api.js";
import { $, announce, clear, h, newestOnly, raw, when } from "./dom.js";
import { alarmValue, duration, known, since, t, word } from "./lang.js";

const where = (alarm) =>
  alarm.station_id == null ? t("cloud") : alarm.station_name || alarm.station_id;

// The rule in words, its meaning as a tooltip, the rule's code kept for the curious.
export function ruleLabel(alarm) {
  const name = known("rule_words", alarm.rule)
    ? word("rule_words", alarm.rule)
    : raw("span", alarm.rule); // a rule a newer station invented: its code
  return h("span", { class: `rule sev-${alarm.severity}`, dataset: { rule: alarm.rule } }, name);
}

// "已持续 12 分钟" while raised (kept current by `tick`), "持续了 …" once cleared.
export function lasting(alarm) {
  const start = alarm.since || alarm.raised_at;
  if (alarm.state === "cleared" && alarm.cleared_at && start) {
    const s = (new Date(alarm.cleared_at) - new Date(start)) / 1000;
    return h("span", { class: "lasting" }, t("lasted", duration(s)));
  }
  return h("span", { class: "lasting", dataset: { since: start || "" } }, t("lasting", since(start)));
}

export function tick(root) {
  for (const el of root.querySelectorAll(".lasting[data-since]")) {
    if (el.dataset.since) el.textContent = t("lasting", since(el.dataset.since));
  }
}

export function ackButton(alarm, canAct, onDone) {
  if (alarm.acknowledged_at) {
    return h("span", { class: "acked" }, t("acked_by", alarm.acknowledged_by || "?"));
  }
  if (!canAct) return h("span", { class: "sub" }, t("not_acked_ro"));
  const rule = word("rule_words", alarm.rule);
  return h(
    "button",
    {
      type: "button",
      class: "ack",
      "aria-label": t("ack_label", rule, where(alarm)),
      onclick: async (e) => {
        const button = e.currentTarget;
        button.disabled = true;
        try {
          const after = await post(`/alarms/${alarm.id}/ack`);
          announce(t("ack_done", word("rule_words", after.rule), where(after)));
          onDone(after);
        } catch (err) {
          button.disabled = false;
          announce(t("ack_failed", err.message));
        }
      },
    },
    t("acknowledge"),
  );
}

export class AlarmInbox {
  constructor(root, { canAct }) {
    this.root = root;
    this.canAct = canAct;
    this.body = $("#alarm-rows", root);
    this.form = $("#alarm-filters", root);
    this.more = $("#alarm-more", root);
    this.rows = new Map();
    this.next = null;
    this.newest = newestOnly();
    this.form.addEventListener("change", () => this.load());
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.load();
    });
    this.more.addEventListener("click", () => this.load(this.next));
    setInterval(() => tick(this.body), 30000);
  }

  params(before) {
    const data = new FormData(this.form);
    return {
      state: data.get("state") || "raised",
      unacknowledged: data.get("unacknowledged") ? "true" : null,
      severity: data.get("severity"),
      limit: 50,
      before,
    };
  }

  matches(alarm) {
    const p = this.params();
    if (p.state !== "all" && alarm.state !== p.state) return false;
    if (p.unacknowledged && alarm.acknowledged_at) return false;
    if (p.severity && alarm.severity !== p.severity) return false;
    return true;
  }

  async load(before = null) {
    // Filters changed quickly (or the first load still on its way when one is changed) send
    // requests that may answer out of order: only the newest is drawn.
    const page = await this.newest(get("/alarms", this.params(before)));
    if (!page) return;
    if (!before) {
      this.rows.clear();
      clear(this.body);
    }
    for (const alarm of page.items) this.body.appendChild(this.row(alarm));
    this.next = page.next_before;
    this.more.hidden = !this.next;
    this.empty();
  }

  empty() {
    const none = $("#alarm-empty", this.root);
    none.hidden = this.rows.size > 0;
  }

  row(alarm) {
    const station = alarm.station_id == null
      ? t("cloud") // an alarm about the cloud itself (cloud_blind): no station page
      : [
        h("a", { href: `#station/${encodeURIComponent(alarm.station_id)}`, translate: "no" }, alarm.station_name || alarm.station_id),
        h("div", { class: "sub" }, raw("span", alarm.station_city || ""), alarm.station_city ? " · " : "", raw("span", alarm.station_id)),
      ];
    const value = alarmValue(alarm);
    const tr = h(
      "tr",
      { dataset: { alarm: alarm.id, state: alarm.state, rule: alarm.rule, severity: alarm.severity }, class: `sev-${alarm.severity}` },
      h("td", {}, when(alarm.raised_at, alarm.station_tz)),
      h("th", { scope: "row" }, station),
      h("td", {}, ruleLabel(alarm), known("rule_help", alarm.rule) ? h("div", { class: "sub" }, word("rule_help", alarm.rule)) : null),
      h("td", {}, word("severity_words", alarm.severity)),
      h(
        "td",
        { class: "c-state" },
        word("state_words", alarm.state),
        h("div", { class: "sub" }, lasting(alarm)),
        alarm.cleared_at ? h("div", { class: "sub" }, t("cleared_at", when(alarm.cleared_at, alarm.station_tz))) : null,
      ),
      h(
        "td",
        { class: "c-detail" },
        value ? h("div", { class: "value" }, value) : null,
        alarm.detail ? h("div", { class: "sub" }, t("station_says"), raw("span", alarm.detail, { lang: "und" })) : null,
        alarm.occurrences > 1 ? h("div", { class: "sub" }, t("times", alarm.occurrences)) : null,
        !value && !alarm.detail && alarm.occurrences <= 1 ? "—" : null,
      ),
      h("td", { class: "c-ack" }, ackButton(alarm, this.canAct, (after) => this.upsert(after))),
    );
    const old = this.rows.get(alarm.id);
    if (old) old.replaceWith(tr);
    this.rows.set(alarm.id, tr);
    return tr;
  }

  // A live change: update the row, or put a new alarm on top if the filters let it in.
  upsert(alarm) {
    const present = this.rows.has(alarm.id);
    if (!this.matches(alarm)) {
      if (present) {
        this.rows.get(alarm.id).remove();
        this.rows.delete(alarm.id);
      }
      this.empty();
      return;
    }
    const tr = this.row(alarm);
    if (!present) this.body.prepend(tr);
    this.empty();
  }
}
