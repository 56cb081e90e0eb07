// The workers' station finder: where am I → nearest open stations → go there / report.
// Plain JS, no framework, no inline script (the page's CSP forbids it). Every piece of data
// from the server is inserted with textContent or as an attribute, never as HTML.
"use strict";

(function () {
  const API = "/api/v1";
  const RADIUS_M = 50000; // the API's largest radius: the list is nearest first anyway
  const LIMIT = 20;
  // [[name, zh-CN label, en label], …] from the page (the server's one list of amenities).
  const AMENITY_ROWS = JSON.parse(
    document.querySelector('meta[name="ws-amenities"]').content || "[]");
  const AMENITIES = AMENITY_ROWS.map((r) => r[0]);
  const amenityLabels = (i) => Object.fromEntries(AMENITY_ROWS.map((r) => [r[0], r[i]]));

  const T = {
    "zh-CN": {
      skip: "跳到结果", title: "附近的户外劳动者驿站", where: "位置", locate: "使用我的位置",
      point_label: "或输入坐标（纬度,经度，GPS）", go: "查找", map_show: "在地图上选点",
      map_hide: "收起地图", map_label: "地图：点按选择位置", filters: "需要的设施",
      results: "最近的开放驿站", suggest_h: "这里需要一个驿站？", suggest_open: "建议在这里设站",
      report_h: "报告问题", report_kind: "出了什么问题？", kind_locked: "门锁着，进不去",
      kind_closed: "驿站没开门", kind_broken: "设施坏了", kind_dirty: "不干净", kind_other: "其他",
      report_text: "补充说明（可选）", cancel: "取消", send: "提交", suggest_name: "地点名称",
      suggest_note: "说明（可选）", lang_switch: "English", lang_switch_label: "Switch to English",
      locating: "正在定位…", located: "已使用你的位置", geo_denied: "无法获取位置：请输入坐标或在地图上选点。",
      geo_none: "此浏览器不能定位：请输入坐标或在地图上选点。", bad_point: "请按“纬度,经度”输入，例如 22.5431,114.0579",
      point_at: (p) => `位置：${p}`, loading: "正在查找…",
      found: (n) => `附近 50 公里内找到 ${n} 个开放的驿站（由近到远）`,
      none: "附近 50 公里内没有符合条件的开放驿站。试试减少设施筛选。",
      need_point: "请先确定你的位置。", net_error: "网络错误，请稍后再试。",
      open24: "24 小时开放", open_now: "现在开放",
      basis_schedule: "按营业时间，未联网验证",
      reported_locked: (m) => (m < 1 ? "刚刚有人报告门锁着" : m < 60 ? `${m} 分钟前有人报告门锁着`
        : `${Math.floor(m / 60)} 小时前有人报告门锁着`),
      closes: (t, tomorrow) => `${tomorrow ? "明天 " : ""}${t} 关门`,
      busy_free: "空闲", busy_some: "较忙", busy_full: "已满",
      people: (o, c) => (c == null ? `现有 ${o} 人` : `${o}/${c} 人`), busy_unknown: "人数未知",
      nav_amap: "高德地图", nav_baidu: "百度地图", nav_apple: "Apple 地图",
      nav_label: (app, name) => `用${app}导航到 ${name}`, report: "报告问题",
      report_label: (name) => `报告 ${name} 的问题`, choose_kind: "请选择问题类型。",
      name_needed: "请填写地点名称。", thanks_report: "已收到，谢谢！运营人员会处理。",
      thanks_suggest: "已收到你的建议，谢谢！", too_many: "提交太频繁了，请稍后再试。",
      no_tiles: "未配置底图：仍可点按地图选点，圆点是驿站。", map_failed: "地图加载失败，请输入坐标。",
      km: (v) => `${v} 公里`, m: (v) => `${v} 米`,
      a: amenityLabels(1),
    },
    en: {
      skip: "Skip to results", title: "Rest stations for outdoor workers nearby",
      where: "Location", locate: "Use my location", point_label: "or type a point (lat,lon, GPS)",
      go: "Search", map_show: "Pick a point on the map", map_hide: "Hide the map",
      map_label: "Map: tap to choose a location", filters: "Amenities I need",
      results: "Nearest open stations", suggest_h: "Need a station here?",
      suggest_open: "Suggest a station here", report_h: "Report a problem",
      report_kind: "What is wrong?", kind_locked: "Locked, cannot get in",
      kind_closed: "Station not open", kind_broken: "Something is broken", kind_dirty: "Dirty", kind_other: "Other",
      report_text: "Details (optional)", cancel: "Cancel", send: "Send",
      suggest_name: "Name of the place", suggest_note: "Note (optional)",
      lang_switch: "中文", lang_switch_label: "切换到中文", locating: "Finding your location…",
      located: "Using your location",
      geo_denied: "Could not get your location: type a point or pick one on the map.",
      geo_none: "This browser cannot locate you: type a point or pick one on the map.",
      bad_point: "Type latitude,longitude, e.g. 22.5431,114.0579",
      point_at: (p) => `Location: ${p}`, loading: "Searching…",
      found: (n) => `${n} open station${n === 1 ? "" : "s"} within 50 km, nearest first`,
      none: "No open station with these amenities within 50 km. Try fewer filters.",
      need_point: "Choose your location first.", net_error: "Network error, please try again.",
      open24: "Open 24 h", open_now: "Open now",
      basis_schedule: "By opening hours, not confirmed online",
      reported_locked: (m) => (m < 1 ? "Reported locked just now" : m < 60
        ? `Reported locked ${m} min ago` : `Reported locked ${Math.floor(m / 60)} h ago`),
      closes: (t, tomorrow) => `Closes at ${t}${tomorrow ? " tomorrow" : ""}`,
      busy_free: "Plenty of room", busy_some: "Busy", busy_full: "Full",
      people: (o, c) => (c == null ? `${o} inside` : `${o} of ${c} places taken`),
      busy_unknown: "Occupancy unknown", nav_amap: "Amap", nav_baidu: "Baidu Maps",
      nav_apple: "Apple Maps", nav_label: (app, name) => `Directions to ${name} in ${app}`,
      report: "Report a problem", report_label: (name) => `Report a problem at ${name}`,
      choose_kind: "Choose what is wrong.", name_needed: "Give the place a name.",
      thanks_report: "Thank you! The operators will look at it.",
      thanks_suggest: "Thank you for the suggestion!",
      too_many: "Too many messages from here; try again later.",
      no_tiles: "No base map configured: you can still tap to pick a point; dots are stations.",
      map_failed: "The map could not load; type a point instead.",
      km: (v) => `${v} km`, m: (v) => `${v} m`,
      a: amenityLabels(2),
    },
  };

  // 24×24 stroke icons (drawn for this page); each use gets role=img + aria-label + <title>.
  const ICONS = {
    water: '<path d="M12 3c-3 4.5-6 8-6 11a6 6 0 0 0 12 0c0-3-3-6.5-6-11z"/>',
    microwave: '<rect x="2" y="5" width="20" height="14" rx="2"/><rect x="5" y="8" width="10" height="8" rx="1"/><path d="M18.5 9v.01M18.5 13v.01"/>',
    fridge: '<rect x="6" y="2" width="12" height="20" rx="2"/><path d="M6 9h12M9 5v2M9 12v3"/>',
    charging: '<path d="M13 2 4 14h7l-1 8 9-12h-7z"/>',
    toilet: '<path d="M3 6l2 12h1l2-7 2 7h1l2-12M21 8a3 3 0 1 0 0 8"/>',
    mother_baby: '<path d="M10 2h4v3h-4zM9 5h6l1 3v12a2 2 0 0 1-2 2h-4a2 2 0 0 1-2-2V8zM8 12h8"/>',
    first_aid: '<rect x="3" y="6" width="18" height="14" rx="2"/><path d="M9 6V4h6v2M12 10v6M9 13h6"/>',
    rest_seats: '<path d="M5 11V7a2 2 0 0 1 2-2h10a2 2 0 0 1 2 2v4M3 11h18v4H3zM5 15v5M19 15v5"/>',
    air_conditioning: '<path d="M12 2v20M3.5 7l17 10M20.5 7l-17 10M9 3.5l3 2.5 3-2.5M9 20.5l3-2.5 3 2.5"/>',
  };
  const SVG_NS = "http://www.w3.org/2000/svg";
  const ICON_TEMPLATES = {};

  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const state = {
    lang: pickLang(),
    point: null, // {lat, lon} WGS-84
    amenities: new Set(params.getAll("amenity").filter((a) => AMENITIES.includes(a))),
    stations: [],
    inflight: null,
    map: null,
    reportFor: null,
  };

  function pickLang() {
    const q = (params.get("lang") || "").toLowerCase();
    if (q.startsWith("en")) return "en";
    if (q.startsWith("zh")) return "zh-CN";
    try {
      const saved = localStorage.getItem("ws-finder-lang");
      if (saved === "en" || saved === "zh-CN") return saved;
    } catch (e) { /* storage off: fine */ }
    return document.documentElement.lang === "en" ? "en" : "zh-CN";
  }

  const t = () => T[state.lang];

  // --- GCJ-02 (same constants and polynomials as cloud/stations/gcj02.py) --------------------------
  const A = 6378245.0;
  const EE = 0.00669342162296594323;
  function outOfChina(lat, lon) {
    return !(lon > 73.66 && lon < 135.05 && lat > 3.86 && lat < 53.55);
  }
  function dLat(x, y) {
    let r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin(y / 3.0 * Math.PI)) * 2.0 / 3.0;
    r += (160.0 * Math.sin(y / 12.0 * Math.PI) + 320 * Math.sin(y * Math.PI / 30.0)) * 2.0 / 3.0;
    return r;
  }
  function dLon(x, y) {
    let r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
    r += (20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin(x / 3.0 * Math.PI)) * 2.0 / 3.0;
    r += (150.0 * Math.sin(x / 12.0 * Math.PI) + 300.0 * Math.sin(x / 30.0 * Math.PI)) * 2.0 / 3.0;
    return r;
  }
  function wgs84ToGcj02(lat, lon) {
    if (outOfChina(lat, lon)) return [lat, lon];
    let la = dLat(lon - 105.0, lat - 35.0);
    let lo = dLon(lon - 105.0, lat - 35.0);
    const rad = lat / 180.0 * Math.PI;
    const magic = 1 - EE * Math.sin(rad) ** 2;
    const sq = Math.sqrt(magic);
    la = (la * 180.0) / ((A * (1 - EE)) / (magic * sq) * Math.PI);
    lo = (lo * 180.0) / (A / sq * Math.cos(rad) * Math.PI);
    return [lat + la, lon + lo];
  }
  function gcj02ToWgs84(lat, lon) {
    if (outOfChina(lat, lon)) return [lat, lon];
    let w = [lat, lon];
    for (let i = 0; i < 30; i++) {
      const g = wgs84ToGcj02(w[0], w[1]);
      const e = [g[0] - lat, g[1] - lon];
      w = [w[0] - e[0], w[1] - e[1]];
      if (Math.abs(e[0]) < 1e-9 && Math.abs(e[1]) < 1e-9) break;
    }
    return w;
  }

  // --- navigation links ------------------------------------------------------------------
  // Amap and Baidu are told the datum explicitly (GCJ-02). Apple Maps has no datum parameter;
  // inside mainland China it draws AutoNavi's GCJ-02 map and places `ll` on it as given, so it
  // gets GCJ-02 too. Outside China the transform is the identity, i.e. plain WGS-84 there.
  function navLinks(s) {
    const [glat, glon] = wgs84ToGcj02(s.lat, s.lon);
    const lat = glat.toFixed(6);
    const lon = glon.toFixed(6);
    const name = encodeURIComponent(s.name);
    const content = encodeURIComponent(s.address || s.name);
    return [
      ["amap", `https://uri.amap.com/marker?position=${lon},${lat}&name=${name}&src=waystation&coordinate=gaode&callnative=1`],
      ["baidu", `https://api.map.baidu.com/marker?location=${lat},${lon}&title=${name}&content=${content}&output=html&coord_type=gcj02&src=webapp.waystation.finder`],
      ["apple", `https://maps.apple.com/?ll=${lat},${lon}&q=${name}`],
    ];
  }

  // --- rendering -------------------------------------------------------------------------
  function icon(name) {
    let tpl = ICON_TEMPLATES[name];
    if (!tpl) {
      tpl = document.createElementNS(SVG_NS, "svg");
      tpl.setAttribute("viewBox", "0 0 24 24");
      tpl.setAttribute("class", "icon");
      tpl.innerHTML = ICONS[name]; // our own constant markup, never data
      ICON_TEMPLATES[name] = tpl;
    }
    return tpl.cloneNode(true);
  }

  function labelledIcon(name) {
    const svg = icon(name);
    const label = t().a[name];
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
    const title = document.createElementNS(SVG_NS, "title");
    title.textContent = label;
    svg.prepend(title);
    return svg;
  }

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function distance(m) {
    if (m < 1000) return t().m(Math.round(m));
    return t().km(m < 10000 ? (m / 1000).toFixed(1) : Math.round(m / 1000));
  }

  function hoursText(s) {
    if (s.opening_hours.trim() === "24/7" || (!s.closes_at && s.open_now)) {
      return s.opening_hours.trim() === "24/7" ? t().open24 : t().open_now;
    }
    const closes = new Date(s.closes_at);
    const tz = s.tz || "Asia/Shanghai";
    const hm = new Intl.DateTimeFormat("en-GB", {
      timeZone: tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).format(closes);
    const day = new Intl.DateTimeFormat("en-CA", { timeZone: tz, dateStyle: "short" });
    const tomorrow = day.format(closes) !== day.format(new Date());
    return t().closes(hm, tomorrow);
  }

  function busy(s) {
    const wrap = el("div", "busy");
    if (s.occupancy == null) {
      wrap.textContent = t().busy_unknown;
      return wrap;
    }
    const cap = s.capacity;
    const words = [t().people(s.occupancy, cap)];
    if (cap != null && cap > 0) {
      const r = s.occupancy / cap;
      const level = r >= 0.9 ? "full" : r >= 0.5 ? "busy-some" : "free";
      words.unshift(level === "full" ? t().busy_full : level === "busy-some" ? t().busy_some : t().busy_free);
      wrap.classList.add(level);
      const bar = el("div", "bar" + (level === "full" ? " full" : ""));
      bar.setAttribute("aria-hidden", "true");
      const fill = el("span");
      fill.style.width = `${Math.min(100, Math.round(r * 100))}%`;
      bar.append(fill);
      wrap.textContent = words.join(" · ");
      wrap.append(bar);
      return wrap;
    }
    wrap.textContent = words.join(" · ");
    return wrap;
  }

  function card(s) {
    const li = el("li", "card");
    li.dataset.id = s.id;
    const head = el("div", "head");
    head.append(el("h3", "name", s.name), el("span", "dist", distance(s.distance_m)));
    li.append(head, el("p", "hours", hoursText(s)));
    // basis "schedule": no agent confirms it (none there, or the cloud cannot see it now),
    // so it is open by its published hours only; the API ranks confirmed ones first within
    // 50 m. Its occupancy is unknown anyway, so the basis stands where occupancy would.
    if (s.reported_locked_at) {
      // Not open now only because a worker reported the door locked (reason reported_locked):
      // listed greyed with when, so nobody walks there unwarned or wonders where it went.
      const mins = Math.max(0, Math.floor((Date.now() - Date.parse(s.reported_locked_at)) / 60000));
      li.classList.add("reported");
      li.append(el("p", "reported-locked", t().reported_locked(mins)));
    } else if (s.basis === "schedule") {
      li.classList.add("schedule");
      li.append(el("p", "basis", t().basis_schedule));
    } else {
      li.append(busy(s));
    }
    if (s.amenities.length) {
      const ul = el("ul", "amenities");
      ul.setAttribute("aria-label", t().filters);
      for (const a of s.amenities) {
        if (!ICONS[a]) continue;
        const item = el("li");
        item.dataset.amenity = a;
        item.title = t().a[a];
        item.append(labelledIcon(a));
        ul.append(item);
      }
      li.append(ul);
    }
    if (s.address) li.append(el("p", "addr", s.address));
    const nav = el("div", "nav");
    for (const [app, href] of navLinks(s)) {
      const a = el("a", "nav-" + app, t()["nav_" + app]);
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.setAttribute("aria-label", t().nav_label(t()["nav_" + app], s.name));
      nav.append(a);
    }
    const rep = el("button", "link report", t().report);
    rep.type = "button";
    rep.setAttribute("aria-label", t().report_label(s.name));
    rep.addEventListener("click", () => openReport(s));
    nav.append(rep);
    li.append(nav);
    return li;
  }

  function renderList() {
    const list = $("list");
    list.replaceChildren(...state.stations.map(card));
    drawMarkers();
  }

  function renderFilters() {
    const box = $("filters");
    box.replaceChildren();
    for (const a of AMENITIES) {
      const b = el("button");
      b.type = "button";
      b.dataset.amenity = a;
      b.setAttribute("aria-pressed", state.amenities.has(a) ? "true" : "false");
      const svg = icon(a);
      svg.setAttribute("aria-hidden", "true");
      b.append(svg, el("span", null, t().a[a]));
      b.addEventListener("click", () => {
        if (state.amenities.has(a)) state.amenities.delete(a);
        else state.amenities.add(a);
        b.setAttribute("aria-pressed", state.amenities.has(a) ? "true" : "false");
        syncUrl();
        search();
      });
      box.append(b);
    }
  }

  function applyLang() {
    const lang = state.lang;
    document.documentElement.lang = lang;
    for (const node of document.querySelectorAll("[data-i18n]")) {
      const v = T[lang][node.dataset.i18n];
      if (typeof v === "string") node.textContent = v;
    }
    for (const node of document.querySelectorAll("[data-i18n-label]")) {
      node.setAttribute("aria-label", T[lang][node.dataset.i18nLabel]);
    }
    const sw = $("lang-switch");
    sw.textContent = T[lang].lang_switch;
    sw.lang = lang === "en" ? "zh-CN" : "en";
    sw.setAttribute("aria-label", T[lang].lang_switch_label);
    $("map-toggle").textContent = $("map-box").hidden ? T[lang].map_show : T[lang].map_hide;
    document.title = lang === "en" ? "Stations nearby · 附近的驿站" : "附近的驿站 · Stations nearby";
    renderFilters();
    renderList();
    if (state.point) setStatus("where-status", t().point_at(fmtPoint(state.point)));
    if (state.lastSummary) $("summary").textContent = state.lastSummary();
    if (state.map) $("map-hint").textContent = tiles().url ? "" : t().no_tiles;
  }

  function setStatus(id, text) {
    $(id).textContent = text;
  }

  function fmtPoint(p) {
    return `${p.lat.toFixed(5)},${p.lon.toFixed(5)}`;
  }

  function syncUrl() {
    const q = new URLSearchParams();
    if (state.point) {
      q.set("lat", state.point.lat.toFixed(5));
      q.set("lon", state.point.lon.toFixed(5));
    }
    for (const a of AMENITIES) if (state.amenities.has(a)) q.append("amenity", a);
    if (params.has("lang") || state.lang !== document.documentElement.dataset.served) {
      q.set("lang", state.lang === "en" ? "en" : "zh");
    }
    const s = q.toString();
    history.replaceState(null, "", s ? `?${s}` : location.pathname);
  }

  // --- searching -------------------------------------------------------------------------
  async function search() {
    if (!state.point) {
      $("summary").textContent = t().need_point;
      return;
    }
    if (state.inflight) state.inflight.abort();
    const ctl = new AbortController();
    state.inflight = ctl;
    const q = new URLSearchParams({
      lat: state.point.lat.toFixed(6), lon: state.point.lon.toFixed(6),
      radius_m: String(RADIUS_M), limit: String(LIMIT), status: "open_or_reported",
    });
    for (const a of state.amenities) q.append("amenity", a);
    $("results").setAttribute("aria-busy", "true");
    if (!state.stations.length) $("summary").textContent = t().loading;
    try {
      const r = await fetch(`${API}/stations/nearby?${q}`, { signal: ctl.signal });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const body = await r.json();
      if (ctl !== state.inflight) return;
      state.stations = body.stations;
      const n = body.stations.filter((s) => s.open_now).length;
      state.lastSummary = () => (n ? t().found(n) : t().none);
      $("summary").textContent = state.lastSummary();
      renderList();
    } catch (e) {
      if (e.name === "AbortError") return;
      state.lastSummary = () => t().net_error;
      $("summary").textContent = t().net_error;
    } finally {
      if (ctl === state.inflight) {
        state.inflight = null;
        $("results").removeAttribute("aria-busy");
      }
    }
  }

  function setPoint(lat, lon, how) {
    state.point = { lat, lon };
    setStatus("where-status", how || t().point_at(fmtPoint(state.point)));
    $("point").value = fmtPoint(state.point);
    syncUrl();
    search();
  }

  function locate() {
    if (!("geolocation" in navigator)) {
      setStatus("where-status", t().geo_none);
      return;
    }
    setStatus("where-status", t().locating);
    navigator.geolocation.getCurrentPosition(
      (pos) => setPoint(pos.coords.latitude, pos.coords.longitude, t().located),
      () => setStatus("where-status", t().geo_denied),
      { enableHighAccuracy: false, timeout: 15000, maximumAge: 60000 },
    );
  }

  function parsePoint(text) {
    const m = text.trim().match(/^(-?\d+(?:\.\d+)?)\s*[,，\s]\s*(-?\d+(?:\.\d+)?)$/);
    if (!m) return null;
    const lat = Number(m[1]);
    const lon = Number(m[2]);
    if (!(Math.abs(lat) <= 90 && Math.abs(lon) <= 180)) return null;
    return { lat, lon };
  }

  // --- the map (Leaflet, loaded only when asked for) -------------------------------------
  function tiles() {
    const m = document.querySelector('meta[name="ws-tiles"]');
    return {
      url: m ? m.content : "",
      attribution: m ? m.dataset.attribution : "",
      gcj: m ? m.dataset.datum === "gcj02" : false,
      maxZoom: m ? Number(m.dataset.maxZoom) || 18 : 18,
    };
  }
  const toMap = (lat, lon) => (tiles().gcj ? wgs84ToGcj02(lat, lon) : [lat, lon]);
  const fromMap = (lat, lon) => (tiles().gcj ? gcj02ToWgs84(lat, lon) : [lat, lon]);

  function loadLeaflet() {
    if (window.L) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const css = document.createElement("link");
      css.rel = "stylesheet";
      css.href = "/finder/vendor/leaflet.css";
      document.head.append(css);
      const js = document.createElement("script");
      js.src = "/finder/vendor/leaflet.js";
      js.onload = () => resolve();
      js.onerror = () => reject(new Error("leaflet"));
      document.head.append(js);
    });
  }

  async function toggleMap() {
    const box = $("map-box");
    const btn = $("map-toggle");
    box.hidden = !box.hidden;
    btn.setAttribute("aria-expanded", String(!box.hidden));
    btn.textContent = box.hidden ? t().map_show : t().map_hide;
    if (box.hidden || state.map) {
      if (state.map) state.map.invalidateSize();
      return;
    }
    try {
      await loadLeaflet();
    } catch (e) {
      $("map-hint").textContent = t().map_failed;
      return;
    }
    const cfg = tiles();
    const center = state.point ? toMap(state.point.lat, state.point.lon) : [35.0, 105.0];
    const map = window.L.map("map", { zoomControl: true, attributionControl: !!cfg.url });
    map.setView(center, state.point ? 13 : 4);
    if (cfg.url) {
      window.L.tileLayer(cfg.url, { attribution: cfg.attribution, maxZoom: cfg.maxZoom }).addTo(map);
    } else {
      $("map-hint").textContent = t().no_tiles;
    }
    map.on("click", (ev) => {
      const [lat, lon] = fromMap(ev.latlng.lat, ev.latlng.lng);
      setPoint(lat, lon);
    });
    state.map = map;
    state.layer = window.L.layerGroup().addTo(map);
    drawMarkers();
  }

  function drawMarkers() {
    if (!state.map) return;
    const L = window.L;
    state.layer.clearLayers();
    if (state.point) {
      L.circleMarker(toMap(state.point.lat, state.point.lon), {
        radius: 8, color: "#1d4ed8", weight: 3, fillOpacity: 0.3,
      }).addTo(state.layer);
    }
    for (const s of state.stations) {
      // The tooltip gets a node, not a string: Leaflet parses a string as HTML, and the name
      // is data (a name with markup in it must show as text).
      L.circleMarker(toMap(s.lat, s.lon), { radius: 7, color: "#0b5d3b", weight: 2, fillOpacity: 0.8 })
        .bindTooltip(el("span", null, s.name))
        .addTo(state.layer);
    }
    if (state.point) state.map.panTo(toMap(state.point.lat, state.point.lon));
  }

  // --- report a problem / suggest a station ----------------------------------------------
  async function post(path, payload) {
    const r = await fetch(`${API}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
    if (r.ok) return null;
    if (r.status === 429) return t().too_many;
    try {
      const body = await r.json();
      return typeof body.detail === "string" ? body.detail : t().net_error;
    } catch (e) {
      return t().net_error;
    }
  }

  function toast(text) {
    const box = $("toast");
    box.textContent = text;
    box.hidden = false;
    clearTimeout(state.toastTimer);
    state.toastTimer = setTimeout(() => { box.hidden = true; }, 4000);
  }

  function openReport(s) {
    state.reportFor = s;
    const form = $("report-form");
    form.reset();
    $("report-error").textContent = "";
    $("report-station").textContent = s.name;
    $("report-dialog").showModal();
  }

  async function sendReport(ev) {
    ev.preventDefault();
    const form = $("report-form");
    const kind = form.elements.kind.value;
    if (!kind) {
      $("report-error").textContent = t().choose_kind;
      return;
    }
    const err = await post("/reports", {
      station_id: state.reportFor.id, kind, text: $("report-text").value,
    });
    if (err) {
      $("report-error").textContent = err;
      return;
    }
    $("report-dialog").close();
    toast(t().thanks_report);
  }

  function openSuggest() {
    if (!state.point) {
      setStatus("where-status", t().need_point);
      $("locate").focus();
      return;
    }
    $("suggest-form").reset();
    $("suggest-error").textContent = "";
    $("suggest-point").textContent = t().point_at(fmtPoint(state.point));
    $("suggest-dialog").showModal();
  }

  async function sendSuggest(ev) {
    ev.preventDefault();
    const name = $("suggest-name").value.trim();
    if (!name) {
      $("suggest-error").textContent = t().name_needed;
      return;
    }
    const err = await post("/suggestions", {
      lat: state.point.lat, lon: state.point.lon, name, note: $("suggest-note").value,
    });
    if (err) {
      $("suggest-error").textContent = err;
      return;
    }
    $("suggest-dialog").close();
    toast(t().thanks_suggest);
  }

  // --- start -------------------------------------------------------------------------------
  function start() {
    document.documentElement.dataset.served = document.documentElement.lang;
    applyLang();
    $("lang-switch").addEventListener("click", () => {
      state.lang = state.lang === "en" ? "zh-CN" : "en";
      try { localStorage.setItem("ws-finder-lang", state.lang); } catch (e) { /* fine */ }
      params.set("lang", state.lang === "en" ? "en" : "zh");
      applyLang();
      syncUrl();
    });
    $("locate").addEventListener("click", locate);
    $("point-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const p = parsePoint($("point").value);
      if (!p) {
        setStatus("where-status", t().bad_point);
        return;
      }
      setPoint(p.lat, p.lon);
    });
    $("map-toggle").addEventListener("click", toggleMap);
    $("report-form").addEventListener("submit", sendReport);
    $("report-form").addEventListener("change", () => { $("report-error").textContent = ""; });
    $("suggest-form").addEventListener("submit", sendSuggest);
    $("suggest-open").addEventListener("click", openSuggest);
    for (const b of document.querySelectorAll("dialog [data-close]")) {
      b.addEventListener("click", () => b.closest("dialog").close());
    }
    const p = parsePoint(`${params.get("lat") || ""},${params.get("lon") || ""}`);
    if (p) setPoint(p.lat, p.lon);
    else locate();
  }

  // For tests and the curious: the datum helpers, the amenity list.
  window.wsFinder = { wgs84ToGcj02, gcj02ToWgs84, AMENITIES, navLinks };
  start();
})();
