// One station's page: live state, door and lock, alarms, telemetry charts, footfall per hour
// (today and the last 7 days), uptime per day, recent access decisions (reason codes only,
// no personal data), and remote unlock with confirmation and its audit trail.

import { ApiError, get, post } from "./api.js";
import { ackButton } from "./alarms.js";
import { barChart, lineChart } from "./charts.js";
import { $, ago, announce, badge, clear, duration, h, when } from "./dom.js";

const METRICS = [
  ["cpu_temp_c", "CPU temperature", " °C"],
  ["sensors.fridge_c", "Fridge", " °C"],
  ["camera_fps", "Camera frames", " fps"],
  ["decode_ms_p95", "QR decode p95", " ms"],
];
const FINAL = new Set(["ok", "failed", "expired", "error"]);

// Midnight today in the station's time zone, as a Date (zones without DST, e.g. China).
function localMidnight(tz, now = new Date()) {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(now).map((p) => [p.type, p.value]),
  );
  const wall = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  const offset = Math.round((wall - now.getTime()) / 60000) * 60000;
  return new Date(Date.UTC(+parts.year, +parts.month - 1, +parts.day) - offset);
}

function hourLabel(date, tz) {
  return new Intl.DateTimeFormat(undefined, { timeZone: tz, hour: "2-digit", hourCycle: "h23" }).format(date);
}

function hourly(points, start, hours) {
  const byStart = new Map(points.map((p) => [new Date(p.start).getTime(), p]));
  const out = [];
  for (let i = 0; i < hours; i += 1) {
    const t = start.getTime() + i * 3600000;
    const p = byStart.get(t);
    out.push({ at: new Date(t), value: p ? p.entries : null, exits: p ? p.exits : null });
  }
  return out;
}

function card(title, ...children) {
  return h("section", { class: "card" }, h("h3", {}, title), ...children);
}

function fact(label, value, cls) {
  return [h("dt", {}, label), h("dd", cls ? { class: cls } : {}, value)];
}

export class StationPage {
  constructor(root, { canAct, dialog }) {
    this.root = root;
    this.canAct = canAct;
    this.dialog = dialog;
    this.sid = null;
    this.timer = null;
    this.pending = null;
    dialog.addEventListener("close", () => this.confirmed(dialog.returnValue === "unlock"));
  }

