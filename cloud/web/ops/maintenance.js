// A station's maintenance windows on its page: the active one (end it), the planned ones
// (cancel them), and two forms: start maintenance now (reason, optional expected end) and
// plan it (from–to, reason). The reason is what workers read on the finder, so it is asked
// for every time. Times are typed and shown in the station's own zone (its registry `tz`).

import { get, post } from "./api.js";
import { announce, clear, h, raw, typingIn, when } from "./dom.js";
import { t, word } from "./lang.js";

const REASON_MAX = 200; // as the API checks it (cloud.stations.maintenance.REASON_MAX)

// Milliseconds `tz` is ahead of UTC at `ms`.
function offsetAt(ms, tz) {
  const p = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(ms)).map((x) => [x.type, x.value]),
  );
  return Date.UTC(+p.year, +p.month - 1, +p.day, +p.hour, +p.minute, +p.second) - Math.floor(ms / 1000) * 1000;
}

// A `datetime-local` value read as the station's wall time, as an ISO instant ("" → null).
export function wallTime(value, tz) {
  if (!value) return null;
  const [d, hm] = value.split("T");
  const [y, mo, da] = d.split("-").map(Number);
  const [hh, mi] = hm.split(":").map(Number);
  const guess = Date.UTC(y, mo - 1, da, hh, mi);
  return new Date(guess - offsetAt(guess - offsetAt(guess, tz), tz)).toISOString();
}

function field(label, input) {
  return h("label", {}, label, " ", input);
}

function reasonInput(name) {
  return h("input", { type: "text", name, required: true, maxlength: String(REASON_MAX), placeholder: t("mt_reason_hint") });
}

function span(w, tz) {
  return t("mt_span", when(w.starts_at, tz), w.ends_at ? when(w.ends_at, tz) : t("mt_until_ended"));
}

export async function fillMaintenance(root, sid, { canAct, tz, onChanged }) {
  // Not while someone is typing into a form here: the 30 s refresh would wipe it.
  if (typingIn(root)) return;
  const path = `/stations/${encodeURIComponent(sid)}/maintenance`;
  let windows;
  try {
    windows = await get(path, { limit: 20 });
  } catch (err) {
    if (!typingIn(root)) clear(root, h("p", { role: "alert" }, t("load_failed", sid, err.message)));
    return;
  }
  if (typingIn(root)) return; // they started while the list was on its way
  const status = h("p", { role: "status", id: "mt-result" });
  const act = async (w, action) => {
    try {
      await post(`${path}/${w.id}/${action}`);
      announce(t(action === "end" ? "mt_ended" : "mt_cancelled"));
      document.activeElement.blur(); // let the page's refresh redraw the card
      if (onChanged) onChanged();
    } catch (err) {
      status.textContent = t("mt_failed", err.message);
    }
  };
  const shown = windows.filter((w) => w.state === "active" || w.state === "planned");
  const past = windows.filter((w) => w.state === "ended" || w.state === "cancelled").slice(0, 3);
  const row = (w) => h(
    "li",
    { class: `mt-${w.state}`, dataset: { window: w.id, state: w.state } },
    h("strong", {}, word("mt_state_words", w.state)), " ", span(w, tz), " — ", raw("span", w.reason), " ",
    h("span", { class: "sub" }, t("mt_by"), " ", raw("span", w.created_by)),
    canAct && w.state === "active" ? [" ", h("button", { type: "button", class: "mt-end", onclick: () => act(w, "end") }, t("mt_end"))] : null,
    canAct && w.state === "planned" ? [" ", h("button", { type: "button", class: "mt-cancel", onclick: () => act(w, "cancel") }, t("mt_cancel"))] : null,
  );
  const list = shown.length
    ? h("ul", { class: "mt-list", id: "mt-list" }, shown.map(row))
    : h("p", { id: "mt-list" }, t("mt_none"));
  const history = past.length ? [h("h4", {}, t("mt_history")), h("ul", { class: "mt-list sub" }, past.map(row))] : null;
  if (!canAct) {
    clear(root, list, history, h("p", { class: "sub" }, t("mt_needs_operator")));
    return;
  }
  const active = shown.some((w) => w.state === "active");
  const submit = (form, body) => async (ev) => {
    ev.preventDefault();
    if (!form.reportValidity()) return;
    try {
      await post(path, body());
      announce(t("mt_saved"));
      form.reset();
      document.activeElement.blur(); // let the page's refresh redraw the card
      if (onChanged) onChanged();
    } catch (err) {
      status.textContent = t("mt_failed", err.message);
    }
  };
  const now = h(
    "form",
    { id: "mt-now", class: "cfg-form" },
    h("h4", {}, t("mt_start_title")),
    field(t("mt_reason"), reasonInput("reason")),
    field(t("mt_expected_end"), h("input", { type: "datetime-local", name: "ends_at" })),
    h("button", { type: "submit", class: "danger", disabled: active }, t("mt_start")),
  );
  now.addEventListener("submit", submit(now, () => ({
    reason: now.elements.reason.value, ends_at: wallTime(now.elements.ends_at.value, tz),
  })));
  const plan = h(
    "form",
    { id: "mt-plan", class: "cfg-form" },
    h("h4", {}, t("mt_plan_title")),
    field(t("mt_from"), h("input", { type: "datetime-local", name: "starts_at", required: true })),
    field(t("mt_to"), h("input", { type: "datetime-local", name: "ends_at", required: true })),
    field(t("mt_reason"), reasonInput("reason")),
    h("button", { type: "submit" }, t("mt_plan")),
  );
  plan.addEventListener("submit", submit(plan, () => ({
    reason: plan.elements.reason.value,
    starts_at: wallTime(plan.elements.starts_at.value, tz),
    ends_at: wallTime(plan.elements.ends_at.value, tz),
  })));
  clear(root, list, history, h("p", { class: "sub" }, t("mt_workers_see")), now, plan, status);
}
