// The alarm inbox: newest first, filters, acknowledge (operators; viewers read only). Live
// `alarm` events insert or update rows without a reload.

import { get, post } from "./api.js";
import { $, announce, clear, h, when } from "./dom.js";

export function ackButton(alarm, canAct, onDone) {
  if (alarm.acknowledged_at) {
    return h("span", { class: "acked" }, `Acknowledged by ${alarm.acknowledged_by || "?"}`);
  }
  if (!canAct) return h("span", { class: "sub" }, "Not acknowledged (read-only)");
  return h(
    "button",
    {
      type: "button",
      class: "ack",
      "aria-label": `Acknowledge ${alarm.rule} at ${alarm.station_id ?? "the cloud"}`,
      onclick: async (e) => {
        const button = e.currentTarget;
        button.disabled = true;
        try {
          const after = await post(`/alarms/${alarm.id}/ack`);
          announce(`Alarm ${after.rule} at ${after.station_id ?? "the cloud"} acknowledged`);
          onDone(after);
        } catch (err) {
          button.disabled = false;
          announce(`Could not acknowledge: ${err.message}`);
        }
      },
    },
    "Acknowledge",
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
    this.form.addEventListener("change", () => this.load());
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.load();
    });
    this.more.addEventListener("click", () => this.load(this.next));
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
    const page = await get("/alarms", this.params(before));
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
    const tr = h(
      "tr",
      { dataset: { alarm: alarm.id, state: alarm.state }, class: `sev-${alarm.severity}` },
      h("td", {}, when(alarm.raised_at)),
      // station_id null: an alarm about the cloud itself (cloud_blind), no station page.
      h("th", { scope: "row" }, alarm.station_id == null ? "(cloud)" : h("a", { href: `#station/${encodeURIComponent(alarm.station_id)}` }, alarm.station_id)),
      h("td", {}, h("span", { class: `rule sev-${alarm.severity}` }, alarm.rule)),
      h("td", {}, alarm.severity),
      h("td", { class: "c-state" }, alarm.state, alarm.cleared_at ? h("div", { class: "sub" }, `cleared ${when(alarm.cleared_at)}`) : null),
      h("td", {}, [alarm.detail || "", alarm.value !== null ? ` (${alarm.value})` : ""]),
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
