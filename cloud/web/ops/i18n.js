// Language and local formats for Waystation's pages: Chinese (zh-CN) first, English on
// request. Page-independent: a page passes its own phrase table (`createI18n(STRINGS, …)`),
// so the ops dashboard uses it now and the finder can load it later instead of its own copy.
//
// The mechanism is the finder's (cloud/web/finder/app.js): the language comes from
// `?lang=en|zh`, else the choice saved in localStorage, else zh-CN; static markup carries
// `data-i18n` (text), `data-i18n-label` (aria-label) and `data-i18n-placeholder` keys;
// `t(key, …args)` gives a string (or calls a phrase function). The switch saves the choice
// and reloads, so every view is drawn once in one language.
//
// Times are shown in a given time zone (a station's registry `tz`; China when unknown),
// durations and ages the Chinese way ("3 分钟前", "2 小时 5 分"; the table's `units`). Text
// nodes that are names, ids or codes are marked `translate="no"` (the HTML attribute), which
// is also what the ops untranslated-text test skips.

export const DEFAULT_TZ = "Asia/Shanghai";

export function pickLang(storageKey, search = window.location.search) {
  const q = (new URLSearchParams(search).get("lang") || "").toLowerCase();
  if (q.startsWith("en")) return "en";
  if (q.startsWith("zh")) return "zh-CN";
  try {
    const saved = window.localStorage.getItem(storageKey);
    if (saved === "en" || saved === "zh-CN") return saved;
  } catch {
    /* storage blocked: the default */
  }
  return "zh-CN";
}

// STRINGS: {"zh-CN": {...}, en: {...}}; storageKey: where this page remembers the choice.
export function createI18n(STRINGS, { storageKey }) {
  const lang = pickLang(storageKey);
  const table = STRINGS[lang];
  const zh = lang === "zh-CN";
  const locale = zh ? "zh-CN" : "en-GB";

  // A phrase: a string, or a function of the arguments. A missing key shows itself (and is
  // what the untranslated-text test then catches), never `undefined`.
  function t(key, ...args) {
    const v = table[key] ?? STRINGS["zh-CN"][key];
    if (v === undefined) return key;
    return typeof v === "function" ? v(...args) : v;
  }

  // A value from a named vocabulary (health, status, rule, …), or the raw value marked as a code.
  function word(group, value) {
    const words = table[group] || {};
    return value === null || value === undefined ? "—" : (words[value] ?? String(value));
  }

  function known(group, value) {
    return Object.prototype.hasOwnProperty.call(table[group] || {}, value);
  }

  // Fill the static markup of `root` and the language switch (`#lang-switch`), if any.
  function applyStatic(root = document) {
    document.documentElement.lang = lang;
    for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
    for (const node of root.querySelectorAll("[data-i18n-label]")) {
      node.setAttribute("aria-label", t(node.dataset.i18nLabel));
    }
    for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
      node.setAttribute("placeholder", t(node.dataset.i18nPlaceholder));
    }
    const title = document.querySelector("title[data-i18n-title]");
    if (title) document.title = t(title.dataset.i18nTitle);
    const sw = document.getElementById("lang-switch");
    if (sw) {
      sw.textContent = t("lang_switch");
      sw.lang = zh ? "en" : "zh-CN";
      sw.setAttribute("aria-label", t("lang_switch_label"));
      sw.addEventListener("click", () => switchLang());
    }
  }

  function switchLang() {
    const next = zh ? "en" : "zh-CN";
    try {
      window.localStorage.setItem(storageKey, next);
    } catch {
      /* the query parameter still carries it */
    }
    const u = new URL(window.location.href);
    u.searchParams.set("lang", next === "en" ? "en" : "zh");
    window.location.replace(u.toString());
  }

  // --- formats ------------------------------------------------------------------------------

  function zone(tz) {
    return tz || DEFAULT_TZ;
  }

  // A moment as wall time in the station's zone: "12月6日 14:05:09" / "6 Dec, 14:05:09".
  function when(iso, tz) {
    if (!iso) return "—";
    return new Intl.DateTimeFormat(locale, {
      timeZone: zone(tz), month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      second: "2-digit", hourCycle: "h23",
    }).format(new Date(iso));
  }

  function hhmm(date, tz) {
    return new Intl.DateTimeFormat(locale, {
      timeZone: zone(tz), hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).format(date);
  }

  function hourLabel(date, tz) {
    return new Intl.DateTimeFormat(locale, { timeZone: zone(tz), hour: "numeric", hourCycle: "h23" })
      .format(date)
      .replace(/时$/, "");
  }

  function weekday(date, tz) {
    return new Intl.DateTimeFormat(locale, { timeZone: zone(tz), weekday: "short" }).format(date);
  }

  // A local day given as "YYYY-MM-DD", short enough for a bar's label: "12/6" / "6/12".
  function dayLabel(isoDay) {
    const [y, m, d] = isoDay.split("-").map(Number);
    return new Intl.DateTimeFormat(locale, { timeZone: "UTC", month: "numeric", day: "numeric" })
      .format(new Date(Date.UTC(y, m - 1, d)));
  }

  // A length of time, seconds in: "45 秒", "12 分钟", "2 小时 5 分", "3 天 4 小时".
  function duration(seconds) {
    if (seconds === null || seconds === undefined || Number.isNaN(seconds)) return "—";
    const s = Math.max(0, Math.round(seconds));
    const u = table.units;
    if (s < 60) return `${s} ${u.s}`;
    if (s < 3600) return `${Math.floor(s / 60)} ${u.min}`;
    if (s < 86400) {
      const hours = Math.floor(s / 3600);
      const min = Math.floor((s % 3600) / 60);
      return min ? `${hours} ${u.h} ${min} ${u.min_part}` : `${hours} ${u.h}`;
    }
    const days = Math.floor(s / 86400);
    const hours = Math.floor((s % 86400) / 3600);
    return hours ? `${days} ${u.d} ${hours} ${u.h}` : `${days} ${u.d}`;
  }

  function ago(iso) {
    if (!iso) return t("never");
    const s = (Date.now() - new Date(iso).getTime()) / 1000;
    return s < 10 ? t("just_now") : t("ago", duration(s));
  }

  function since(iso) {
    if (!iso) return "—";
    return duration((Date.now() - new Date(iso).getTime()) / 1000);
  }

  function num(v, digits = 1) {
    if (v === null || v === undefined || Number.isNaN(v)) return "—";
    return new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(v);
  }

  return {
    lang, locale, t, word, known, applyStatic, switchLang, when, hhmm, hourLabel, weekday,
    dayLabel, duration, ago, since, num,
  };
}
