// The workers' feedback inbox: reports and suggestions in one list (state, kind, city,
// station, mine; paged), one item's detail with assign, reply and resolve / decline
// (operators; viewers read only), and a station page's open feedback. What workers typed and
// the replies are inserted as text, never markup. The worker's ticket page shows the reply,
// never who handled it (cloud.feedback.inbox).

import { get, post } from "./api.js";
import { $, announce, clear, h, newestOnly, pagedFilters, raw, when } from "./dom.js";
import { t, word } from "./lang.js";

const PAGE = 50;
const REPLY_MAX = 1000; // as cloud.feedback.models.REPLY_MAX
// Closing buttons per kind: [outcome, label key, button class].
const CLOSE = {
  report: [["resolved", "fb_resolve", ""], ["declined", "fb_decline", "ghost"]],
  suggestion: [["closed", "fb_resolve", ""], ["declined", "fb_decline", "ghost"]],
};
const FINAL = new Set(["resolved", "declined", "built", "closed"]);

const path = (item) => `/feedback/${item.kind}/${item.id}`;
export const itemHash = (item) => `#feedback/${item.kind}/${item.id}`;

// What it is about, in words: a report's kind, or "suggested station: <name>".
function subject(item) {
  if (item.kind === "report") return word("fb_category_words", item.category);
  return [t("fb_suggested"), raw("span", item.name || "")];
}

function where(item) {
  if (item.kind === "report") {
    return [
      h("a", { href: `#station/${encodeURIComponent(item.station_id)}`, translate: "no" }, item.station_name || item.station_id),
      h("div", { class: "sub" }, raw("span", item.city || ""), item.city ? " · " : "", raw("span", item.station_id)),
    ];
  }
  return [
    raw("span", item.city || t("fb_no_city")),
    h("div", { class: "sub", translate: "no" }, `${item.lat.toFixed(5)}, ${item.lon.toFixed(5)}`),
  ];
}

function stateText(item) {
  const who = item.assignee && !FINAL.has(item.state) ? [" · ", t("fb_assigned_to"), raw("span", item.assignee)] : null;
  return [word("fb_state_words", item.state), who];
}

export class FeedbackInbox {
  constructor(root, { canAct }) {
    this.root = root;
    this.canAct = canAct;
    this.newest = newestOnly();
    this.form = pagedFilters(root, "feedback", PAGE, this);
    this.body = $("#feedback-rows", root);
    this.count = $("#feedback-count", root);
    this.detail = $("#feedback-detail", root);
    this.offset = 0;
  }

  cities(values) {
    const select = $("#fb-city", this.root);
    const keep = select.value;
    clear(select, h("option", { value: "" }, t("all")), values.map((v) => h("option", { value: v, translate: "no" }, v)));
    select.value = keep;
  }

  // `#feedback/station/<sid>`: the list for one station (from its page).
  forStation(sid) {
    $("#fb-station", this.root).value = sid;
    this.offset = 0;
  }

  params() {
    const data = new FormData(this.form);
    return {
      state: data.get("state") || "unresolved",
      kind: data.get("kind"),
      city: data.get("city"),
      station: (data.get("station") || "").trim(),
      mine: data.get("mine") ? "true" : null,
      limit: PAGE,
      offset: this.offset,
    };
  }

  async load() {
    const page = await this.newest(get("/feedback", this.params()));
    if (!page) return; // a newer filter's answer draws instead
    clear(this.body, page.items.map((item) => this.row(item)));
    if (!page.items.length) this.body.appendChild(h("tr", {}, h("td", { colspan: 6 }, t("fb_none"))));
    const last = Math.min(page.total, this.offset + page.items.length);
    this.count.textContent = page.total ? t("fb_count", this.offset + 1, last, page.total) : "";
    $("#feedback-prev", this.root).disabled = this.offset === 0;
    $("#feedback-next", this.root).disabled = last >= page.total;
  }

  row(item) {
    return h(
      "tr",
      { dataset: { kind: item.kind, item: item.id, state: item.state } },
      h("td", {}, when(item.created_at)),
      h("th", { scope: "row" }, h("a", { href: itemHash(item) }, subject(item))),
      h("td", {}, where(item)),
      h("td", { class: "fb-text" }, raw("span", item.text || "—", { lang: "und" })),
      h("td", { class: "c-state" }, stateText(item)),
      h("td", {}, item.reply ? t("yes") : t("no")),
    );
  }

  // One item: what the worker said, and (operators) assign, reply, close.
  async show(kind, id) {
    clear(this.detail, h("p", { class: "loading" }, t("fb_loading")));
    this.detail.hidden = false;
    let item;
    try {
      item = await get(`/feedback/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`);
    } catch (err) {
      clear(this.detail, h("p", { role: "alert" }, t("fb_load_failed", err.message)));
      return;
    }
    this.render(item);
  }

