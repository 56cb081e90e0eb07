// One station's page: live state, door and lock, alarms, telemetry charts, footfall per hour
// (today and the last 7 days), uptime per day, recent access decisions (reason codes only,
// no personal data), and remote unlock with confirmation and its audit trail. Times are the
// station's wall time (its registry `tz`).

import { ApiError, get, post } from "./api.js";
import { ackButton, lasting, ruleLabel } from "./alarms.js";
import { barChart, lineChart } from "./charts.js";
import { fillConfig } from "./config.js";
import { fillThresholds } from "./thresholds.js";
import { fillManage } from "./stationedit.js";
import { $, ago, announce, badge, clear, duration, h, raw, typingIn, when } from "./dom.js";
import { doorLock } from "./fleet.js";
import { stationFeedback } from "./inbox.js";
import { fillMaintenance } from "./maintenance.js";
import { DEFAULT_TZ, alarmValue, dayLabel, hourLabel, t, weekday, word } from "./lang.js";

const METRICS = [
  ["cpu_temp_c", "metric_cpu", " °C"],
  ["sensors.fridge_c", "metric_fridge", " °C"],
  ["camera_fps", "metric_fps", " fps"],
  ["decode_ms_p95", "metric_decode", " ms"],
];
const FINAL = new Set(["ok", "failed", "expired", "error"]);
const UNLOCK_TTL_S = 30;
// A station in one of these states has a live link: a command reaches it at once.
const REACHABLE = new Set(["online", "degraded"]);

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

