// Stations managed from the dashboard (cloud/api/ops_stations.py): the "manage" card on a
// station's page (entrance hint, phone, edit, retire or reinstate), the station form (a map
// picker that takes "lat,lng" in WGS-84 or GCJ-02, an hours helper, amenity checkboxes),
// and the #manage view: a new station, or a registry file imported with a preview first.
// The server checks every field by the registry's rules and says which one is wrong; the
// form shows that message as it comes. Data from the database goes in as text only.

import { ApiError, get, post, send, upload } from "./api.js";
import { announce, clear, h, raw } from "./dom.js";
import { lang, t, when } from "./lang.js";

// [field, label key, input attributes]; limits as protocol/registry.py checks them.
const TEXT_FIELDS = [
  ["name", "se_name", { maxlength: "120", required: true }],
  ["address", "se_address", { maxlength: "255" }],
  ["city", "se_city", { maxlength: "60" }],
  ["operator", "se_operator", { maxlength: "120" }],
  ["capacity", "se_capacity", { type: "number", min: "0", max: "100000", step: "1" }],
  ["entrance_hint", "se_entrance", { maxlength: "200" }],
  ["contact_phone", "se_phone", { maxlength: "32", pattern: "[0-9+\\- ]*", inputmode: "tel" }],
];
const DAYS = [["Mo-Su", "se_days_all"], ["Mo-Fr", "se_days_work"], ["Sa-Su", "se_days_weekend"]];
let vocabulary = null; // the amenity vocabulary, asked once
let mapConfig = null;

function message(err) {
  // FastAPI's own 422 names the field in `loc`; ours start with the field's name.
  if (err instanceof ApiError && Array.isArray(err.body)) {
    return err.body.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
  }
  return err.message;
}

function fact(label, value, cls) {
  return [h("dt", {}, label), h("dd", { class: cls }, value)];
}

// The card on a station's page.
export function fillManage(root, detail, { canAct, onChanged }) {
  const st = detail.station;
  const sid = st.id;
  const phone = st.contact_phone ? h("a", { href: `tel:${st.contact_phone.replace(/[^0-9+]/g, "")}`, translate: "no" }, st.contact_phone) : "—";
  const facts = h(
    "dl", {},
    fact(t("se_entrance"), st.entrance_hint ? raw("span", st.entrance_hint) : "—", "se-entrance"),
    fact(t("se_phone"), phone, "se-phone"),
    st.retired_at ? fact(t("se_retired"), when(st.retired_at, st.tz), "se-retired") : [],
  );
  if (!canAct) {
    clear(root, facts);
    return;
  }
  const status = h("p", { role: "status", id: "se-result" });
  const formBox = h("div", { id: "se-form-box" });
  const edit = h("button", { type: "button", id: "se-edit", onclick: () => {
    clear(formBox, stationForm(st, { onSaved: onChanged }));
    edit.hidden = true;
  } }, t("se_edit"));
  const retiring = !st.retired_at;
  const retire = h("button", { type: "button", id: "se-retire", class: retiring ? "danger" : "", onclick: async () => {
    if (!window.confirm(retiring ? t("se_retire_confirm", st.name) : t("se_reinstate_confirm", st.name))) return;
    try {
      await post(`/stations/${encodeURIComponent(sid)}/${retiring ? "retire" : "reinstate"}`);
      announce(retiring ? t("se_retired_done", st.name) : t("se_reinstated_done", st.name));
      if (onChanged) onChanged();
    } catch (err) {
      status.textContent = t("se_failed", message(err));
    }
  } }, retiring ? t("se_retire") : t("se_reinstate"));
  clear(root, facts, h("p", {}, edit, " ", retire), status, formBox);
}

async function amenityWords() {
  vocabulary ||= await get("/amenities");
  return vocabulary;
}

function hoursHelper(input) {
  const days = h("select", { name: "hours_days", "aria-label": t("se_days") }, DAYS.map(([v, k]) => h("option", { value: v }, t(k))));
  const from = h("input", { type: "time", name: "hours_from", value: "08:00", "aria-label": t("se_from") });
  const to = h("input", { type: "time", name: "hours_to", value: "20:00", "aria-label": t("se_to") });
  const fill = h("button", { type: "button", id: "se-hours-fill", onclick: () => {
    input.value = `${days.value} ${from.value}-${to.value}`;
  } }, t("se_hours_fill"));
  const allDay = h("button", { type: "button", onclick: () => { input.value = "24/7"; } }, t("se_hours_24"));
  return h("div", { class: "se-hours" }, days, " ", from, " – ", to, " ", fill, " ", allDay);
}

