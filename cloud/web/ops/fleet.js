// The fleet table: search and filters (city, operator, health), worst health first, paged.
// "Open now" is not a column: the table reads the health the monitor stored; whether a
// station is open right now is judged live on its station page.

import { get } from "./api.js";
import { $, ago, badge, clear, h, newestOnly, pagedFilters, raw } from "./dom.js";
import { t, word } from "./lang.js";

const PAGE = 100;

export function doorLock(s) {
  return `${s.door ? word("door_words", s.door) : "—"} / ${s.lock ? word("lock_words", s.lock) : "—"}`;
}

export class FleetTable {
  constructor(root) {
    this.root = root;
    this.offset = 0;
    this.newest = newestOnly();
    this.form = pagedFilters(root, "fleet", PAGE, this);
    this.body = $("#fleet-rows", root);
    this.count = $("#fleet-count", root);
    this.rows = new Map();
  }

  options(cities, operators) {
    const fill = (select, values) => {
      const keep = select.value;
      clear(select, h("option", { value: "" }, t("all")), values.map((v) => h("option", { value: v, translate: "no" }, v)));
      select.value = keep;
    };
    fill($("#f-city", this.root), cities);
    fill($("#f-operator", this.root), operators);
  }

  params() {
    const data = new FormData(this.form);
    return {
      q: (data.get("q") || "").trim(),
      city: data.get("city"),
      operator: data.get("operator"),
      health: data.get("health") ? [data.get("health")] : null,
      limit: PAGE,
      offset: this.offset,
    };
  }

  async load() {
    const page = await this.newest(get("/stations", this.params()));
    if (!page) return; // a newer filter's answer draws instead
    this.rows.clear();
    clear(this.body, page.items.map((s) => this.row(s)));
    if (!page.items.length) {
      this.body.appendChild(h("tr", {}, h("td", { colspan: 10 }, t("no_station_match"))));
    }
    const last = Math.min(page.total, this.offset + page.items.length);
    this.count.textContent = page.total
      ? t("fleet_count", this.offset + 1, last, page.total)
      : t("fleet_none");
    $("#fleet-prev", this.root).disabled = this.offset === 0;
    $("#fleet-next", this.root).disabled = last >= page.total;
  }

  row(s) {
    const tr = h(
      "tr",
      { dataset: { sid: s.id }, class: s.maintenance ? "in-maintenance" : null },
      h("th", { scope: "row" }, h("a", { href: `#station/${encodeURIComponent(s.id)}`, translate: "no" }, s.name), raw("div", s.id, { class: "sub" })),
      raw("td", s.city || "—"),
      raw("td", s.operator || "—"),
      h("td", { class: "c-health" }, badge(s.health), s.maintenance ? h("div", { class: "sub" }, t("maintenance")) : null),
      h("td", { class: "c-status" }, word("status_words", s.status)),
      h("td", { class: "c-door" }, doorLock(s)),
      h("td", { class: "num" }, s.occupancy ?? "—"),
      h("td", { class: "num" }, s.alarms || "0"),
      h("td", { class: "num c-feedback" }, s.feedback ? h("a", { href: `#feedback/station/${encodeURIComponent(s.id)}` }, String(s.feedback)) : "0"),
      h("td", {}, ago(s.last_seen)),
    );
    this.rows.set(s.id, tr);
    return tr;
  }

  // Live changes: update the rows on screen (order is left alone until the next load).
  update(changes) {
    for (const c of changes) {
      const tr = this.rows.get(c.id);
      if (!tr) continue;
      clear($(".c-health", tr), badge(c.health), c.maintenance ? h("div", { class: "sub" }, t("maintenance")) : null);
      tr.classList.toggle("in-maintenance", Boolean(c.maintenance));
      $(".c-status", tr).textContent = word("status_words", c.status);
      $(".c-door", tr).textContent = doorLock(c);
    }
  }
}