function hourly(points, start, hours) {
  const byStart = new Map(points.map((p) => [new Date(p.start).getTime(), p]));
  const out = [];
  for (let i = 0; i < hours; i += 1) {
    const at = start.getTime() + i * 3600000;
    const p = byStart.get(at);
    out.push({ at: new Date(at), value: p ? p.entries : null, exits: p ? p.exits : null });
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
  constructor(root, { canAct, isAdmin = false, dialog }) {
    this.root = root;
    this.canAct = canAct;
    this.isAdmin = isAdmin;
    this.dialog = dialog;
    this.sid = null;
    this.timer = null;
    this.pending = null;
    dialog.addEventListener("close", () => this.confirmed(dialog.returnValue === "unlock"));
  }

  async open(sid) {
    // The previous station's refresh timer goes first: left running while this page draws
    // (seconds on a slow link), it redrew the new page's cards under an operator's typing.
    clearInterval(this.timer);
    this.sid = sid;
    clear(this.root, h("p", { class: "loading" }, t("loading", sid)));
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
      clear(this.root, h("p", { role: "alert" }, err instanceof ApiError && err.status === 404 ? t("no_station", sid) : t("load_failed", sid, err.message)));
      return;
    }
    if (sid !== this.sid) return;
    this.detail = detail;
    const st = detail.station;
    this.tz = st.tz || DEFAULT_TZ;
    const heading = h("h2", { id: "station-title", tabindex: "-1" }, raw("span", st.name), " ", raw("span", st.id, { class: "sub" }));
    this.parts = {
      state: h("div", { class: "card-grid", id: "station-state" }),
      alarms: h("div", { id: "station-alarms" }),
      charts: h("div", { class: "charts", id: "station-charts" }),
      footfall: h("div", { class: "charts", id: "station-footfall" }),
      uptime: h("div", { id: "station-uptime" }),
      events: h("div", { id: "station-events" }),
      commands: h("div", { id: "station-commands" }),
      config: h("div", { id: "station-config" }),
      thresholds: h("div", { id: "station-thresholds" }),
      feedback: h("div", { id: "station-feedback" }),
      manage: h("div", { id: "station-manage" }),
      maintenance: h("div", { id: "station-maintenance" }),
    };
    const unlock = this.canAct
      ? h("button", { type: "button", id: "unlock", class: "danger", onclick: () => this.askUnlock() }, t("unlock_button"))
      : h("p", { class: "sub" }, t("unlock_needs_operator"));
    clear(
      this.root,
      h("p", {}, h("a", { href: "#fleet" }, t("back_fleet"))),
      heading,
      h("p", { class: "sub", translate: "no" }, `${st.city || "—"} · ${st.operator || "—"} · ${st.address || ""}`),
      this.parts.state,
      card(t("card_alarms"), this.parts.alarms),
      card(t("card_feedback"), this.parts.feedback),
      card(t("card_unlock"), unlock, h("p", { id: "unlock-result", role: "status" }), h("h4", {}, t("recent_commands")), this.parts.commands),
      card(t("card_manage"), this.parts.manage),
      card(t("card_maintenance"), this.parts.maintenance),
      card(t("card_config"), this.parts.config, h("h4", {}, t("thr_title")), this.parts.thresholds),
      card(t("card_telemetry"), this.parts.charts),
      card(t("card_footfall"), this.parts.footfall),
      card(t("card_uptime"), h("div", { class: "charts" }, this.parts.uptime)),
      card(t("card_events"), h("p", { class: "sub" }, t("reason_codes_only")), this.parts.events),
    );
    heading.focus();
    this.fillState(detail);
    this.fillAlarms(detail.alarms);
    fillManage(this.parts.manage, detail, { canAct: this.canAct, onChanged: () => this.render() });
    await Promise.allSettled([
      this.fillCommands(), this.fillCharts(), this.fillFootfall(this.tz), this.fillUptime(), this.fillEvents(),
      this.fillConfig(), stationFeedback(this.parts.feedback, sid), this.fillMaintenance(),
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
      await Promise.allSettled([this.fillEvents(), this.fillCharts(), this.fillCommands(), this.fillConfig(), this.fillMaintenance()]);
    } catch (err) {
      announce(t("refresh_failed", sid, err.message));
    }
  }

  fillState(d) {
    const t_ = d.telemetry || {};
    const tz = this.tz;
    const hours = d.open_now
      ? t("open_yes", d.closes_at ? when(d.closes_at, tz) : null)
      : t("open_no", d.opens_at ? when(d.opens_at, tz) : null, raw("span", d.station.opening_hours));
    const closed = d.closed_reason ? h("div", { class: "sub" }, word("closed_reason_words", d.closed_reason)) : null;
    const synced = t_.clock_synced === undefined || t_.clock_synced === null ? "—" : t_.clock_synced ? t("yes") : t("clock_not_synced");
    const age = (s) => (s === null || s === undefined ? "—" : t("ago_short", duration(s)));
    clear(
      this.parts.state,
      card(t("card_health"), h("dl", {}, fact(t("f_health"), badge(d.health)), fact(t("f_status"), word("status_words", d.status), "status"), fact(t("f_reason"), d.reason ? raw("span", d.reason) : "—"), fact(t("f_maintenance"), d.station.maintenance || d.maintenance_reason ? t("yes") : t("no")))),
      card(t("card_door"), h("dl", {}, fact(t("f_door"), d.door ? word("door_words", d.door) : "—", "door-state"), fact(t("f_lock"), d.lock ? word("lock_words", d.lock) : "—", "lock-state"), fact(t("f_occupancy"), d.occupancy ?? "—"), fact(t("f_open_now"), [hours, closed]), fact(t("f_reported_locked"), d.reported_locked_at ? t("reported_locked", ago(d.reported_locked_at)) : t("no"), "reported-locked"))),
      card(t("card_link"), h("dl", {}, fact(t("f_last_seen"), ago(d.last_seen)), fact(t("f_heartbeat"), ago(d.last_heartbeat)), fact(t("f_config"), d.config_version ?? "—"), fact(t("f_clock"), synced))),
      card(t("card_trust"), h("dl", {}, fact(t("f_trust_age"), age(t_.trust_age_s)), fact(t("f_revocation_age"), age(t_.revocation_age_s)), fact(t("f_trust_version"), t_.trust_version ?? "—"), fact(t("f_backlog"), t_.journal_backlog ?? "—"))),
    );
  }

  fillConfig() {
    // Not while an admin is typing into the form: the 30 s refresh would wipe it.
    const onSaved = () => this.refresh();
    return Promise.allSettled([
      typingIn(this.parts.config) ? null : fillConfig(this.parts.config, this.detail, { canRead: this.canAct, isAdmin: this.isAdmin, tz: this.tz, onSaved }),
      typingIn(this.parts.thresholds) ? null : fillThresholds(this.parts.thresholds, this.sid, { isAdmin: this.isAdmin, onSaved }),
    ]);
  }

  fillMaintenance() {
    return fillMaintenance(this.parts.maintenance, this.sid, { canAct: this.canAct, tz: this.tz, onChanged: () => this.refresh() });
  }

  fillAlarms(alarms) {
    if (!alarms.length) {
      clear(this.parts.alarms, h("p", {}, t("no_raised")));
      return;
    }
    clear(
      this.parts.alarms,
      h("ul", { class: "alarm-list" }, alarms.map((a) => {
        const value = alarmValue(a);
        return h(
          "li",
          { class: `sev-${a.severity}`, dataset: { alarm: a.id, rule: a.rule } },
          ruleLabel(a), " ",
          t("alarm_line", word("severity_words", a.severity), when(a.raised_at, this.tz), ""), lasting(a),
          value ? ` — ${value}` : "", a.detail ? [" — ", t("station_says"), raw("span", a.detail, { lang: "und" })] : "", " ",
          ackButton(a, this.canAct, () => this.refresh()),
        );
      })),
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
      METRICS.map(([, key, unit], i) => h("figure", {}, lineChart(series[i].points, { title: t(key), unit, tz: this.tz }), h("figcaption", {}, t(key)))),
    );
  }

  async fillFootfall(tz) {
    const sid = this.sid;
    const now = new Date();
    const midnight = localMidnight(tz, now);
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
      clear(this.parts.footfall, h("p", {}, t("footfall_na", err.message)));
      return;
    }
    if (sid !== this.sid) return;
    const hoursToday = Math.max(1, Math.ceil((now - midnight) / 3600000));
    const todayBars = hourly(today.points, midnight, hoursToday).map((b) => ({
      label: hourLabel(b.at, tz), value: b.value, note: b.exits === null ? "" : t("out_n", b.exits),
    }));
    const weekHours = Math.ceil((now - weekStart) / 3600000);
    const weekBars = hourly(week.points, weekStart, weekHours).map((b, i) => ({
      label: i % 24 === 0 ? weekday(b.at, tz) : "",
      value: b.value,
    }));
    clear(
      this.parts.footfall,
      h("figure", {}, barChart(todayBars, { title: t("today_title"), every: 3 }), h("figcaption", {}, t("today_caption", today.entries, today.exits))),
      h("figure", {}, barChart(weekBars, { title: t("week_title"), every: 24 }), h("figcaption", {}, t("week_caption", week.entries, week.exits))),
    );
  }

  async fillUptime() {
    const sid = this.sid;
    const days = await get(`/stations/${encodeURIComponent(sid)}/uptime`, { days: 7 });
    if (sid !== this.sid) return;
    const bars = days.map((d) => ({
      label: dayLabel(d.day),
      value: d.up_pct,
      cls: d.up_pct !== null && d.up_pct < 95 ? "bad" : "",
      note: d.available_pct === null ? "" : t("answering", d.available_pct),
    }));
    clear(this.parts.uptime, h("figure", {}, barChart(bars, { title: t("uptime_title"), unit: "%", max: 100 }), h("figcaption", {}, t("uptime_caption"))));
  }

  async fillEvents() {
    const sid = this.sid;
    const page = await get(`/stations/${encodeURIComponent(sid)}/events`, { type: ["access", "door"], limit: 25 });
    if (sid !== this.sid) return;
    if (!page.items.length) {
      clear(this.parts.events, h("p", {}, t("no_events")));
      return;
    }
    const code = (group, value) => (value
      ? [word(group, value), " ", h("code", { translate: "no" }, value)]
      : "—");
    clear(this.parts.events, h("table", { class: "compact" },
      h("thead", {}, h("tr", {}, ["th_time", "th_event", "th_reason", "th_credential"].map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, page.items.map((e) => h(
        "tr",
        { class: e.type === "access" ? (e.granted ? "granted" : "denied") : "door", dataset: { action: e.type === "access" ? (e.granted ? "granted" : "denied") : e.action, cause: e.cause || e.reason || "" } },
        h("td", {}, when(e.ts, this.tz), e.historical ? h("span", { class: "sub" }, t("late")) : null),
        h("td", {}, e.type === "access" ? t(e.granted ? "granted" : "denied") : word("door_action_words", e.action)),
        h("td", {}, e.type === "access" ? code("access_words", e.reason) : code("cause_words", e.cause)),
        h("td", { translate: "no" }, e.credential || "—"),
      ))),
    ));
  }

  async fillCommands() {
    const sid = this.sid;
    let rows;
    try {
      rows = await get(`/stations/${encodeURIComponent(sid)}/commands`, { limit: 10 });
    } catch (err) {
      clear(this.parts.commands, h("p", {}, t("commands_na", err.message)));
      return;
    }
    if (sid !== this.sid) return;
    if (!rows.length) {
      clear(this.parts.commands, h("p", {}, t("no_commands")));
      return;
    }
    clear(this.parts.commands, h("table", { class: "compact" },
      h("thead", {}, h("tr", {}, ["th_requested", "th_command", "th_by", "th_result", "th_cmd_detail"].map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, rows.map((c) => h(
        "tr",
        { dataset: { cmd: c.cmd_id, state: c.state, name: c.name } },
        h("td", {}, when(c.requested_at, this.tz)),
        h("td", {}, word("cmd_words", c.name)),
        raw("td", c.requested_by),
        h("td", { class: `cmd-${c.state}` }, word("cmd_state_words", c.state)),
        h("td", {}, c.detail ? raw("span", c.detail) : c.result_at ? when(c.result_at, this.tz) : "—"),
      ))),
    ));
  }

  // Before the dialog: the station's state right now. A station without a live link gets a
  // warning in the dialog (the command expires in 30 s and the door stays shut).
  async askUnlock() {
    const sid = this.sid;
    try {
      const detail = await get(`/stations/${encodeURIComponent(sid)}`);
      if (sid !== this.sid) return;
      this.detail = detail;
      this.fillState(detail);
    } catch {
      /* the state from the last refresh, then */
    }
    const d = this.detail;
    const st = d.station;
    $("#unlock-what", this.dialog).textContent = `${st.name} (${st.id})`;
    $("#unlock-what", this.dialog).setAttribute("translate", "no");
    const warning = $("#unlock-warning", this.dialog);
    const reachable = REACHABLE.has(d.status);
    warning.hidden = reachable;
    warning.textContent = reachable ? "" : t("unlock_offline", word("status_words", d.status), ago(d.last_seen));
    this.dialog.dataset.reachable = String(reachable);
    $("#unlock-confirm", this.dialog).textContent = reachable ? t("unlock") : t("unlock_offline_send");
    this.dialog.returnValue = "";
    this.dialog.showModal();
  }

  async confirmed(yes) {
    if (!yes || !this.sid) return;
    const sid = this.sid;
    const out = $("#unlock-result", this.root);
    out.dataset.state = "sending";
    out.textContent = t("sending_unlock");
    let cmd;
    try {
      cmd = await post(`/stations/${encodeURIComponent(sid)}/commands`, { name: "unlock", ttl_s: UNLOCK_TTL_S });
    } catch (err) {
      out.dataset.state = "not-sent";
      out.textContent = t("unlock_not_sent", err.message);
      announce(out.textContent);
      return;
    }
    out.dataset.state = cmd.state;
    out.textContent = t("unlock_waiting", UNLOCK_TTL_S);
    await this.fillCommands();
    // The server calls it expired once its expiry and a grace for the answer have passed.
    const deadline = new Date(cmd.expires_at).getTime() + 15000;
    while (!FINAL.has(cmd.state) && Date.now() < deadline && sid === this.sid) {
      await new Promise((r) => setTimeout(r, 1000));
      try {
        cmd = await get(`/commands/${encodeURIComponent(cmd.cmd_id)}`);
      } catch {
        break;
      }
      if (!FINAL.has(cmd.state)) {
        const left = Math.max(0, Math.round((new Date(cmd.expires_at).getTime() - Date.now()) / 1000));
        out.textContent = t("unlock_waiting", left);
      }
    }
    await this.fillCommands(); // the trail shows the outcome by the time the result does
    const text = {
      ok: () => t("unlock_ok"),
      expired: () => t("unlock_expired"),
      failed: () => t("unlock_failed", cmd.detail),
      error: () => t("unlock_error", cmd.detail),
    }[cmd.state];
    out.textContent = text ? text() : t("unlock_unknown");
    out.dataset.state = cmd.state;
    announce(out.textContent);
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
