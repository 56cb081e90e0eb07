// The public status page: how many stations are open now, per city, on what basis, and
// whether the cloud can see its stations. Numbers from GET /api/v1/status; text inserted
// with textContent only. Same language rule as the finder (?lang=, then the saved choice,
// then what the server picked from the browser).
"use strict";

(function () {
  const T = {
    "zh-CN": {
      title: "驿站开放情况", total_h: "全部驿站", cities_h: "各城市", c_city: "城市",
      c_open: "现在开放", c_live: "联网确认", c_schedule: "按营业时间", c_closed: "未开放",
      explain: "联网确认：驿站门禁在线并确认可进门。按营业时间：驿站未联网（或系统暂时看不到），按公布的营业时间判断。",
      finder_link: "找附近的驿站", lang_switch: "English", lang_switch_label: "Switch to English",
      seeing: "系统运行正常：联网驿站的状态是实时的。",
      blind: "系统暂时看不到联网驿站（不是驿站关门）：现在都按营业时间显示。",
      total: (o, n) => `${n} 个驿站中 ${o} 个现在开放`,
      judged: (t) => `统计时间 ${t}`, error: "暂时无法获取，请稍后刷新。",
    },
    en: {
      title: "Station status", total_h: "All stations", cities_h: "By city", c_city: "City",
      c_open: "Open now", c_live: "Confirmed live", c_schedule: "By opening hours",
      c_closed: "Closed",
      explain: "Confirmed live: the station's door system is online and admits members. By opening hours: the station is not connected (or the system cannot see it right now), so it is judged by its published hours.",
      finder_link: "Find a station nearby", lang_switch: "中文", lang_switch_label: "切换到中文",
      seeing: "All systems normal: connected stations are shown live.",
      blind: "The system cannot see connected stations right now (they are not closed): all are shown by their opening hours.",
      total: (o, n) => `${o} of ${n} stations open now`,
      judged: (t) => `As of ${t}`, error: "Could not load the figures; refresh later.",
    },
  };
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  let lang = pick();
  let data = null;

  function pick() {
    const q = (params.get("lang") || "").toLowerCase();
    if (q.startsWith("en")) return "en";
    if (q.startsWith("zh")) return "zh-CN";
    try {
      const saved = localStorage.getItem("ws-finder-lang");
      if (saved === "en" || saved === "zh-CN") return saved;
    } catch (e) { /* fine */ }
    return document.documentElement.lang === "en" ? "en" : "zh-CN";
  }

  function render() {
    const t = T[lang];
    document.documentElement.lang = lang;
    for (const node of document.querySelectorAll("[data-i18n]")) {
      const v = t[node.dataset.i18n];
      if (typeof v === "string") node.textContent = v;
    }
    const sw = $("lang-switch");
    sw.textContent = t.lang_switch;
    sw.setAttribute("aria-label", t.lang_switch_label);
    document.title = lang === "en" ? "Station status · 驿站开放情况" : "驿站开放情况 · Station status";
    if (!data) return;
    const cloud = $("cloud");
    cloud.textContent = data.cloud_blind ? t.blind : t.seeing;
    cloud.className = "cloud " + (data.cloud_blind ? "blind" : "seeing");
    const at = new Intl.DateTimeFormat(lang, {
      month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).format(new Date(data.judged_at));
    $("judged").textContent = t.judged(at);
    $("total").textContent = t.total(data.total.open_now, data.total.stations);
    const rows = data.cities.map((c) => {
      const tr = document.createElement("tr");
      tr.dataset.city = c.city;
      const cells = [c.city, `${c.open_now} / ${c.stations}`, c.open_live, c.open_schedule,
        c.stations - c.open_now];
      cells.forEach((v, i) => {
        const cell = document.createElement(i === 0 ? "th" : "td");
        if (i === 0) cell.scope = "row";
        cell.textContent = String(v);
        tr.append(cell);
      });
      return tr;
    });
    document.querySelector("#cities tbody").replaceChildren(...rows);
  }

  async function load() {
    try {
      const r = await fetch("/api/v1/status");
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      data = await r.json();
      $("error").textContent = "";
    } catch (e) {
      $("error").textContent = T[lang].error;
    }
    render();
  }

  $("lang-switch").addEventListener("click", () => {
    lang = lang === "en" ? "zh-CN" : "en";
    try { localStorage.setItem("ws-finder-lang", lang); } catch (e) { /* fine */ }
    render();
  });
  render();
  load();
  setInterval(load, 60000);
})();
