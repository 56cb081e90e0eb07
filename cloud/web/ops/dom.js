// Small DOM helpers. Text always goes in as text (never innerHTML), so station names and
// alarm details from the field cannot inject markup.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return d.toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

export function ago(iso) {
  if (!iso) return "never";
  return duration((Date.now() - new Date(iso).getTime()) / 1000) + " ago";
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

export const HEALTH_LABEL = { ok: "OK", degraded: "Degraded", down: "Down", unknown: "Unknown" };

export function badge(health) {
  const label = HEALTH_LABEL[health] || health;
  return h("span", { class: `badge health-${health}` }, label);
}

// Say something to screen-reader users (and show it briefly as a toast).
export function announce(text) {
  const region = document.getElementById("announce");
  if (region) region.textContent = text;
  const toasts = document.getElementById("toasts");
  if (!toasts) return;
  const toast = h("div", { class: "toast" }, text);
  toasts.appendChild(toast);
  setTimeout(() => toast.remove(), 6000);
  while (toasts.children.length > 4) toasts.firstChild.remove();
}
