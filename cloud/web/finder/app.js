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
  const AMENITY_GROUP = Object.fromEntries(AMENITY_ROWS.map((r) => [r[0], r[3]]));
  // [[key, zh-CN label, en label], …]: the filter's groups in display order.
  const GROUP_ROWS = JSON.parse(
    document.querySelector('meta[name="ws-amenity-groups"]').content || "[]");
  const groupLabels = (i) => Object.fromEntries(GROUP_ROWS.map((r) => [r[0], r[i]]));
  const OPEN_GROUPS = ["food", "power", "hygiene"]; // shown unfolded: what is asked for most
  const SAVED_KEY = "ws-finder-last"; // the last results, for when the network is gone
  const TICKETS_KEY = "ws-finder-tickets"; // this phone's feedback tickets
  const BROWSE_ZOOM = 12; // without a point, stations show on the map from this zoom in
  const CARD_ICONS = 8; // amenity icons on a result card (a 360 px row holds about 8)
  const MAP_FALLBACK_MS = 1500; // the map starts by then even with no results to paint

  const T = {
    "zh-CN": {
      skip: "跳到结果", title: "附近的户外劳动者驿站", where: "位置", locate: "使用我的位置",
      point_label: "或搜索地点：区、街道、路名、驿站名（也可输入坐标）", go: "查找",
      map_show: "展开地图",
      map_hide: "收起地图", map_label: "地图：点按选择位置", filters: "需要的设施",
      results: "最近的开放驿站", suggest_h: "这里需要一个驿站？", suggest_open: "建议在这里设站",
      report_h: "报告问题", report_kind: "出了什么问题？", kind_locked: "门锁着，进不去",
      kind_closed: "驿站没开门", kind_broken: "设施坏了", kind_dirty: "不干净", kind_other: "其他",
      report_text: "补充说明（可选）", cancel: "取消", send: "提交", suggest_name: "地点名称",
      suggest_note: "说明（可选）", lang_switch: "English", lang_switch_label: "Switch to English",
      locating: "正在定位…", located: "已使用你的位置", geo_denied: "无法获取位置：请搜索地点或在地图上选点。",
      geo_none: "此浏览器不能定位：请搜索地点或在地图上选点。",
      bad_point: "请输入地点名称，或按“纬度,经度”输入，例如 22.5431,114.0579",
      point_at: (p) => `位置：${p}`, loading: "正在查找…",
      found: (n) => `附近 50 公里内找到 ${n} 个开放的驿站（由近到远）`,
      none: "附近 50 公里内没有符合条件的开放驿站。试试减少设施筛选。",
      need_point: "请先确定你的位置。", net_error: "网络错误，请稍后再试。",
      open24: "24 小时开放", open_now: "现在开放",
      // Opening hours read out (hoursHuman): OSM day codes in Chinese
      days: { Mo: "周一", Tu: "周二", We: "周三", Th: "周四", Fr: "周五", Sa: "周六", Su: "周日",
        PH: "法定节假日" },
      every_day: "每天", day_range: (a, b) => `${a}至${b}`, day_sep: "、", rule_sep: "；",
      day_off: "休息",
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
      a: amenityLabels(1), g: groupLabels(1),
      more_groups: "更多设施", more_amenities: (n) => `另有 ${n} 项设施`, place_none: "没有找到这个地点。试试区名、路名或驿站名。",
      place_searching: "正在查找地点…", place_at: (n, c) => `位置：${n}${c ? `（${c}）` : ""}`,
      place_kind: { city: "城市", district: "区/街道", road: "道路", station: "驿站" },
      place_stations: (n) => `${n} 个驿站`,
      closed_h: "附近暂未开放的驿站",
      opens: (t, day) => `${day}${t} 开门`, tomorrow: "明天 ",
      date: (m, d) => `${m}月${d}日 `,
      why_down: "暂停服务（设备离线）", why_fault: "暂停服务（门禁故障）",
      why_door_closed: "门已按站点排班关闭（仅工作人员）",
      why_maintenance: "维护中，暂停开放", why_closed: "暂未开放",
      why_maintenance_until: (hm, day, why) => `维护中，预计 ${day}${hm} 恢复${why ? `：${why}` : ""}`,
      why_maintenance_because: (why) => `维护中，暂停开放：${why}`,
      planned_maintenance: (from, to, why) => `计划维护：${from} 至 ${to || "另行通知"}${why ? `（${why}）` : ""}`,
      details: "详情", details_label: (name) => `${name} 的详情`, back: "← 返回列表",
      d_basis: "开放依据", d_confirmed: "最近确认", d_hours: "营业时间", d_address: "地址",
      d_operator: "运营单位", d_capacity: "容纳人数", d_amenities: "设施",
      d_entrance: "入口", d_phone: "联系电话", call: (p) => `拨打 ${p}`,
      basis_live_long: "门禁联网，实时确认", basis_schedule_long: "该站未联网：按公布的营业时间判断，可能不准",
      seen: (a) => `设备${a}在线`, entry: (a) => `最近一次成功进门：${a}`,
      no_confirm: "无联网设备，无法确认", no_entry: "暂无进门记录",
      ago: (m) => (m < 1 ? "刚刚" : m < 60 ? `${m} 分钟前` : m < 1440 ? `${Math.floor(m / 60)} 小时前`
        : `${Math.floor(m / 1440)} 天前`),
      capacity: (c) => `${c} 人`, unknown: "未知",
      share: "复制链接", copied: "链接已复制", not_found: "没有找到这个驿站。",
      stale: (t) => `无网络：显示的是 ${t} 的结果，可能已有变化`,
      stale_station: (t) => `无网络：这是 ${t} 的信息`,
      ticket_h: "反馈进度", ticket_no: (n) => `反馈编号 ${n}`,
      ticket_states: { received: "已收到", under_review: "处理中", resolved: "已解决",
        built: "已建成", declined: "未采纳", closed: "已关闭" },
      ticket_report: (k) => `问题：${({ locked: "门锁着，进不去", closed: "驿站没开门",
        broken: "设施坏了", dirty: "不干净", other: "其他" })[k] || k}`,
      ticket_suggestion: (n) => `建议设站：${n}`, ticket_reply: (r) => `运营回复：${r}`,
      ticket_station: (n) => `查看驿站：${n}`, ticket_missing: "没有找到这个反馈编号。",
      ticket_at: (t) => `更新于 ${t}`,
      thanks_ticket: (n) => `已收到，谢谢！反馈编号 ${n}`, track: "查看进度",
      mine_h: "我的反馈", status_link: "全市驿站开放情况",
    },
    en: {
      skip: "Skip to results", title: "Rest stations for outdoor workers nearby",
      where: "Location", locate: "Use my location",
      point_label: "or search a place: district, street, road, station name (or lat,lon)",
      go: "Search", map_show: "Show the map", map_hide: "Hide the map",
      map_label: "Map: tap to choose a location", filters: "Amenities I need",
      results: "Nearest open stations", suggest_h: "Need a station here?",
      suggest_open: "Suggest a station here", report_h: "Report a problem",
      report_kind: "What is wrong?", kind_locked: "Locked, cannot get in",
      kind_closed: "Station not open", kind_broken: "Something is broken", kind_dirty: "Dirty", kind_other: "Other",
      report_text: "Details (optional)", cancel: "Cancel", send: "Send",
      suggest_name: "Name of the place", suggest_note: "Note (optional)",
      lang_switch: "中文", lang_switch_label: "切换到中文", locating: "Finding your location…",
      located: "Using your location",
      geo_denied: "Could not get your location: search a place or pick one on the map.",
      geo_none: "This browser cannot locate you: search a place or pick one on the map.",
      bad_point: "Type a place name, or latitude,longitude, e.g. 22.5431,114.0579",
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
      a: amenityLabels(2), g: groupLabels(2),
      more_groups: "More amenities", more_amenities: (n) => `${n} more amenities`, place_none: "No such place found. Try a district, road or station name.",
      place_searching: "Looking for the place…", place_at: (n, c) => `Location: ${n}${c ? ` (${c})` : ""}`,
      place_kind: { city: "City", district: "District", road: "Road", station: "Station" },
      place_stations: (n) => `${n} station${n === 1 ? "" : "s"}`,
      closed_h: "Stations nearby that are closed now",
      opens: (t, day) => `Opens ${day}${t}`, tomorrow: "tomorrow ",
      date: (m, d) => `${d}/${m} `,
      why_down: "Out of service (offline)", why_fault: "Out of service (door fault)",
      why_door_closed: "Door closed by the station's own schedule (staff only)",
      why_maintenance: "Closed for maintenance", why_closed: "Closed now",
      why_maintenance_until: (hm, day, why) => `Closed for maintenance, expected back ${day}${hm}${why ? `: ${why}` : ""}`,
      why_maintenance_because: (why) => `Closed for maintenance: ${why}`,
      planned_maintenance: (from, to, why) => `Planned maintenance: ${from} to ${to || "further notice"}${why ? ` (${why})` : ""}`,
      details: "Details", details_label: (name) => `Details of ${name}`, back: "← Back to the list",
      d_basis: "Open by", d_confirmed: "Last confirmed", d_hours: "Opening hours", d_address: "Address",
      d_operator: "Run by", d_capacity: "Seats", d_amenities: "Amenities",
      d_entrance: "Entrance", d_phone: "Phone", call: (p) => `Call ${p}`,
      basis_live_long: "Its door system confirms it live",
      basis_schedule_long: "Not connected: judged by its published hours only, may be wrong",
      seen: (a) => `Station online ${a}`, entry: (a) => `Last successful entry ${a}`,
      no_confirm: "No connected device: cannot confirm", no_entry: "No entries recorded yet",
      ago: (m) => (m < 1 ? "just now" : m < 60 ? `${m} min ago` : m < 1440 ? `${Math.floor(m / 60)} h ago`
        : `${Math.floor(m / 1440)} days ago`),
      capacity: (c) => `${c} people`, unknown: "unknown",
      share: "Copy link", copied: "Link copied", not_found: "No such station.",
      stale: (t) => `No network: these results are from ${t} and may have changed`,
      stale_station: (t) => `No network: this is as of ${t}`,
      ticket_h: "Feedback status", ticket_no: (n) => `Ticket ${n}`,
      ticket_states: { received: "Received", under_review: "Under review", resolved: "Resolved",
        built: "Built", declined: "Declined", closed: "Closed" },
      ticket_report: (k) => `Problem: ${({ locked: "locked, cannot get in", closed: "station not open",
        broken: "something is broken", dirty: "dirty", other: "other" })[k] || k}`,
      ticket_suggestion: (n) => `Suggested station: ${n}`, ticket_reply: (r) => `Reply: ${r}`,
      ticket_station: (n) => `See the station: ${n}`, ticket_missing: "No such ticket.",
      ticket_at: (t) => `Updated ${t}`,
      thanks_ticket: (n) => `Thank you! Ticket ${n}`, track: "Track it",
      mine_h: "My feedback", status_link: "Stations open across the city",
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
    hot_water: '<path d="M5 10h11v7a4 4 0 0 1-4 4H9a4 4 0 0 1-4-4zM16 12h2a2 2 0 0 1 0 4h-2M8 3c0 2 2 2 2 4M12 3c0 2 2 2 2 4"/>',
    ebike_charging: '<circle cx="5.5" cy="17" r="3.5"/><circle cx="18.5" cy="17" r="3.5"/><path d="M5.5 17 9 9h5l4.5 8M9 9 7.5 6H5M13 4l-2 4h3l-2 4"/>',
    wifi: '<path d="M2 8.5a15 15 0 0 1 20 0M5 12a10 10 0 0 1 14 0M8.5 15.5a5 5 0 0 1 7 0M12 19v.01"/>',
    umbrella: '<path d="M2 12a10 10 0 0 1 20 0zM12 12v7a2 2 0 0 0 4 0M12 2v2"/>',
    books: '<path d="M4 19V5a2 2 0 0 1 2-2h13v16H6a2 2 0 0 0-2 2 2 2 0 0 0 2 2h13"/>',
    shower: '<path d="M4 20V6a3 3 0 0 1 6 0M8 8h6a4 4 0 0 0-6 0M11 13v.01M14 12v.01M17 13v.01M12 16v.01M15 16v.01"/>',
  };
  // Amenities without an icon of their own show this one (with their label, as all do).
  const GENERIC_ICON = '<circle cx="12" cy="12" r="9"/><path d="M8 12.5l2.5 2.5L16 9.5"/>';
  const SVG_NS = "http://www.w3.org/2000/svg";
  const ICON_TEMPLATES = {};

  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const state = {
    lang: pickLang(),
    point: null, // {lat, lon} WGS-84
    amenities: new Set(params.getAll("amenity").filter((a) => AMENITIES.includes(a))),
    stations: [],
    closed: [], // nearby stations not open now (greyed, with when they open)
    savedAt: null, // the time of the results shown when they are old (offline), else null
    pointLabel: null, // {name, city} when the point came from a place search
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

  // The navigation apps' links and the "report a problem" button of station `s`, as the
  // result list and the station page both show them.
  function goAndReport(s) {
    const out = navLinks(s).map(([app, href]) => {
      const a = el("a", "nav-" + app, t()["nav_" + app]);
      a.href = href;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      a.setAttribute("aria-label", t().nav_label(t()["nav_" + app], s.name));
      return a;
    });
    const rep = el("button", "link report", t().report);
    rep.type = "button";
    rep.setAttribute("aria-label", t().report_label(s.name));
    rep.addEventListener("click", () => openReport(s));
    return [...out, rep];
  }

  // --- rendering -------------------------------------------------------------------------
  function icon(name) {
    let tpl = ICON_TEMPLATES[name];
    if (!tpl) {
      tpl = document.createElementNS(SVG_NS, "svg");
      tpl.setAttribute("viewBox", "0 0 24 24");
      tpl.setAttribute("class", "icon");
      tpl.innerHTML = ICONS[name] || GENERIC_ICON; // our own constant markup, never data
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

  // "08:00", "明天 08:00", "6月3日 08:00" in the station's zone, for an instant.
  function clockAt(iso, tz) {
    const at = new Date(iso);
    const zone = tz || "Asia/Shanghai";
    const hm = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).format(at);
    const day = new Intl.DateTimeFormat("en-CA", { timeZone: zone, dateStyle: "short" });
    const today = day.format(new Date());
    const tomorrow = day.format(new Date(Date.now() + 86400000));
    const d = day.format(at);
    if (d === today) return [hm, ""];
    if (d === tomorrow) return [hm, t().tomorrow];
    const [, mo, da] = d.split("-").map(Number);
    return [hm, t().date(mo, da)];
  }

  // Why a station is not open, in words: when it opens, or what is wrong.
  function closedText(s) {
    if (s.reason === "station_down") return t().why_down;
    if (s.reason === "station_fault") return t().why_fault;
    if (s.reason === "door_closed") return t().why_door_closed;
    if (s.reason === "maintenance") return maintenanceText(s.maintenance_window, s.tz);
    if (s.opens_at) {
      const [hm, day] = clockAt(s.opens_at, s.tz);
      return t().opens(hm, day);
    }
    return t().why_closed;
  }

  // A maintenance window (its reason is the operator's words, shown as text): until when.
  function maintenanceText(w, zone) {
    if (!w) return t().why_maintenance;
    if (w.ends_at) {
      const [hm, day] = clockAt(w.ends_at, zone);
      return t().why_maintenance_until(hm, day, w.reason);
    }
    return w.reason ? t().why_maintenance_because(w.reason) : t().why_maintenance;
  }

  // The next planned window (within a week: the API sends no later one), or "".
  function plannedText(w, zone) {
    if (!w) return "";
    const at = (iso) => clockAt(iso, zone).reverse().join("");
    return t().planned_maintenance(at(w.starts_at), w.ends_at ? at(w.ends_at) : null, w.reason);
  }

  function hoursText(s) {
    if (!s.open_now && !s.reported_locked_at) return closedText(s);
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

  // Opening hours in words for the common OSM forms ("Mo-Fr 08:00-20:00; Sa,Su 09:00-18:00;
  // PH off" → "周一至周五 08:00-20:00；周六、周日 09:00-18:00；法定节假日休息"), or null when
  // the expression says more than day lists, times and "off" (then it is shown as written),
  // or in a language whose table has no day names (English readers read OSM's codes).
  const DAY = "(?:Mo|Tu|We|Th|Fr|Sa|Su)(?:-(?:Mo|Tu|We|Th|Fr|Sa|Su))?|PH"; // a day, a range, PH
  const DAYS_RE = new RegExp(`^(?:${DAY})(?:,(?:${DAY}))*$`);
  const TIMES_RE = /^\d\d:\d\d-\d\d:\d\d(,\d\d:\d\d-\d\d:\d\d)*$/;

  function hoursHuman(expr) {
    const w = t();
    if (!w.days) return null;
    const rules = expr.split(";").map((r) => r.trim()).filter(Boolean);
    if (!rules.length) return null;
    const out = [];
    for (const rule of rules) {
      const parts = rule.split(/\s+/);
      let days = null;
      if (DAYS_RE.test(parts[0])) days = parts.shift();
      const rest = parts.join(" ");
      let when;
      if (rest === "off" || rest === "closed") when = w.day_off;
      else if (TIMES_RE.test(rest)) when = ` ${rest.split(",").join(w.day_sep)}`;
      else return null;
      let said = w.every_day;
      if (days && days !== "Mo-Su") {
        said = days.split(",").map((item) => {
          const [a, b] = item.split("-");
          return b ? w.day_range(w.days[a], w.days[b]) : w.days[a];
        }).join(w.day_sep);
      }
      out.push(`${said}${when}`);
    }
    return out.join(w.rule_sep);
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
    if (!s.open_now && !s.reported_locked_at) {
      // Closed (by its hours, down, in maintenance): greyed, with when it opens; never in
      // the open list above, so never offered as the nearest open one.
      li.classList.add("closed");
    }
    // basis "schedule": no agent confirms it (none there, or the cloud cannot see it now),
    // so it is open by its published hours only; the API ranks confirmed ones first within
    // 50 m. Its occupancy is unknown anyway, so the basis stands where occupancy would.
    if (s.reported_locked_at) {
      // Not open now only because a worker reported the door locked (reason reported_locked):
      // listed greyed with when, so nobody walks there unwarned or wonders where it went.
      const mins = Math.max(0, Math.floor((Date.now() - Date.parse(s.reported_locked_at)) / 60000));
      li.classList.add("reported");
      li.append(el("p", "reported-locked", t().reported_locked(mins)));
    } else if (!s.open_now) {
      if (s.basis === "schedule") li.append(el("p", "basis", t().basis_schedule));
    } else if (s.basis === "schedule") {
      li.classList.add("schedule");
      li.append(el("p", "basis", t().basis_schedule));
    } else {
      li.append(busy(s));
    }
    if (s.amenities.length) {
      const ul = el("ul", "amenities");
      ul.setAttribute("aria-label", t().filters);
      // At most CARD_ICONS icons, the ones filtered for first; the station's page has all.
      const names = s.amenities.filter((a) => t().a[a]); // skip names this page lacks
      const shown = [...names.filter((a) => state.amenities.has(a)),
        ...names.filter((a) => !state.amenities.has(a))].slice(0, CARD_ICONS);
      for (const a of names) {
        if (!shown.includes(a)) continue;
        const item = el("li");
        item.dataset.amenity = a;
        item.title = t().a[a];
        item.append(labelledIcon(a));
        ul.append(item);
      }
      if (names.length > shown.length) {
        const rest = el("li", "more", `+${names.length - shown.length}`);
        rest.setAttribute("aria-label", t().more_amenities(names.length - shown.length));
        ul.append(rest);
      }
      li.append(ul);
    }
    if (s.address) li.append(el("p", "addr", s.address));
    const nav = el("div", "nav");
    const more = el("a", "details", t().details);
    more.href = `#/station/${encodeURIComponent(s.id)}`;
    more.setAttribute("aria-label", t().details_label(s.name));
    nav.append(more);
    nav.append(...goAndReport(s));
    li.append(nav);
    return li;
  }

  function renderList() {
    $("list").replaceChildren(...state.stations.map(card));
    $("closed-list").replaceChildren(...state.closed.map(card));
    $("closed-h").hidden = !state.closed.length;
    drawMarkers();
  }

  function filterButton(a) {
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
    return b;
  }

  // One fold per group (`protocol.amenities.GROUPS`); the most asked-for groups and any
  // group with a chosen amenity are unfolded, the rest fold away so the results stay near.
  function renderFilters() {
    const box = $("filters");
    const open = new Set(
      [...box.querySelectorAll("details[open]")].map((d) => d.dataset.group));
    box.replaceChildren();
    for (const [key] of GROUP_ROWS) {
      const names = AMENITIES.filter((a) => AMENITY_GROUP[a] === key);
      if (!names.length) continue;
      const fold = el("details", "group");
      fold.dataset.group = key;
      const chosen = names.some((a) => state.amenities.has(a));
      fold.open = open.size ? open.has(key) || chosen : OPEN_GROUPS.includes(key) || chosen;
      fold.append(el("summary", null, t().g[key]));
      const row = el("div", "filters");
      row.setAttribute("role", "group");
      row.setAttribute("aria-label", t().g[key]);
      row.append(...names.map(filterButton));
      fold.append(row);
      box.append(fold);
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
    if (state.point) setStatus("where-status", pointText());
    if (state.lastSummary) $("summary").textContent = state.lastSummary();
    showStale();
    if (state.map) $("map-hint").textContent = tiles().url ? "" : t().no_tiles;
    if (!$("station-view").hidden) {
      renderStation(state.station, state.stationStale, state.stationError);
    }
    if (!$("ticket-view").hidden) renderTicket(state.ticket, state.ticketError);
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
    // The view (#/station/…, #/ticket/…) stays: a shared link must keep pointing at it.
    history.replaceState(null, "", (s ? `?${s}` : location.pathname) + location.hash);
  }

  // --- searching -------------------------------------------------------------------------
  // Two requests at once: the open ones (the list, nearest first) and the nearest of all, of
  // which the closed ones are shown greyed below with when they open. The open list paints
  // as soon as it arrives; the closed ones follow.
  function nearbyQuery(status) {
    const q = new URLSearchParams({
      lat: state.point.lat.toFixed(6), lon: state.point.lon.toFixed(6),
      radius_m: String(RADIUS_M), limit: String(LIMIT), status,
    });
    for (const a of state.amenities) q.append("amenity", a);
    return `${API}/stations/nearby?${q}`;
  }

  async function search() {
    if (!state.point) {
      $("summary").textContent = t().need_point;
      return;
    }
    if (state.inflight) state.inflight.abort();
    const ctl = new AbortController();
    state.inflight = ctl;
    $("results").setAttribute("aria-busy", "true");
    if (!state.stations.length) $("summary").textContent = t().loading;
    try {
      const r = await fetch(nearbyQuery("open_or_reported"), { signal: ctl.signal });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const body = await r.json();
      if (ctl !== state.inflight) return;
      state.stations = body.stations;
      state.closed = [];
      state.savedAt = null;
      $("stale").hidden = true;
      const n = body.stations.filter((s) => s.open_now).length;
      state.lastSummary = () => (n ? t().found(n) : t().none);
      $("summary").textContent = state.lastSummary();
      renderList();
      soon(afterFirstPaint);
      // The closed ones only now: asked together, they made the open list wait.
      const all = await fetch(nearbyQuery("any"), { signal: ctl.signal })
        .then((x) => (x.ok ? x.json() : null)).catch(() => null);
      if (ctl !== state.inflight || !all) return;
      state.closed = all.stations.filter((s) => !s.open_now && !s.reported_locked_at);
      renderList();
      save();
    } catch (e) {
      if (e.name === "AbortError") return;
      if (!restore()) {
        state.lastSummary = () => t().net_error;
        $("summary").textContent = t().net_error;
      }
    } finally {
      if (ctl === state.inflight) {
        state.inflight = null;
        $("results").removeAttribute("aria-busy");
      }
    }
  }

  // The last results, kept on the phone with their time: shown, marked old, when the
  // network is gone (the service worker serves the page itself).
  function save() {
    try {
      localStorage.setItem(SAVED_KEY, JSON.stringify({
        at: Date.now(), point: state.point, label: state.pointLabel || null,
        stations: state.stations, closed: state.closed,
      }));
    } catch (e) { /* storage full or off: fine */ }
  }

  function saved() {
    try {
      const v = JSON.parse(localStorage.getItem(SAVED_KEY) || "null");
      return v && Array.isArray(v.stations) ? v : null;
    } catch (e) {
      return null;
    }
  }

  function restore() {
    const v = saved();
    if (!v) return false;
    state.stations = v.stations;
    state.closed = v.closed || [];
    state.savedAt = v.at;
    if (!state.point) {
      state.point = v.point;
      state.pointLabel = v.label;
    }
    const n = v.stations.filter((s) => s.open_now).length;
    state.lastSummary = () => (n ? t().found(n) : t().none);
    $("summary").textContent = state.lastSummary();
    showStale();
    renderList();
    return true;
  }

  function when(ms) {
    return new Intl.DateTimeFormat(state.lang, {
      month: "numeric", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).format(new Date(ms));
  }

  function showStale() {
    $("stale").hidden = !state.savedAt;
    if (state.savedAt) $("stale").textContent = t().stale(when(state.savedAt));
  }

  function pointText() {
    if (state.pointLabel) return t().place_at(state.pointLabel.name, state.pointLabel.city);
    return t().point_at(fmtPoint(state.point));
  }

  function setPoint(lat, lon, how, label) {
    state.point = { lat, lon };
    state.pointLabel = label || null;
    setStatus("where-status", how || pointText());
    $("point").value = label ? label.name : fmtPoint(state.point);
    syncUrl();
    search();
    if (state.map) state.map.setView(toMap(lat, lon), Math.max(state.map.getZoom(), 13));
  }

  function locate() {
    if (!("geolocation" in navigator)) {
      setStatus("where-status", t().geo_none);
      return;
    }
    setStatus("where-status", t().locating);
    navigator.geolocation.getCurrentPosition(
      (pos) => setPoint(pos.coords.latitude, pos.coords.longitude, t().located),
      () => {
        setStatus("where-status", t().geo_denied);
        if (!state.point) restore();
        soon(afterFirstPaint);
      },
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

  // --- place search (the registry's own districts, roads and stations; no geocoder) -------
  async function searchPlace(text) {
    const box = $("places");
    setStatus("where-status", t().place_searching);
    let places;
    try {
      const r = await fetch(`${API}/places?${new URLSearchParams({ q: text, limit: "6" })}`);
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      places = (await r.json()).places;
    } catch (e) {
      setStatus("where-status", t().net_error);
      return;
    }
    if (!places.length) {
      box.hidden = true;
      setStatus("where-status", t().place_none);
      return;
    }
    // The best match is used at once; the others stay offered for a tap.
    choosePlace(places[0]);
    box.replaceChildren(...places.map((p, i) => {
      const li = el("li");
      const b = el("button", "place" + (i === 0 ? " chosen" : ""));
      b.type = "button";
      b.dataset.kind = p.kind;
      b.append(el("span", "pname", p.name),
        el("span", "pmeta", [t().place_kind[p.kind], p.city,
          p.kind === "station" ? "" : t().place_stations(p.stations)].filter(Boolean).join(" · ")));
      b.addEventListener("click", () => {
        for (const o of box.querySelectorAll("button.place")) o.classList.remove("chosen");
        b.classList.add("chosen");
        choosePlace(p);
      });
      li.append(b);
      return li;
    }));
    box.hidden = false;
  }

  function choosePlace(p) {
    setPoint(p.lat, p.lon, null, { name: p.name, city: p.city });
  }

  // --- the map (Leaflet): shown from the start with the cities' outlines --------------------
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

  // After the next frame is painted (what is on screen first stays first).
  function soon(fn) {
    requestAnimationFrame(() => setTimeout(fn, 0));
  }

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

  function toggleMap() {
    const box = $("map-box");
    const btn = $("map-toggle");
    box.hidden = !box.hidden;
    btn.setAttribute("aria-expanded", String(!box.hidden));
    btn.textContent = box.hidden ? t().map_show : t().map_hide;
    if (!box.hidden) {
      if (state.map) state.map.invalidateSize();
      else startMap();
    }
  }

  // Loaded after the first results are asked for, so the list never waits for the map.
  async function startMap() {
    if (state.map || state.mapLoading) return;
    state.mapLoading = true;
    try {
      await loadLeaflet();
    } catch (e) {
      $("map-hint").textContent = t().map_failed;
      state.mapLoading = false;
      return;
    }
    const cfg = tiles();
    const map = window.L.map("map", { zoomControl: true, attributionControl: !!cfg.url });
    if (state.point) map.setView(toMap(state.point.lat, state.point.lon), 13);
    else map.setView([35.0, 105.0], 4);
    if (cfg.url) {
      window.L.tileLayer(cfg.url, { attribution: cfg.attribution, maxZoom: cfg.maxZoom }).addTo(map);
    } else {
      $("map-hint").textContent = t().no_tiles;
    }
    map.on("click", (ev) => {
      const [lat, lon] = fromMap(ev.latlng.lat, ev.latlng.lng);
      setPoint(lat, lon);
    });
    map.on("moveend", browse);
    state.map = map;
    // Cities lie under the stations (a pane below Leaflet's overlay pane, z-index 400).
    map.createPane("cities").style.zIndex = "350";
    state.cityLayer = window.L.layerGroup().addTo(map);
    state.browseLayer = window.L.layerGroup().addTo(map);
    state.layer = window.L.layerGroup().addTo(map);
    drawMarkers();
    drawCities();
  }

  async function drawCities() {
    let cities;
    try {
      const r = await fetch(`${API}/places/cities`);
      if (!r.ok) return;
      cities = (await r.json()).cities;
    } catch (e) {
      return;
    }
    const L = window.L;
    const bounds = [];
    for (const c of cities) {
      const ring = c.hull.map(([lat, lon]) => toMap(lat, lon));
      bounds.push(...ring);
      const label = el("span", null, `${c.name} · ${t().place_stations(c.stations)}`);
      const shape = ring.length >= 3
        ? L.polygon(ring, {
          pane: "cities", className: "ws-city", color: "#48524d", weight: 2, fillOpacity: 0.06,
        })
        : L.circleMarker(toMap(c.lat, c.lon), {
          pane: "cities", className: "ws-city", radius: 10, color: "#48524d",
        });
      // Zoomed out, a tap on a city goes to it; zoomed in, it is a tap on the map there.
      shape.bindTooltip(label).on("click", (ev) => {
        L.DomEvent.stopPropagation(ev);
        if (state.map.getZoom() < 10) {
          setPoint(c.lat, c.lon, null, { name: c.name, city: "" });
        } else {
          const [lat, lon] = fromMap(ev.latlng.lat, ev.latlng.lng);
          setPoint(lat, lon);
        }
      }).addTo(state.cityLayer);
    }
    if (!state.point && bounds.length) state.map.fitBounds(bounds, { padding: [12, 12] });
  }

  // Before a point is chosen, a map zoomed in to street level shows the stations in view
  // (open green, closed grey), so looking around the map is already useful.
  async function browse() {
    const map = state.map;
    if (state.point || map.getZoom() < BROWSE_ZOOM) {
      state.browseLayer.clearLayers();
      return;
    }
    const c = map.getCenter();
    const [lat, lon] = fromMap(c.lat, c.lng);
    const q = new URLSearchParams({
      lat: lat.toFixed(6), lon: lon.toFixed(6), radius_m: "5000", limit: "100", status: "any",
    });
    let body;
    try {
      const r = await fetch(`${API}/stations/nearby?${q}`);
      if (!r.ok) return;
      body = await r.json();
    } catch (e) {
      return;
    }
    if (state.point) return;
    state.browseLayer.clearLayers();
    for (const s of body.stations) marker(s, s.open_now).addTo(state.browseLayer);
  }

  function marker(s, open) {
    const L = window.L;
    // The tooltip gets a node, not a string: Leaflet parses a string as HTML, and the name
    // is data (a name with markup in it must show as text).
    const style = open
      ? { color: "#0b5d3b", fillOpacity: 0.8, dashArray: s.basis === "schedule" ? "3 3" : null }
      : { color: "#7c8781", fillColor: "#c9d1cd", fillOpacity: 0.8 };
    return L.circleMarker(toMap(s.lat, s.lon), {
      className: `ws-station ${open ? "ws-open" : "ws-closed"}`, radius: 7, weight: 2, ...style,
    })
      .bindTooltip(el("span", null, s.name))
      .on("click", (ev) => {
        L.DomEvent.stopPropagation(ev);
        location.hash = `#/station/${encodeURIComponent(s.id)}`;
      });
  }

  function drawMarkers() {
    if (!state.map) return;
    const L = window.L;
    state.layer.clearLayers();
    if (state.point) {
      L.circleMarker(toMap(state.point.lat, state.point.lon), {
        className: "ws-point", radius: 8, color: "#1d4ed8", weight: 3, fillOpacity: 0.3,
      }).addTo(state.layer);
    }
    if (state.point) state.browseLayer.clearLayers();
    const all = [...state.stations.map((s) => [s, true]), ...state.closed.map((s) => [s, false])];
    for (const [s, listed] of all) marker(s, listed && s.open_now).addTo(state.layer);
    if (state.point) state.map.panTo(toMap(state.point.lat, state.point.lon));
  }

  // --- views: #/station/<id> and #/ticket/<number>, shareable ------------------------------
  function route() {
    const m = location.hash.match(/^#\/(station|ticket)\/([^/?#]+)/);
    const view = m ? m[1] : "list";
    document.querySelector("main").hidden = view !== "list";
    $("station-view").hidden = view !== "station";
    $("ticket-view").hidden = view !== "ticket";
    if (view === "station") showStation(decodeURIComponent(m[2]));
    else if (view === "ticket") showTicket(decodeURIComponent(m[2]));
    else {
      document.title = state.lang === "en" ? "Stations nearby · 附近的驿站" : "附近的驿站 · Stations nearby";
      if (state.map) state.map.invalidateSize();
    }
  }

  function known(id) {
    return [...state.stations, ...state.closed, ...((saved() || {}).stations || [])]
      .find((s) => s.id === id);
  }

  async function showStation(id) {
    state.viewing = id;
    let s = null;
    let stale = null;
    try {
      const r = await fetch(`${API}/stations/${encodeURIComponent(id)}`);
      if (r.status === 404) {
        renderStation(null, null);
        return;
      }
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      s = await r.json();
    } catch (e) {
      s = known(id) || null;
      stale = s ? (state.savedAt || (saved() || {}).at || Date.now()) : null;
      if (!s) {
        renderStation(null, null, t().net_error);
        return;
      }
    }
    if (state.viewing === id) renderStation(s, stale);
  }

  function renderStation(s, stale, error) {
    state.station = s;
    state.stationStale = stale;
    state.stationError = error;
    const view = $("station-view");
    if (!s) {
      $("sv-name").textContent = error || t().not_found;
      $("sv-planned").hidden = true;
      for (const id of ["sv-state", "sv-basis", "sv-confirmed", "sv-hours", "sv-address",
        "sv-operator", "sv-capacity", "sv-entrance", "sv-phone"]) $(id).textContent = "";
      $("sv-amenities").replaceChildren();
      $("sv-actions").replaceChildren();
      return;
    }
    document.title = `${s.name} · ${state.lang === "en" ? "Station" : "驿站"}`;
    $("sv-name").textContent = s.name;
    const stateLine = $("sv-state");
    stateLine.className = "sv-state " + (s.open_now ? "open" : "shut");
    stateLine.textContent = s.open_now ? hoursText(s) : s.reported_locked_at
      ? t().reported_locked(Math.max(0, Math.floor((Date.now() - Date.parse(s.reported_locked_at)) / 60000)))
      : closedText(s);
    $("sv-planned").textContent = plannedText(s.next_maintenance, s.tz);
    $("sv-planned").hidden = !s.next_maintenance;
    $("sv-stale").hidden = !stale;
    if (stale) $("sv-stale").textContent = t().stale_station(when(stale));
    $("sv-basis").textContent = s.basis === "live" ? t().basis_live_long : t().basis_schedule_long;
    const mins = (iso) => Math.max(0, Math.floor((Date.now() - Date.parse(iso)) / 60000));
    const confirmed = [];
    if (s.last_seen_at) confirmed.push(t().seen(t().ago(mins(s.last_seen_at))));
    if (s.last_entry_at) confirmed.push(t().entry(t().ago(mins(s.last_entry_at))));
    else if (s.last_seen_at) confirmed.push(t().no_entry);
    $("sv-confirmed").textContent = confirmed.length ? confirmed.join("；")
      : s.basis === "live" ? t().unknown : t().no_confirm;
    const expr = s.opening_hours.trim();
    const words = expr === "24/7" ? t().open24 : hoursHuman(expr);
    $("sv-hours").textContent = words ? `${words}（${expr}）` : expr;
    const place = s.city && !s.address.startsWith(s.city) ? [s.city, s.address] : [s.address];
    $("sv-address").textContent = place.filter(Boolean).join(" ") || t().unknown;
    $("sv-operator").textContent = s.operator || t().unknown;
    $("sv-capacity").textContent = s.capacity == null ? t().unknown : t().capacity(s.capacity);
    // Entrance hint and phone (registry data, inserted as text): shown only when known.
    const hint = (s.entrance_hint || "").trim();
    $("sv-entrance").textContent = hint;
    $("sv-entrance").hidden = $("sv-entrance-label").hidden = !hint;
    const phone = (s.contact_phone || "").trim();
    const dial = el("a", "tel", phone);
    dial.href = `tel:${phone.replace(/[^0-9+]/g, "")}`;
    dial.setAttribute("aria-label", t().call(phone));
    $("sv-phone").replaceChildren(...(phone ? [dial] : []));
    $("sv-phone").hidden = $("sv-phone-label").hidden = !phone;
    const box = $("sv-amenities");
    box.replaceChildren();
    for (const [key] of GROUP_ROWS) {
      const names = s.amenities.filter((a) => AMENITY_GROUP[a] === key);
      if (!names.length) continue;
      const ul = el("ul", "amenity-words");
      ul.setAttribute("aria-label", t().g[key]);
      for (const a of names) {
        const li = el("li");
        li.dataset.amenity = a;
        const svg = icon(a);
        svg.setAttribute("aria-hidden", "true");
        li.append(svg, el("span", null, t().a[a]));
        ul.append(li);
      }
      box.append(el("p", "group-name", t().g[key]), ul);
    }
    const actions = $("sv-actions");
    actions.replaceChildren();
    actions.append(...goAndReport(s));
    const share = el("button", "link share", t().share);
    share.type = "button";
    share.addEventListener("click", async () => {
      const url = `${location.origin}/#/station/${encodeURIComponent(s.id)}`;
      try {
        await navigator.clipboard.writeText(url);
        toast(t().copied);
      } catch (e) {
        toast(url);
      }
    });
    actions.append(share);
    view.focus();
  }

  async function showTicket(number) {
    state.viewingTicket = number;
    $("tv-error").textContent = "";
    try {
      const r = await fetch(`${API}/tickets/${encodeURIComponent(number)}`);
      if (r.status === 404) {
        renderTicket(null, t().ticket_missing);
        return;
      }
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const v = await r.json();
      if (state.viewingTicket === number) renderTicket(v);
    } catch (e) {
      renderTicket(null, t().net_error);
    }
  }

  function renderTicket(v, error) {
    state.ticket = v;
    state.ticketError = error;
    $("tv-error").textContent = error || "";
    $("tv-number").textContent = v ? t().ticket_no(v.ticket) : "";
    const steps = $("tv-steps");
    steps.replaceChildren();
    $("tv-reply").hidden = true;
    $("tv-station").hidden = true;
    $("tv-subject").textContent = "";
    if (!v) return;
    const open = v.state === "received" || v.state === "under_review";
    const final = [open ? (v.kind === "report" ? "resolved" : "built") : v.state];
    const order = ["received", "under_review", ...final];
    const at = order.indexOf(v.state);
    order.forEach((name, i) => {
      const li = el("li", i < at ? "done" : i === at ? "current" : "todo", t().ticket_states[name]);
      li.dataset.state = name;
      if (i === at) li.setAttribute("aria-current", "step");
      steps.append(li);
    });
    $("tv-subject").textContent = v.kind === "report"
      ? `${t().ticket_report(v.subject)}${v.station_name ? ` · ${v.station_name}` : ""}`
      : t().ticket_suggestion(v.subject);
    if (v.reply) {
      $("tv-reply").hidden = false;
      $("tv-reply").textContent = t().ticket_reply(v.reply);
    }
    if (v.station_id) {
      $("tv-station").hidden = false;
      const a = $("tv-station-link");
      a.href = `#/station/${encodeURIComponent(v.station_id)}`;
      a.textContent = t().ticket_station(v.station_name || v.station_id);
    }
    $("ticket-view").focus();
  }

  // This phone's tickets (number, what, when), newest first, at most 20.
  function remember(ticket, what) {
    try {
      const list = JSON.parse(localStorage.getItem(TICKETS_KEY) || "[]");
      list.unshift({ ticket, what, at: Date.now() });
      localStorage.setItem(TICKETS_KEY, JSON.stringify(list.slice(0, 20)));
    } catch (e) { /* fine */ }
    renderMine();
  }

  function renderMine() {
    let list = [];
    try { list = JSON.parse(localStorage.getItem(TICKETS_KEY) || "[]"); } catch (e) { /* fine */ }
    $("mine").hidden = !list.length;
    $("mine-list").replaceChildren(...list.map((m) => {
      const li = el("li");
      const a = el("a", null, `${m.ticket} · ${m.what}`);
      a.href = `#/ticket/${encodeURIComponent(m.ticket)}`;
      li.append(a);
      return li;
    }));
  }

  // --- report a problem / suggest a station ----------------------------------------------
  async function post(path, payload) {
    const r = await fetch(`${API}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload),
    });
    if (r.ok) return [null, await r.json()];
    if (r.status === 429) return [t().too_many, null];
    try {
      const body = await r.json();
      return [typeof body.detail === "string" ? body.detail : t().net_error, null];
    } catch (e) {
      return [t().net_error, null];
    }
  }

  // A short message; with a ticket, a link to follow it (shown longer, to be tapped).
  function toast(text, ticket) {
    const box = $("toast");
    box.textContent = text;
    if (ticket) {
      const a = el("a", "track", t().track);
      a.href = `#/ticket/${encodeURIComponent(ticket)}`;
      box.append(" ", a);
    }
    box.hidden = false;
    clearTimeout(state.toastTimer);
    state.toastTimer = setTimeout(() => { box.hidden = true; }, ticket ? 10000 : 4000);
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
    const [err, body] = await post("/reports", {
      station_id: state.reportFor.id, kind, text: $("report-text").value,
    });
    if (err) {
      $("report-error").textContent = err;
      return;
    }
    $("report-dialog").close();
    remember(body.ticket, state.reportFor.name);
    toast(`${t().thanks_report} ${t().thanks_ticket(body.ticket)}`, body.ticket);
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
    const [err, body] = await post("/suggestions", {
      lat: state.point.lat, lon: state.point.lon, name, note: $("suggest-note").value,
    });
    if (err) {
      $("suggest-error").textContent = err;
      return;
    }
    $("suggest-dialog").close();
    remember(body.ticket, name);
    toast(`${t().thanks_suggest} ${t().thanks_ticket(body.ticket)}`, body.ticket);
  }

  // --- start -------------------------------------------------------------------------------
  function start() {
    document.documentElement.dataset.served = document.documentElement.lang;
    // Where first: the browser looks up the location (or the search starts) while the rest
    // of the page is drawn.
    const p = parsePoint(`${params.get("lat") || ""},${params.get("lon") || ""}`);
    if (p) setPoint(p.lat, p.lon);
    else locate();
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
      const text = $("point").value.trim();
      const p = parsePoint(text);
      if (p) {
        $("places").hidden = true;
        setPoint(p.lat, p.lon);
      } else if (text && !/^[-\d.,，\s]+$/.test(text)) {
        searchPlace(text);
      } else {
        setStatus("where-status", t().bad_point);
      }
    });
    $("map-toggle").addEventListener("click", toggleMap);
    $("report-form").addEventListener("submit", sendReport);
    $("report-form").addEventListener("change", () => { $("report-error").textContent = ""; });
    $("suggest-form").addEventListener("submit", sendSuggest);
    $("suggest-open").addEventListener("click", openSuggest);
    for (const b of document.querySelectorAll("dialog [data-close]")) {
      b.addEventListener("click", () => b.closest("dialog").close());
    }
    window.addEventListener("hashchange", route);
    renderMine();
    route();
    // The map once the first results are painted (search() starts it), or in a moment if
    // there is no location to search from: the list never waits for it.
    setTimeout(afterFirstPaint, MAP_FALLBACK_MS);
  }

  // The map and the offline worker (which fetches the page's files, Leaflet included) start
  // once the first results are on screen, so they never compete with them.
  function afterFirstPaint() {
    startMap();
    if (state.offlineAsked || !("serviceWorker" in navigator)) return;
    state.offlineAsked = true;
    navigator.serviceWorker.register("/sw.js").catch(() => { /* no offline: fine */ });
  }

  // For tests and the curious: the datum helpers, the amenity list.
  window.wsFinder = { wgs84ToGcj02, gcj02ToWgs84, AMENITIES, navLinks };
  window.wsFinder.map = () => state.map;
  start();
})();
