// The fleet map: every station as a dot coloured by health, clustered (Leaflet.markercluster)
// so 10,000+ stations stay responsive. Without a tile URL the map draws no tiles: a plain
// background, a graticule and an outline around each city's stations — it works offline.

import { get } from "./api.js";
import { h, raw } from "./dom.js";
import { t, word } from "./lang.js";

export const COLORS = { ok: "#1a7f37", degraded: "#b35900", down: "#c62828", unknown: "#5f6b7a" };
const RANK = { down: 0, degraded: 1, unknown: 2, ok: 3 };

function worst(counts) {
  for (const health of ["down", "degraded", "unknown"]) if (counts[health]) return health;
  return "ok";
}

// Convex hull (monotone chain) of [lat, lon] points: the outline of a city's stations.
function hull(points) {
  const pts = points.map(([lat, lon]) => [lon, lat]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) return pts.map(([x, y]) => [y, x]);
  const cross = (o, a, b) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2], lower[lower.length - 1], p) <= 0) {
      lower.pop();
    }
    lower.push(p);
  }
  const upper = [];
  for (let i = pts.length - 1; i >= 0; i -= 1) {
    const p = pts[i];
    while (upper.length >= 2 && cross(upper[upper.length - 2], upper[upper.length - 1], p) <= 0) {
      upper.pop();
    }
    upper.push(p);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1)).map(([x, y]) => [y, x]);
}

// Degrees between graticule lines: about 100–200 px apart at every zoom.
function graticuleStep(zoom) {
  const steps = [[3, 20], [5, 5], [7, 2], [9, 0.5], [11, 0.1], [13, 0.02]];
  for (const [z, step] of steps) if (zoom <= z) return step;
  return 0.005;
}

export class FleetMap {
  constructor(element, config, { onOpen } = {}) {
    const L = window.L;
    this.L = L;
    this.onOpen = onOpen;
    this.markers = new Map();
    this.stations = new Map();
    this.timings = {};
    this.renderer = L.canvas({ padding: 0.3 });
    this.element = element;
    this.map = L.map(element, {
      preferCanvas: true,
      zoomControl: false, // added below with titles in the page's language
      attributionControl: true,
      worldCopyJump: false,
      minZoom: 3,
      maxZoom: config.max_zoom || 18,
    });
    this.map.attributionControl.setPrefix(false);
    L.control.zoom({ zoomInTitle: t("zoom_in"), zoomOutTitle: t("zoom_out") }).addTo(this.map);
    if (config.tile_url) {
      L.tileLayer(config.tile_url, {
        attribution: config.attribution || "",
        maxZoom: config.max_zoom || 18,
      }).addTo(this.map);
      element.classList.add("with-tiles");
    } else {
      this.map.attributionControl.addAttribution(t("no_tiles"));
    }
    this.graticule = L.layerGroup().addTo(this.map);
    this.outlines = L.layerGroup().addTo(this.map);
    const clustered = new URLSearchParams(window.location.search).get("cluster") !== "off";
    this.clustered = clustered;
    this.layer = clustered
      ? L.markerClusterGroup({
          chunkedLoading: true,
          chunkInterval: 100,
          chunkDelay: 20,
          chunkProgress: (done, total) => this.progress(done, total),
          showCoverageOnHover: false,
          maxClusterRadius: 60,
          disableClusteringAtZoom: 16,
          spiderfyOnMaxZoom: false,
          removeOutsideVisibleBounds: true,
          iconCreateFunction: (cluster) => this.clusterIcon(cluster),
        })
      : L.featureGroup();
    this.layer.addTo(this.map);
    // One popup for all markers, made on click: 10,000 bound popups cost ~100 ms at load.
    this.layer.on("click", (e) => {
      const s = e.layer && this.stations.get(e.layer.options.sid);
      if (s) this.L.popup().setLatLng(e.layer.getLatLng()).setContent(this.popup(s)).openOn(this.map);
    });
    this.map.on("moveend", () => this.drawGraticule());
    this.map.setView([30, 114], 5);
  }

  progress(done, total) {
    if (done === total && this.timings.addStart !== undefined) {
      this.timings.renderedMs = performance.now() - this.timings.addStart;
      this.element.dataset.ready = "true";
    }
  }

  clusterIcon(cluster) {
    const counts = { ok: 0, degraded: 0, down: 0, unknown: 0 };
    for (const m of cluster.getAllChildMarkers()) counts[m.options.health] += 1;
    const n = cluster.getChildCount();
    const health = worst(counts);
    const size = n < 100 ? "small" : n < 1000 ? "medium" : "large";
    const parts = ["down", "degraded", "unknown"].filter((k) => counts[k]).map(
      (k) => `${counts[k]} ${word("health_words", k)}`,
    );
    const title = t("cluster_title", n, parts);
    return this.L.divIcon({
      html: h("div", { title }, h("span", {}, String(n))), // nodes: nothing parsed as HTML
      className: `marker-cluster cluster-${size} cluster-${health}`,
      iconSize: this.L.point(40, 40),
    });
  }