  async open(sid) {
    this.sid = sid;
    clear(this.root, h("p", { class: "loading" }, `Loading ${sid}…`));
    await this.render();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), 30000);
  }

  close() {
    this.sid = null;
    clearInterval(this.timer);
  }

  async render() {
    const sid = this.sid;
    let detail;
    try {
      detail = await get(`/stations/${encodeURIComponent(sid)}`);
    } catch (err) {
      clear(this.root, h("p", { role: "alert" }, err instanceof ApiError && err.status === 404 ? `No station ${sid}.` : `Could not load ${sid}: ${err.message}`));
      return;
    }
    if (sid !== this.sid) return;
    this.detail = detail;
    const st = detail.station;
    const heading = h("h2", { id: "station-title", tabindex: "-1" }, st.name, " ", h("span", { class: "sub" }, st.id));
    this.parts = {
      state: h("div", { class: "card-grid", id: "station-state" }),
      alarms: h("div", { id: "station-alarms" }),
      charts: h("div", { class: "charts", id: "station-charts" }),
      footfall: h("div", { class: "charts", id: "station-footfall" }),
      uptime: h("div", { id: "station-uptime" }),
      events: h("div", { id: "station-events" }),
      commands: h("div", { id: "station-commands" }),
    };
    const unlock = this.canAct
      ? h("button", { type: "button", id: "unlock", class: "danger", onclick: () => this.askUnlock() }, "Unlock door…")
      : h("p", { class: "sub" }, "Remote unlock needs the operator role.");
    clear(
      this.root,
      h("p", {}, h("a", { href: "#fleet" }, "← Fleet")),
      heading,
      h("p", { class: "sub" }, `${st.city || "—"} · ${st.operator || "—"} · ${st.address || ""}`),
      this.parts.state,
      card("Alarms", this.parts.alarms),
      card("Remote unlock", unlock, h("p", { id: "unlock-result", role: "status" }), h("h4", {}, "Recent commands (audit trail)"), this.parts.commands),
      card("Telemetry, last 24 h", this.parts.charts),
      card("Footfall per hour", this.parts.footfall),
      card("Uptime per day, last 7 days", h("div", { class: "charts" }, this.parts.uptime)),
      card("Recent access decisions and door events", h("p", { class: "sub" }, "Reason codes only; no member data."), this.parts.events),
    );
    heading.focus();
    this.fillState(detail);
    this.fillAlarms(detail.alarms);
    await Promise.allSettled([
      this.fillCommands(), this.fillCharts(), this.fillFootfall(st.tz), this.fillUptime(), this.fillEvents(),
    ]);
  }

  async refresh() {
    if (!this.sid || !this.parts) return;
    const sid = this.sid;
    try {
      const detail = await get(`/stations/${encodeURIComponent(sid)}`);
      if (sid !== this.sid) return;
      this.detail = detail;
      this.fillState(detail);
      this.fillAlarms(detail.alarms);
      await Promise.allSettled([this.fillEvents(), this.fillCharts(), this.fillCommands()]);
    } catch (err) {
      announce(`Could not refresh ${sid}: ${err.message}`);
    }
  }

  fillState(d) {
    const t = d.telemetry || {};
    const hours = d.open_now
      ? `yes${d.closes_at ? ", closes " + when(d.closes_at) : ""}`
      : `no${d.opens_at ? ", opens " + when(d.opens_at) : ""} (hours ${d.station.opening_hours})`;
    const synced = t.clock_synced === undefined || t.clock_synced === null ? "—" : t.clock_synced ? "yes" : "NO";
    clear(
      this.parts.state,
      card("Health", h("dl", {}, fact("Health", badge(d.health)), fact("Status", d.status), fact("Reason", d.reason || "—"), fact("Maintenance", d.station.maintenance ? "yes" : "no"))),
      card("Door", h("dl", {}, fact("Door", d.door || "—", "door-state"), fact("Lock", d.lock || "—", "lock-state"), fact("Occupancy", d.occupancy ?? "—"), fact("Open now", hours), fact("Reported locked", d.reported_locked_at ? `${ago(d.reported_locked_at)} — resolve the report, or a member's entry clears it` : "no", "reported-locked"))),
      card("Link", h("dl", {}, fact("Last seen", ago(d.last_seen)), fact("Last heartbeat", ago(d.last_heartbeat)), fact("Config version", d.config_version ?? "—"), fact("Clock synced", synced))),
      card("Trust", h("dl", {}, fact("Trust list age", duration(t.trust_age_s)), fact("Revocations age", duration(t.revocation_age_s)), fact("Trust version", t.trust_version ?? "—"), fact("Journal backlog", t.journal_backlog ?? "—"))),
    );
  }

  fillAlarms(alarms) {
    if (!alarms.length) {
      clear(this.parts.alarms, h("p", {}, "No raised alarms."));
      return;
    }
    clear(
      this.parts.alarms,
      h("ul", { class: "alarm-list" }, alarms.map((a) => h(
        "li",
        { class: `sev-${a.severity}`, dataset: { alarm: a.id } },
        h("span", { class: `rule sev-${a.severity}` }, a.rule), " ",
        `${a.severity} since ${when(a.raised_at)}`, a.detail ? ` — ${a.detail}` : "", " ",
        ackButton(a, this.canAct, () => this.refresh()),
      ))),
    );
  }

  async fillCharts() {
    const sid = this.sid;
    const series = await Promise.all(
      METRICS.map(([metric]) => get(`/stations/${encodeURIComponent(sid)}/telemetry`, { metric }).catch(() => ({ points: [] }))),
    );
    if (sid !== this.sid) return;
    clear(
      this.parts.charts,
      METRICS.map(([, title, unit], i) => h("figure", {}, lineChart(series[i].points, { title, unit }), h("figcaption", {}, title))),
    );
  }

  async fillFootfall(tz) {
    const sid = this.sid;
    const now = new Date();
    const midnight = localMidnight(tz || "Asia/Shanghai", now);
    const weekStart = new Date(midnight.getTime() - 6 * 86400000);
    const path = `/footfall/stations/${encodeURIComponent(sid)}`;
    let today;
    let week;
    try {
      [today, week] = await Promise.all([
        get(path, { resolution: "hour", start: midnight.toISOString(), end: now.toISOString() }),
        get(path, { resolution: "hour", start: weekStart.toISOString(), end: now.toISOString() }),
      ]);
    } catch (err) {
      clear(this.parts.footfall, h("p", {}, `Footfall not available: ${err.message}`));
      return;
    }
    if (sid !== this.sid) return;
    const hoursToday = Math.max(1, Math.ceil((now - midnight) / 3600000));
    const todayBars = hourly(today.points, midnight, hoursToday).map((b) => ({
      label: hourLabel(b.at, tz), value: b.value, note: b.exits === null ? "" : `${b.exits} out`,
    }));
    const weekHours = Math.ceil((now - weekStart) / 3600000);
    const weekBars = hourly(week.points, weekStart, weekHours).map((b, i) => ({
      label: i % 24 === 0 ? b.at.toLocaleDateString(undefined, { weekday: "short", timeZone: tz }) : "",
      value: b.value,
    }));
    clear(
      this.parts.footfall,
      h("figure", {}, barChart(todayBars, { title: "Entries per hour today", every: 3 }), h("figcaption", {}, `Today: ${today.entries} in, ${today.exits} out`)),
      h("figure", {}, barChart(weekBars, { title: "Entries per hour, last 7 days", every: 24 }), h("figcaption", {}, `7 days: ${week.entries} in, ${week.exits} out`)),
    );
  }

  async fillUptime() {
    const sid = this.sid;
    const days = await get(`/stations/${encodeURIComponent(sid)}/uptime`, { days: 7 });
    if (sid !== this.sid) return;
    const bars = days.map((d) => ({
      label: d.day.slice(5),
      value: d.up_pct,
      cls: d.up_pct !== null && d.up_pct < 95 ? "bad" : "",
      note: d.available_pct === null ? "" : `answering ${d.available_pct}%`,
    }));
    clear(this.parts.uptime, h("figure", {}, barChart(bars, { title: "Online per day", unit: "%", max: 100 }), h("figcaption", {}, "Share of each day the station was online")));
  }

  async fillEvents() {
    const sid = this.sid;
    const page = await get(`/stations/${encodeURIComponent(sid)}/events`, { type: ["access", "door"], limit: 25 });
    if (sid !== this.sid) return;
    if (!page.items.length) {
      clear(this.parts.events, h("p", {}, "No events yet."));
      return;
    }
    clear(this.parts.events, h("table", { class: "compact" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Time"), h("th", { scope: "col" }, "Event"), h("th", { scope: "col" }, "Reason / cause"), h("th", { scope: "col" }, "Credential"))),
      h("tbody", {}, page.items.map((e) => h(
        "tr",
        { class: e.type === "access" ? (e.granted ? "granted" : "denied") : "door" },
        h("td", {}, when(e.ts), e.historical ? h("span", { class: "sub" }, " (late)") : null),
        h("td", {}, e.type === "access" ? (e.granted ? "granted" : "denied") : e.action),
        h("td", {}, h("code", {}, e.type === "access" ? e.reason : e.cause || "—")),
        h("td", {}, e.credential || "—"),
      ))),
    ));
  }

  async fillCommands() {
    const sid = this.sid;
    let rows;
    try {
      rows = await get(`/stations/${encodeURIComponent(sid)}/commands`, { limit: 10 });
    } catch (err) {
      clear(this.parts.commands, h("p", {}, `Commands not available: ${err.message}`));
      return;
    }
    if (sid !== this.sid) return;
    if (!rows.length) {
      clear(this.parts.commands, h("p", {}, "No commands sent to this station."));
      return;
    }
    clear(this.parts.commands, h("table", { class: "compact" },
      h("thead", {}, h("tr", {}, ["Requested", "Command", "By", "Result", "Detail"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows.map((c) => h(
        "tr",
        { dataset: { cmd: c.cmd_id, state: c.state } },
        h("td", {}, when(c.requested_at)),
        h("td", {}, c.name),
        h("td", {}, c.requested_by),
        h("td", { class: `cmd-${c.state}` }, c.state),
        h("td", {}, c.detail || (c.result_at ? when(c.result_at) : "—")),
      ))),
    ));
  }

  askUnlock() {
    const st = this.detail.station;
    $("#unlock-what", this.dialog).textContent = `${st.name} (${st.id})`;
    this.dialog.returnValue = "";
    this.dialog.showModal();
  }

  async confirmed(yes) {
    if (!yes || !this.sid) return;
    const sid = this.sid;
    const out = $("#unlock-result", this.root);
    out.textContent = "Sending unlock…";
    let cmd;
    try {
      cmd = await post(`/stations/${encodeURIComponent(sid)}/commands`, { name: "unlock", ttl_s: 30 });
    } catch (err) {
      out.textContent = `Unlock not sent: ${err.message}`;
      announce(out.textContent);
      return;
    }
    out.textContent = "Unlock sent; waiting for the station…";
    await this.fillCommands();
    const deadline = Date.now() + 45000;
    while (!FINAL.has(cmd.state) && Date.now() < deadline && sid === this.sid) {
      await new Promise((r) => setTimeout(r, 1000));
      try {
        cmd = await get(`/commands/${encodeURIComponent(cmd.cmd_id)}`);
      } catch {
        break;
      }
    }
    const text = cmd.state === "ok" ? "The station unlocked the door." : `Unlock ${cmd.state}${cmd.detail ? ": " + cmd.detail : ""}.`;
    out.textContent = text;
    out.dataset.state = cmd.state;
    announce(text);
    await this.refresh();
    setTimeout(() => this.refresh(), 2000); // the station's door event follows its answer
  }

  // Live: something about this station changed.
  touched(sid) {
    if (sid !== this.sid) return;
    clearTimeout(this.soon);
    this.soon = setTimeout(() => this.refresh(), 300);
  }
}
