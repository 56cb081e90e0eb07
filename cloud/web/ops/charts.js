// Hand-drawn SVG charts (no chart library): a line with its min–max band for telemetry, and
// bars for footfall and uptime. Each chart has a text alternative (role="img" + aria-label)
// saying what a sighted reader takes from it.

import { hhmm, t } from "./lang.js";

const NS = "http://www.w3.org/2000/svg";
const W = 320;
const H = 120;
const PAD = { left: 38, right: 8, top: 8, bottom: 20 };

function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function frame(label) {
  const root = svg("svg", {
    viewBox: `0 0 ${W} ${H}`,
    class: "chart",
    role: "img",
    "aria-label": label,
  });
  root.appendChild(svg("title", {}, label));
  return root;
}

function fmt(v) {
  if (v === null || v === undefined) return "—";
  const a = Math.abs(v);
  return a >= 100 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
}

// points: [{at, min, mean, max}] from /stations/{id}/telemetry.
// Times on the axis are wall times in `tz` (the station's zone).
export function lineChart(points, { title, unit = "", tz = null }) {
  if (!points.length) {
    const empty = frame(t("chart_empty", title));
    empty.appendChild(svg("text", { x: W / 2, y: H / 2, class: "chart-empty" }, t("chart_no_readings")));
    return empty;
  }
  const xs = points.map((p) => new Date(p.at).getTime());
  let lo = Math.min(...points.map((p) => p.min));
  let hi = Math.max(...points.map((p) => p.max));
  if (hi === lo) {
    hi += 1;
    lo -= 1;
  }
  const x0 = xs[0];
  const x1 = xs[xs.length - 1] === x0 ? x0 + 1 : xs[xs.length - 1];
  const sx = (ms) => PAD.left + ((ms - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const sy = (v) => PAD.top + (1 - (v - lo) / (hi - lo)) * (H - PAD.top - PAD.bottom);
  const last = points[points.length - 1];
  const label = t("chart_line", title, fmt(last.mean) + unit, fmt(lo), fmt(hi) + unit, points.length);
  const root = frame(label);
  const band = points.map((p, i) => `${sx(xs[i])},${sy(p.max)}`)
    .concat(points.slice().reverse().map((p, i) => `${sx(xs[xs.length - 1 - i])},${sy(p.min)}`));
  root.appendChild(svg("polygon", { points: band.join(" "), class: "chart-band" }));
  root.appendChild(svg("polyline", {
    points: points.map((p, i) => `${sx(xs[i])},${sy(p.mean)}`).join(" "),
    class: "chart-line",
  }));
  root.appendChild(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom, class: "chart-axis" }));
  root.appendChild(svg("text", { x: PAD.left - 4, y: PAD.top + 8, class: "chart-tick end" }, fmt(hi)));
  root.appendChild(svg("text", { x: PAD.left - 4, y: H - PAD.bottom, class: "chart-tick end" }, fmt(lo)));
  root.appendChild(svg("text", { x: PAD.left, y: H - 5, class: "chart-tick" }, hhmm(new Date(x0), tz)));
  root.appendChild(svg("text", { x: W - PAD.right, y: H - 5, class: "chart-tick end" }, hhmm(new Date(x1), tz)));
  return root;
}

// bars: [{label, value, note}] with value >= 0 (null: no data for that slot).
export function barChart(bars, { title, unit = "", max = null, every = 1 }) {
  const values = bars.map((b) => b.value ?? 0);
  const top = max ?? Math.max(1, ...values);
  const total = values.reduce((a, b) => a + b, 0);
  const peak = bars.reduce((best, b) => ((b.value ?? -1) > (best?.value ?? -1) ? b : best), null);
  const label =
    max === null
      ? t("chart_total", title, fmt(total) + unit, peak && peak.value ? `${peak.label} (${fmt(peak.value)}${unit})` : "")
      : `${title}: ` + bars.map((b) => `${b.label} ${b.value === null ? t("no_data") : fmt(b.value) + unit}`).join(", ");
  const root = frame(label);
  const n = Math.max(1, bars.length);
  const slot = (W - PAD.left - PAD.right) / n;
  const gap = slot > 6 ? 1.5 : 0.3;
  bars.forEach((b, i) => {
    const x = PAD.left + i * slot;
    if (b.value !== null && b.value !== undefined) {
      const height = (b.value / top) * (H - PAD.top - PAD.bottom);
      const rect = svg("rect", {
        x: x + gap / 2,
        y: H - PAD.bottom - height,
        width: Math.max(0.5, slot - gap),
        height: Math.max(0, height),
        class: b.cls ? `chart-bar ${b.cls}` : "chart-bar",
      });
      rect.appendChild(svg("title", {}, `${b.label}: ${fmt(b.value)}${unit}${b.note ? " · " + b.note : ""}`));
      root.appendChild(rect);
    } else {
      root.appendChild(svg("rect", { x: x + gap / 2, y: H - PAD.bottom - 2, width: Math.max(0.5, slot - gap), height: 2, class: "chart-gap" }));
    }
    if (i % every === 0) {
      root.appendChild(svg("text", { x: x + slot / 2, y: H - 5, class: "chart-tick mid" }, b.label));
    }
  });
  root.appendChild(svg("line", { x1: PAD.left, x2: W - PAD.right, y1: H - PAD.bottom, y2: H - PAD.bottom, class: "chart-axis" }));
  root.appendChild(svg("text", { x: PAD.left - 4, y: PAD.top + 8, class: "chart-tick end" }, fmt(top)));
  root.appendChild(svg("text", { x: PAD.left - 4, y: H - PAD.bottom, class: "chart-tick end" }, "0"));
  return root;
}
