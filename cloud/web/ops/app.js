// The ops dashboard: who is logged in, the views (#map, #fleet, #alarms, #station/ID,
// #feedback[/KIND/ID | /station/SID]) and the live stream that keeps them current without a
// reload.

import { Accounts, scopeText } from "./accounts.js";
import { adminViews } from "./adminviews.js";
import { get, logout, me } from "./api.js";
import { AlarmInbox } from "./alarms.js";
import { $, announce, clear, h, raw } from "./dom.js";
import { FleetTable } from "./fleet.js";
import { FeedbackInbox } from "./inbox.js";
import { connect } from "./live.js";
import { applyStatic, t, word } from "./lang.js";
import { FleetMap } from "./map.js";
import { StationPage } from "./station.js";
import { ReportsPage } from "./reports.js";
import { ManagePage } from "./stationedit.js";

const VIEWS = ["map", "fleet", "alarms", "station", "feedback", "accounts", "reports", "manage", ...adminViews.names];

function summary(el, f) {
  const item = (cls, n, label) => h("li", { class: cls }, h("strong", {}, String(n)), " ", label);
  clear(
    el,
    h("ul", {},
      item("health-ok", f.by_health.ok, t("summary_ok")),
      item("health-degraded", f.by_health.degraded, t("summary_degraded")),
      item("health-down", f.by_health.down, t("summary_down")),
      item("health-unknown", f.by_health.unknown, t("summary_unknown")),
      item("alarms", f.alarms_raised, t("summary_alarms")),
      item("unacked", f.alarms_unacknowledged, t("summary_unacked")),
    ),
  );
  const badgeEl = $("#alarm-badge");
  badgeEl.textContent = f.alarms_unacknowledged ? String(f.alarms_unacknowledged) : "";
  badgeEl.hidden = !f.alarms_unacknowledged;
}

async function main() {
  applyStatic();
  const who = await me();
  const canAct = who.role === "operator" || who.role === "admin";
  document.body.dataset.role = who.role;
  clear($("#who"), raw("span", who.username), ` (${word("role_words", who.role)})`);
  clear($("#scope"), scopeText(who.scope));
  $("#scope").dataset.everything = String(!who.scope || who.scope.everything);
  $("#logout").addEventListener("click", () => logout());
  const isAdmin = who.role === "admin";
  $("#nav-accounts").hidden = !isAdmin;
  const accounts = isAdmin ? new Accounts($("#view-accounts")) : null;
  adminViews.start(isAdmin);
  $("#nav-manage").hidden = !canAct;
  const manage = new ManagePage($("#view-manage"));

  const config = await get("/map-config");
  const fleetMap = new FleetMap($("#map-canvas"), config, {});
  window.waystationOps = { map: fleetMap };
  const table = new FleetTable($("#view-fleet"));
  const inbox = new AlarmInbox($("#view-alarms"), { canAct });
  const station = new StationPage($("#view-station"), { canAct, isAdmin, dialog: $("#unlock-dialog") });
  const feedback = new FeedbackInbox($("#view-feedback"), { canAct });
  const reports = new ReportsPage($("#view-reports"), who);
  const loaded = { fleet: false, alarms: false, accounts: false, feedback: false, reports: false };

  async function show() {
    const hash = decodeURIComponent(window.location.hash.slice(1)) || "map";
    const [view, ...rest] = hash.split("/");
    const allowed = VIEWS.includes(view) && ((view !== "accounts" && !adminViews.names.includes(view)) || isAdmin) && (view !== "manage" || canAct);
    const name = allowed ? view : "map";
    for (const v of VIEWS) $(`#view-${v}`).hidden = v !== name;
    for (const link of document.querySelectorAll("nav a")) {
      if (link.getAttribute("href") === `#${name}`) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (name !== "station") station.close();
    if (name === "map") fleetMap.invalidate();
    if (name === "fleet" && !loaded.fleet) {
      loaded.fleet = true;
      await table.load();
    }
    if (name === "alarms" && !loaded.alarms) {
      loaded.alarms = true;
      await inbox.load();
    }
    if (name === "accounts" && !loaded.accounts) {
      loaded.accounts = true;
      await accounts.load();
    }
    if (name === "station") await station.open(rest.join("/"));
    await adminViews.show(name);
    if (name === "feedback") {
      if (rest[0] === "station") feedback.forStation(rest.slice(1).join("/"));
      if (!loaded.feedback || rest[0] === "station") await feedback.load();
      loaded.feedback = true;
      if (rest[0] === "report" || rest[0] === "suggestion") await feedback.show(rest[0], rest[1]);
    }
    if (name === "reports" && !loaded.reports) {
      loaded.reports = true;
      await reports.load();
    }
    if (name === "manage") manage.open(rest.join("/"));
  }

  window.addEventListener("hashchange", () => show().catch((e) => announce(e.message)));

  connect(
    {
      fleet: (f) => summary($("#fleet-summary"), f),
      alarm: (a) => {
        inbox.upsert(a);
        station.touched(a.station_id);
        if (a.state === "raised" && !a.acknowledged_at) {
          const where = a.station_id == null ? t("cloud") : a.station_name || a.station_id;
          announce(t("alarm_new", word("rule_words", a.rule), word("severity_words", a.severity), where));
        }
      },
      stations: (changes) => {
        fleetMap.update(changes);
        table.update(changes);
        for (const c of changes) station.touched(c.id);
      },
      resync: () => {
        if (loaded.alarms) inbox.load();
        if (loaded.fleet) table.load();
        station.refresh();
      },
      closed: () => me().catch(() => {}),
    },
    $("#live-status"),
  );

  await show();
  await fleetMap.load();
  table.options(fleetMap.cities(), fleetMap.operators());
  adminViews.context.map = fleetMap;
  feedback.cities(fleetMap.cities());
}

main().catch((err) => {
  const box = document.getElementById("fatal");
  if (box) {
    box.hidden = false;
    box.textContent = t("fatal", err.message);
  }
});
