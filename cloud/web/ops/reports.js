// Monthly reports (#reports): choose a month and a grouping (partner, city, station), read
// the tables, download them as CSV, or print them. The print view (style.css, `@media
// print`) drops the header, the nav and the form, keeps the title — scope and month — and
// starts each table on its own page. Figures and units are the API's (docs/operations.md):
// uptime is the share of published opening time a station was open and live.

import { scopeText } from "./accounts.js";
import { get, url } from "./api.js";
import { $, clear, h, newestOnly, raw } from "./dom.js";
import { duration, lang, num, t, word } from "./lang.js";

const BY = ["operator", "city", "station"];

function thisMonth() {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai", year: "numeric", month: "2-digit" })
    .formatToParts(new Date());
  const part = (type) => parts.find((p) => p.type === type).value;
  return `${part("year")}-${part("month")}`;
}

function pct(v) {
  return v === null || v === undefined ? t("rep_no_live") : `${num(v, 2)}%`;
}

function table(id, caption, heads, rows) {
  return h("div", { class: "scroll" },
    h("table", { id, class: "report-table" },
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, heads.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows),
    ),
  );
}

export class ReportsPage {
  constructor(root, who) {
    this.root = root;
    this.who = who;
    this.report = null;
    this.newest = newestOnly();
    const month = h("input", { type: "month", id: "rep-month", name: "month", required: true, value: thisMonth() });
    const by = h("select", { id: "rep-by", name: "by" },
      BY.map((b) => h("option", { value: b }, word("rep_by_words", b))));
    this.download = h("a", { id: "rep-csv", class: "button", download: "" }, t("rep_csv"));
    this.form = h("form", { id: "report-form", class: "filters no-print" },
      h("label", {}, h("span", {}, t("rep_month")), " ", month),
      h("label", {}, h("span", {}, t("rep_by")), " ", by),
      h("button", { type: "submit" }, t("rep_show")),
      this.download,
      h("button", { type: "button", id: "rep-print", onclick: () => window.print() }, t("rep_print")),
    );
    this.form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.load();
    });
    this.form.addEventListener("change", () => this.load());
    this.title = h("h2", { id: "report-title" }, t("rep_title"));
    this.status = h("p", { id: "report-status", role: "status" });
    this.body = h("div", { id: "report-body" });
    clear(root, this.title, this.form, this.status, this.body);
  }

  params() {
    return { month: $("#rep-month", this.root).value, by: $("#rep-by", this.root).value };
  }

  async load() {
    const p = this.params();
    if (!/^\d{4}-\d{2}$/.test(p.month)) return;
    this.download.setAttribute("href", url("/reports/monthly", { ...p, format: "csv", lang: lang === "en" ? "en" : "zh" }));
    clear(this.status, t("rep_loading"));
    // Only the newest request draws: an older month's answer arriving late (changing the
    // grouping, then the month) must not replace the month asked for last.
    let report;
    try {
      report = await this.newest(get("/reports/monthly", p));
    } catch (err) {
      clear(this.status, t("rep_failed", err.message));
      clear(this.body);
      return;
    }
    if (!report) return;
    this.report = report;
    this.render(this.report);
  }

  render(r) {
    const [y, m] = r.month.split("-").map(Number);
    clear(this.title, t("rep_heading", y, m), " · ", scopeText(this.who.scope));
    clear(this.status, r.complete ? t("rep_complete") : t("rep_partial"), " ", t("rep_by_is", word("rep_by_words", r.by)));
    const rows = [...r.rows, { ...r.total, key: null }];
    const name = (row) => {
      if (row.key === null) return h("th", { scope: "row" }, t("rep_total"));
      const label = r.by === "station" && row.name ? `${row.name} (${row.key})` : row.key || t("rep_blank");
      return h("th", { scope: "row" }, raw("span", label));
    };
    const reasons = Object.keys(r.total.denied_by_reason);
    const uptime = table("rep-uptime", t("rep_uptime_caption"),
      [t("rep_group"), t("rep_stations"), t("rep_live_stations"), t("rep_due_h"), t("rep_live_h"), t("rep_uptime")],
      rows.map((row) => h("tr", { dataset: { key: row.key ?? "" } }, name(row),
        h("td", {}, String(row.stations)),
        h("td", {}, `${row.live_stations} / ${row.schedule_stations}`),
        h("td", {}, num(row.due_h, 1)), h("td", {}, num(row.live_h, 1)),
        h("td", { class: "uptime" }, pct(row.uptime_pct)))));
    const doors = table("rep-doors", t("rep_doors_caption"),
      [t("rep_group"), t("rep_granted"), t("rep_denied"), ...reasons.map((x) => word("access_words", x)), t("rep_in"), t("rep_out")],
      rows.map((row) => h("tr", { dataset: { key: row.key ?? "" } }, name(row), h("td", {}, String(row.granted)), h("td", {}, String(row.denied)),
        reasons.map((x) => h("td", {}, String(row.denied_by_reason[x] || 0))),
        h("td", {}, String(row.entries)), h("td", {}, String(row.exits)))));
    const alarms = table("rep-alarms", t("rep_alarms_caption"),
      [t("rep_group"), t("rep_alarms"), t("rep_unacked"), t("rep_ack_p50"), t("rep_ack_p90"), t("rep_clear_p50"), t("rep_clear_p90")],
      rows.map((row) => h("tr", { dataset: { key: row.key ?? "" } }, name(row), h("td", {}, String(row.alarms)), h("td", {}, String(row.unacknowledged)),
        [row.ack_p50_s, row.ack_p90_s, row.clear_p50_s, row.clear_p90_s].map((s) => h("td", {}, duration(s))))));
    const parts = [
      h("section", { class: "report-part" }, uptime, h("p", { class: "hint" }, t("rep_uptime_hint"))),
      h("section", { class: "report-part" }, doors),
      h("section", { class: "report-part" }, alarms, h("p", { class: "hint" }, t("rep_alarms_hint"))),
    ];
    if (r.no_agent.length) {
      parts.push(h("section", { class: "report-part" },
        table("rep-no-agent", t("rep_no_agent_caption", r.no_agent.length),
          [t("th_station"), t("th_city"), t("th_operator"), t("rep_hours")],
          r.no_agent.map((s) => h("tr", {}, h("td", {}, raw("span", `${s.name} (${s.id})`)),
            h("td", {}, raw("span", s.city)), h("td", {}, raw("span", s.operator)),
            h("td", {}, raw("span", s.opening_hours)))))));
    }
    clear(this.body, parts);
  }
}
