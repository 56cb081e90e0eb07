// A station's desired config on its page: the version the cloud wants against the one the
// station applied, the door schedule it runs against the registry's hours, its door mode now,
// why it refused a config; for admins, the override's settable fields (door timings, free
// hours, code window, heartbeat), sent as the whole override with PUT (what is left blank
// is removed, so the form always shows and sets all of it).

import { ApiError, get, send } from "./api.js";
import { announce, clear, h, raw, typingIn, when } from "./dom.js";
import { t, word } from "./lang.js";

// [section (null: top level), key, label, input attributes]; limits as the station's own
// config checks them (edge/config.py), so a value the station would refuse is caught here.
export const FIELDS = [
  ["door", "pulse_s", "cfg_pulse", { type: "number", min: "0.1", max: "30", step: "0.1" }],
  ["door", "held_open_s", "cfg_held_open", { type: "number", min: "1", max: "3600", step: "1" }],
  ["schedule", "free", "cfg_free", { type: "text", maxlength: "500" }],
  ["access", "window_s", "cfg_window", { type: "number", min: "1", max: "600", step: "1" }],
  [null, "telemetry_interval_s", "cfg_interval", { type: "number", min: "1", max: "3600", step: "1" }],
];

function fact(label, value, cls) {
  return [h("dt", {}, label), h("dd", cls ? { class: cls } : {}, value)];
}

function valueOf(override, section, key) {
  const holder = section ? override[section] || {} : override;
  const v = holder[key];
  return v === undefined || v === null ? "" : String(v);
}

// The override the form describes: the stored one with the form's fields laid over it
// (other keys of a section, set by the CLI or the API, are kept).
function fromForm(form, stored) {
  const out = JSON.parse(JSON.stringify(stored || {}));
  for (const [section, key, , attrs] of FIELDS) {
    const raw_ = form.elements[`${section || "top"}.${key}`].value.trim();
    const value = raw_ === "" ? null : attrs.type === "number" ? Number(raw_) : raw_;
    const holder = section ? (out[section] ||= {}) : out;
    if (value === null) delete holder[key];
    else holder[key] = value;
    if (section && !Object.keys(out[section]).length) delete out[section];
  }
  return out;
}

function schedule(detail) {
  const reported = detail.meta && detail.meta.schedule;
  const registry = detail.station.opening_hours;
  if (!reported) return raw("span", t("cfg_no_schedule"));
  const same = reported.members === registry && reported.timezone === detail.station.tz;
  return h(
    "span",
    { class: same ? "" : "warn" },
    raw("span", reported.members || "—"),
    ` (${reported.timezone})`,
    same ? ` — ${t("cfg_same_as_map")}` : [` — ${t("cfg_map_says")} `, raw("span", registry)],
  );
}

export async function fillConfig(root, detail, { canRead, isAdmin, tz, onSaved }) {
  const sid = detail.station.id;
  let view = null;
  // Asked only when there is one to read (`desired_version`) and the account may (operator
  // and up): a viewer sees the station's side only.
  if (canRead && detail.desired_version !== null && detail.desired_version !== undefined) {
    try {
      view = await get(`/stations/${encodeURIComponent(sid)}/config`);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) {
        clear(root, h("p", { role: "alert" }, t("load_failed", sid, err.message)));
        return;
      }
    }
  }
  if (typingIn(root)) return; // an admin started typing while the desired config was fetched
  const applied = detail.config_version;
  const rejected = (detail.alarms || []).find((a) => a.rule === "config_rejected");
  const mode = detail.telemetry && detail.telemetry.door_mode;
  const lag = view && (applied === null || applied === undefined || applied < view.config_version);
  const facts = h(
    "dl",
    {},
    fact(t("cfg_desired"), view ? t("cfg_version", view.config_version, when(view.changed_at, tz), view.set_by) : t("cfg_none"), "cfg-desired"),
    fact(t("cfg_applied"), applied ?? "—", lag ? "cfg-applied warn" : "cfg-applied"),
    fact(t("cfg_door_mode"), mode ? word("door_mode_words", mode) : "—", "cfg-door-mode"),
    fact(t("cfg_schedule"), schedule(detail), "cfg-schedule"),
    rejected ? fact(t("cfg_rejected"), [t("station_says"), raw("span", rejected.detail || "", { lang: "und" })], "cfg-rejected") : [],
  );
  if (!isAdmin) {
    clear(root, facts, h("p", { class: "sub" }, t("cfg_needs_admin")));
    return;
  }
  const stored = view ? view.override : {};
  const status = h("p", { role: "status", id: "cfg-result" });
  const form = h(
    "form",
    { id: "cfg-form", class: "cfg-form" },
    FIELDS.map(([section, key, label, attrs]) =>
      h("label", {}, t(label), " ", h("input", { ...attrs, name: `${section || "top"}.${key}`, value: valueOf(stored, section, key) })),
    ),
    h("button", { type: "submit" }, t("cfg_save")),
    status,
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!form.reportValidity()) return;
    try {
      const saved = await send("PUT", `/stations/${encodeURIComponent(sid)}/config`, { override: fromForm(form, stored) });
      announce(t("cfg_saved", saved.config_version));
      document.activeElement.blur(); // let the page's refresh redraw the card
      if (onSaved) onSaved();
    } catch (err) {
      status.textContent = t("cfg_failed", err.message);
    }
  });
  clear(root, facts, form);
}