// "31.23,121.47" (or with "，" or spaces) → [lat, lng]; null if it is not that.
function parseLatLng(text) {
  const m = text.trim().match(/^(-?\d+(?:\.\d+)?)\s*[,，\s]\s*(-?\d+(?:\.\d+)?)$/);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

async function mapPicker(coords, datum, start) {
  const box = h("div", { class: "se-map", id: "se-map", role: "application", "aria-label": t("se_map_label") });
  const L = window.L;
  if (!L) return box;
  mapConfig ||= await get("/map-config");
  queueMicrotask(() => {
    const map = L.map(box, { minZoom: 3, maxZoom: mapConfig.max_zoom || 18, zoomControl: false });
    map.attributionControl.setPrefix(false); // as the fleet map: no English link title
    L.control.zoom({ zoomInTitle: t("zoom_in"), zoomOutTitle: t("zoom_out") }).addTo(map);
    if (mapConfig.tile_url) L.tileLayer(mapConfig.tile_url, { attribution: mapConfig.attribution || "" }).addTo(map);
    const at = start || [35.0, 110.0];
    map.setView(at, start ? 15 : 4);
    const pin = L.divIcon({ className: "se-pin", iconSize: [18, 18] }); // no image files needed
    const marker = L.marker(at, { draggable: true, keyboard: false, icon: pin }).addTo(map);
    const set = (ll) => {
      marker.setLatLng(ll);
      coords.value = `${ll.lat.toFixed(6)},${ll.lng.toFixed(6)}`;
      datum.value = "wgs84"; // the map's own coordinates
    };
    map.on("click", (ev) => set(ev.latlng));
    marker.on("dragend", () => set(marker.getLatLng()));
    coords.addEventListener("change", () => {
      const ll = parseLatLng(coords.value);
      if (!ll) return;
      marker.setLatLng(ll);
      map.panTo(ll);
    });
    setTimeout(() => map.invalidateSize(), 50);
  });
  return box;
}

// The station form: `st` to edit one, null for a new station.
export function stationForm(st, { onSaved }) {
  const creating = !st;
  const status = h("p", { role: "status", id: "se-form-result" });
  const form = h("form", { id: "se-form", class: "se-form", novalidate: true });
  const hours = h("input", { name: "opening_hours", maxlength: "255", value: st ? st.opening_hours : "24/7", id: "se-hours" });
  const coords = h("input", { name: "coords", id: "se-coords", placeholder: "31.230400,121.473700", value: st ? `${st.lat},${st.lon}` : "", required: true });
  const datum = h("select", { name: "coord_system", id: "se-datum", "aria-label": t("se_datum") },
    h("option", { value: "wgs84" }, t("se_wgs84")), h("option", { value: "gcj02" }, t("se_gcj02")));
  const amenityBox = h("fieldset", { class: "se-amenities", id: "se-amenities" }, h("legend", {}, t("se_amenities")));
  const fields = TEXT_FIELDS.map(([name, label, attrs]) => {
    const value = st && st[name] !== null && st[name] !== undefined ? String(st[name]) : "";
    return h("label", {}, t(label), " ", h("input", { ...attrs, name, value }));
  });
  clear(
    form,
    creating ? h("label", {}, t("se_id"), " ", h("input", { name: "id", required: true, pattern: "[a-z0-9-]{3,40}", placeholder: "bz-001", translate: "no" })) : [],
    fields,
    h("label", {}, [t("se_hours"), " ", raw("span", "Mo-Su 08:00-20:00 · 24/7", { class: "sub" })], " ", hours), hoursHelper(hours),
    h("label", {}, t("se_coords"), " ", coords), datum,
    amenityBox,
    h("button", { type: "submit", id: "se-save" }, creating ? t("se_create") : t("se_save")),
    status,
  );
  amenityWords().then((words) => {
    const have = new Set(st ? st.amenities : []);
    for (const a of words) {
      amenityBox.append(h("label", { class: "se-amenity" }, h("input", { type: "checkbox", name: "amenity", value: a.name, checked: have.has(a.name) }), " ", lang === "en" ? a.en : a.zh));
    }
  }).catch((err) => { status.textContent = t("se_failed", err.message); });
  mapPicker(coords, datum, st ? [st.lat, st.lon] : null).then((map) => form.insertBefore(map, amenityBox));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const ll = parseLatLng(coords.value);
    if (!ll) {
      status.textContent = t("se_bad_coords");
      coords.focus();
      return;
    }
    const body = { lat: ll[0], lon: ll[1], coord_system: datum.value, opening_hours: hours.value.trim() };
    for (const [name, , attrs] of TEXT_FIELDS) {
      const v = form.elements[name].value.trim();
      body[name] = attrs.type === "number" ? (v === "" ? null : Number(v)) : v;
    }
    body.amenities = [...form.querySelectorAll("input[name=amenity]:checked")].map((i) => i.value);
    try {
      let saved;
      if (creating) {
        body.id = form.elements.id.value.trim();
        saved = await post("/stations", body);
      } else {
        // only what changed, so the audit log shows exactly that
        for (const k of Object.keys(body)) if (k !== "coord_system" && same(st[k], body[k])) delete body[k];
        if (body.coord_system === "wgs84" && !("lat" in body) && !("lon" in body)) delete body.coord_system;
        saved = await send("PATCH", `/stations/${encodeURIComponent(st.id)}`, body);
      }
      announce(saved.changed ? t("se_saved", saved.station_id) : t("se_unchanged"));
      if (onSaved) onSaved(saved.station_id);
    } catch (err) {
      status.textContent = t("se_failed", message(err));
    }
  });
  return form;
}

