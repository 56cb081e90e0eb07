// Small DOM helpers. Text always goes in as text (never innerHTML), so station names and
// alarm details from the field cannot inject markup.

import { word } from "./lang.js";

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

export { ago, duration, when } from "./lang.js";

export function badge(health) {
  return h("span", { class: `badge health-${health}` }, word("health_words", health));
}

// A name, id or code from the field: shown as is, never translated (`translate="no"`).
export function raw(tag, text, attrs = {}) {
  return h(tag, { ...attrs, translate: "no" }, text);
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

// A paged list's filter form and buttons (ids `NAME-filters`, `NAME-prev`, `NAME-next` in
// `root`): any filter change starts again at the first page. `view` has `offset` and `load()`.
export function pagedFilters(root, name, pageSize, view) {
  const form = $(`#${name}-filters`, root);
  const again = () => {
    view.offset = 0;
    view.load();
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    again();
  });
  form.addEventListener("change", again);
  $(`#${name}-prev`, root).addEventListener("click", () => {
    view.offset = Math.max(0, view.offset - pageSize);
    view.load();
  });
  $(`#${name}-next`, root).addEventListener("click", () => {
    view.offset += pageSize;
    view.load();
  });
  return form;
}

// Whether someone is filling in a form inside `root` (the focus is in one of its forms). A
// card's refresh checks it after its fetch, right before redrawing, not only before: an
// operator may have started typing while the fetch was on its way, and the redraw would wipe
// what they typed.
export function typingIn(root) {
  const el = document.activeElement;
  return !!el && el !== document.body && root.contains(el) && !!el.closest("form");
}

// For a view whose requests may answer out of order (a filter changed twice): `newest(p)`
// resolves to p's value if no later call was made meanwhile, else to null (the caller draws
// nothing). An older failure is dropped the same way.
export function newestOnly() {
  let asked = 0;
  return async (promise) => {
    const mine = ++asked;
    try {
      const value = await promise;
      return mine === asked ? value : null;
    } catch (err) {
      if (mine === asked) throw err;
      return null;
    }
  };
}