  render(item) {
    const final = FINAL.has(item.state);
    const facts = h(
      "dl",
      {},
      h("dt", {}, t("fb_what")), h("dd", { class: "fb-subject" }, subject(item)),
      h("dt", {}, t("fb_where")), h("dd", {}, where(item)),
      h("dt", {}, t("fb_when")), h("dd", {}, when(item.created_at)),
      h("dt", {}, t("fb_ticket")), h("dd", { translate: "no" }, item.ticket || "—"),
      h("dt", {}, t("fb_state")), h("dd", { id: "fb-state", dataset: { state: item.state } }, stateText(item)),
      h("dt", {}, t("fb_worker_text")), h("dd", { class: "fb-text" }, raw("span", item.text || "—", { lang: "und" })),
      h("dt", {}, t("fb_reply")), h("dd", { id: "fb-reply-now", class: "fb-text" }, item.reply ? raw("span", item.reply, { lang: "und" }) : t("fb_no_reply")),
    );
    const parts = [h("h3", { id: "fb-detail-title", tabindex: "-1" }, t("fb_detail")), facts];
    if (this.canAct) {
      parts.push(this.assignForm(item), this.replyForm(item));
      if (!final) {
        parts.push(h("div", { class: "actions" }, CLOSE[item.kind].map(([outcome, key, cls]) => h(
          "button",
          { type: "button", class: cls, dataset: { outcome }, onclick: (e) => this.close(item, outcome, e.currentTarget) },
          t(key),
        ))));
      }
    } else {
      parts.push(h("p", { class: "sub" }, t("fb_needs_operator")));
    }
    parts.push(h("p", { id: "fb-result", role: "status" }));
    clear(this.detail, parts);
    $("#fb-detail-title", this.detail).focus();
  }

  assignForm(item) {
    const select = h("select", { id: "fb-assignee", name: "assignee" }, h("option", { value: "" }, t("fb_nobody")));
    get(`${path(item)}/assignees`).then((names) => {
      for (const n of names) select.appendChild(h("option", { value: n, translate: "no" }, n));
      select.value = item.assignee || "";
    }).catch((err) => announce(t("fb_failed", err.message)));
    return h(
      "form",
      { class: "filters", id: "fb-assign-form", onsubmit: (e) => {
        e.preventDefault();
        this.act(item, "assign", { assignee: select.value || null }, e.submitter);
      } },
      h("label", {}, h("span", {}, t("fb_assignee")), select),
      h("button", { type: "submit" }, t("fb_assign")),
    );
  }

  replyForm(item) {
    const box = h("textarea", { id: "fb-reply", name: "text", maxlength: REPLY_MAX, rows: 3, required: true });
    box.value = item.reply || "";
    return h(
      "form",
      { id: "fb-reply-form", onsubmit: (e) => {
        e.preventDefault();
        this.act(item, "reply", { text: box.value }, e.submitter);
      } },
      h("label", { class: "block" }, h("span", {}, t("fb_reply_label")), box),
      h("p", { class: "sub" }, t("fb_reply_hint")),
      h("button", { type: "submit" }, t("fb_send_reply")),
    );
  }

  async close(item, outcome, button) {
    const note = $("#fb-reply", this.detail);
    const body = { outcome };
    if (note && note.value.trim() && note.value.trim() !== (item.reply || "")) body.note = note.value;
    await this.act(item, "close", body, button);
  }

  async act(item, action, body, button) {
    if (button) button.disabled = true;
    try {
      const after = await post(`${path(item)}/${action}`, body);
      this.render(after);
      const done = t(`fb_done_${action}`);
      $("#fb-result", this.detail).textContent = done;
      announce(done);
      await this.load();
    } catch (err) {
      if (button) button.disabled = false;
      announce(t("fb_failed", err.message));
    }
  }
}

// A station page's open feedback: up to 10 newest, each a link to the inbox.
export async function stationFeedback(el, sid) {
  const page = await get("/feedback", { station: sid, state: "unresolved", limit: 10 });
  const more = h("a", { href: `#feedback/station/${encodeURIComponent(sid)}` }, t("fb_all_for_station"));
  if (!page.items.length) {
    clear(el, h("p", {}, t("fb_none_open")), more);
    return;
  }
  clear(
    el,
    h("p", {}, t("fb_open_n", page.total)),
    h("ul", { class: "feedback-list" }, page.items.map((item) => h(
      "li",
      { dataset: { item: item.id } },
      h("a", { href: itemHash(item) }, subject(item)), " · ", when(item.created_at), " · ", stateText(item),
      item.text ? h("div", { class: "sub fb-text" }, raw("span", item.text, { lang: "und" })) : null,
    ))),
    more,
  );
}