function same(a, b) {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x) => b.includes(x));
  if (typeof a === "number" && typeof b === "number") return Math.abs(a - b) < 1e-7;
  return (a ?? "") === (b ?? "");
}

// The #manage view: #manage/new (a new station) or #manage/import (a registry file).
export class ManagePage {
  constructor(root) {
    this.root = root;
  }

  open(what) {
    const tabs = h("p", { class: "se-tabs" }, h("a", { href: "#manage/new" }, t("se_new")), " · ", h("a", { href: "#manage/import" }, t("se_import")));
    if (what === "import") clear(this.root, h("h2", { id: "manage-title", tabindex: "-1" }, t("se_import")), tabs, importForm());
    else {
      const form = stationForm(null, { onSaved: (sid) => { window.location.hash = `#station/${encodeURIComponent(sid)}`; } });
      clear(this.root, h("h2", { id: "manage-title", tabindex: "-1" }, t("se_new")), tabs, form);
    }
    this.root.querySelector("h2").focus();
  }
}

function importForm() {
  const file = h("input", { type: "file", id: "se-file", accept: ".csv,.geojson,.json,text/csv,application/geo+json" });
  const text = h("textarea", { id: "se-text", rows: "8", translate: "no", placeholder: "id,name,lat,lon,amenities,opening_hours,operator,address,city" });
  const format = h("select", { id: "se-format", "aria-label": t("se_format") }, h("option", { value: "csv" }, "CSV"), h("option", { value: "geojson" }, "GeoJSON"));
  const result = h("div", { id: "se-import-result", role: "status" });
  let bytes = null; // the chosen file's bytes (any encoding); null: the pasted text
  const apply = h("button", { type: "button", id: "se-apply", disabled: true }, t("se_apply"));
  file.addEventListener("change", async () => {
    const f = file.files[0];
    bytes = f ? new Uint8Array(await f.arrayBuffer()) : null;
    if (f && /\.(geo)?json$/i.test(f.name)) format.value = "geojson";
    apply.disabled = true;
  });
  text.addEventListener("input", () => { bytes = null; file.value = ""; apply.disabled = true; });
  async function run(dryRun) {
    const body = bytes || new TextEncoder().encode(text.value);
    const type = format.value === "csv" ? "text/csv" : "application/geo+json";
    try {
      const r = await upload("/stations/import", { format: format.value, dry_run: dryRun ? "1" : "" }, body, type);
      clear(result, h("p", { class: dryRun ? "" : "ok" }, t(dryRun ? "se_preview_counts" : "se_import_counts", r.created, r.updated, r.unchanged)));
      apply.disabled = !dryRun;
      if (!dryRun) announce(t("se_import_counts", r.created, r.updated, r.unchanged));
    } catch (err) {
      const lines = err instanceof ApiError && err.body && Array.isArray(err.body.errors) ? err.body.errors : [message(err)];
      clear(result, h("p", { role: "alert" }, t("se_import_refused", lines.length)), h("ul", { class: "se-errors" }, lines.map((l) => raw("li", l))));
      apply.disabled = true;
    }
  }
  apply.addEventListener("click", () => run(false));
  return h(
    "div", { class: "se-import" },
    h("p", { class: "sub" }, t("se_import_help_cli"), " ", raw("code", "waystation stations import"), " ", t("se_import_help")),
    h("label", {}, t("se_file"), " ", file),
    h("label", {}, t("se_paste"), " ", text),
    h("label", {}, t("se_format"), " ", format),
    h("p", {}, h("button", { type: "button", id: "se-preview", onclick: () => run(true) }, t("se_preview")), " ", apply),
    result,
  );
}