  style(station) {
    const health = station.maintenance ? "unknown" : station.health;
    return {
      radius: health === "ok" ? 6 : 8,
      color: "#ffffff",
      weight: 1.5,
      fillColor: COLORS[health] || COLORS.unknown,
      fillOpacity: 0.95,
    };
  }

  popup(station) {
    return h(
      "div",
      { class: "popup" },
      raw("strong", station.name),
      h("div", {}, raw("span", station.id), " · ", raw("span", station.city || "—")),
      h("div", {}, t("health_is", word("health_words", station.health), word("status_words", station.status))),
      station.maintenance ? h("div", {}, t("in_maintenance")) : null,
      h("a", { href: `#station/${encodeURIComponent(station.id)}` }, t("open_station")),
    );
  }

  async load() {
    const t0 = performance.now();
    const data = await get("/map/stations");
    this.timings.fetchMs = performance.now() - t0;
    const index = Object.fromEntries(data.fields.map((f, i) => [f, i]));
    const L = this.L;
    const markers = [];
    const byCity = new Map();
    for (const row of data.rows) {
      const s = {};
      for (const [field, i] of Object.entries(index)) s[field] = row[i];
      this.stations.set(s.id, s);
      const marker = L.circleMarker([s.lat, s.lon], {
        ...this.style(s),
        renderer: this.renderer,
        sid: s.id,
        health: s.maintenance ? "unknown" : s.health,
      });
      this.markers.set(s.id, marker);
      markers.push(marker);
      if (!byCity.has(s.city)) byCity.set(s.city, []);
      byCity.get(s.city).push([s.lat, s.lon]);
    }
    this.drawOutlines(byCity);
    if (markers.length) {
      const bounds = L.latLngBounds(markers.map((m) => m.getLatLng()));
      this.map.fitBounds(bounds.pad(0.05));
    }
    this.timings.addStart = performance.now();
    if (this.clustered) this.layer.addLayers(markers);
    else markers.forEach((m) => this.layer.addLayer(m));
    if (!this.clustered || markers.length === 0) this.progress(1, 1);
    this.drawGraticule();
    return this.stations;
  }

  drawOutlines(byCity) {
    const L = this.L;
    this.outlines.clearLayers();
    for (const [city, points] of byCity) {
      if (!city || points.length < 3) continue;
      const ring = hull(points);
      const polygon = L.polygon(ring, {
        interactive: false,
        color: "#47627a",
        weight: 1.5,
        dashArray: "4 3",
        fill: true,
        fillColor: "#47627a",
        fillOpacity: 0.05,
        renderer: this.renderer,
      });
      // A node, not a string: Leaflet parses a string tooltip as HTML, and the city is data.
      polygon.bindTooltip(raw("span", city), {
        permanent: true, direction: "center", className: "city-label",
      });
      this.outlines.addLayer(polygon);
    }
  }

  drawGraticule() {
    const L = this.L;
    this.graticule.clearLayers();
    const b = this.map.getBounds().pad(0.2);
    const step = graticuleStep(this.map.getZoom());
    const south = Math.max(-85, Math.floor(b.getSouth() / step) * step);
    const north = Math.min(85, Math.ceil(b.getNorth() / step) * step);
    const west = Math.floor(b.getWest() / step) * step;
    const east = Math.ceil(b.getEast() / step) * step;
    if ((north - south) / step > 200 || (east - west) / step > 200) return;
    const opts = { interactive: false, color: "#b7c3ce", weight: 1, renderer: this.renderer };
    for (let lat = south; lat <= north; lat += step) {
      this.graticule.addLayer(L.polyline([[lat, west], [lat, east]], opts));
    }
    for (let lon = west; lon <= east; lon += step) {
      this.graticule.addLayer(L.polyline([[south, lon], [north, lon]], opts));
    }
  }

  // Live changes from the server: recolour the dots and their clusters.
  update(changes) {
    const touched = [];
    for (const change of changes) {
      const s = this.stations.get(change.id);
      const marker = this.markers.get(change.id);
      if (!s || !marker) continue;
      Object.assign(s, change);
      marker.setStyle(this.style(s));
      marker.options.health = s.maintenance ? "unknown" : s.health;
      touched.push(marker);
    }
    if (touched.length && this.clustered) this.layer.refreshClusters(touched);
  }

  focus(sid) {
    const marker = this.markers.get(sid);
    if (!marker) return;
    const open = () => this.layer.fire("click", { layer: marker });
    if (this.clustered) this.layer.zoomToShowLayer(marker, open);
    else {
      this.map.setView(marker.getLatLng(), 15);
      open();
    }
  }

  invalidate() {
    this.map.invalidateSize();
  }

  cities() {
    return [...new Set([...this.stations.values()].map((s) => s.city).filter(Boolean))].sort();
  }

  operators() {
    return [...new Set([...this.stations.values()].map((s) => s.operator).filter(Boolean))].sort();
  }

  worstFirst() {
    return [...this.stations.values()].sort((a, b) => RANK[a.health] - RANK[b.health]);
  }
}
