"""Ops dashboard map with 10,000 stations: time to render every marker and time of a pan or
zoom, in real headless Chromium (Debian's /usr/bin/chromium, driven by playwright).

Run: flock /tmp/ws-bench.lock .venv/bin/python benchmarks/ops_map_markers.py
     [--stations 10000] [--repeat 7]

A SQLite registry of N stations around four cities (firmware_sim's generator; 90 % ok, 5 %
degraded, 3 % down, 2 % never heard from) is served by the real app under uvicorn; an
operator logs in and opens `/ops`. Measured in the page (performance.now()):

- fetch: `GET /api/v1/ops/map/stations` (all stations, compact rows) until parsed;
- render: from adding the markers until the cluster layer has placed all of them
  (markercluster's chunked loading reports done);
- page ready: from navigation start until then (includes loading the scripts);
- zoom in (overview → one city at zoom 12), zoom out (back to the whole fleet), pan (400 px
  at zoom 12): from the call until two animation frames later (the browser has painted);
- longest task: the longest main-thread task (PerformanceObserver `longtask`) during the
  render, and during the pans and zooms — what a user feels as a frozen page.

Baseline in the same run: the same page with `?cluster=off` (every station its own circle on
one canvas, no clustering).
"""

from __future__ import annotations

import argparse
import random
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from argon2 import PasswordHasher, profiles
from sqlalchemy import insert

from cloud.auth import Role, create_user, passwords
from cloud.db import init_db, make_engine
from cloud.main import create_app
from cloud.models import StationState, table
from cloud.settings import Settings
from cloud.stations.registry import import_csv
from firmware_sim.cities import make_records, write_registry_csv

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"  # noqa: S105 - a throwaway account in a temp database
CITIES = ("shenzhen", "beijing", "shanghai", "hangzhou")

MEASURE_JS = """async ({repeat}) => {
  const ops = window.waystationOps.map;
  const map = ops.map;
  const painted = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const once = (ev) => new Promise((r) => map.once(ev, r));
  const longest = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longest.push(e.duration);
  });
  observer.observe({ type: "longtask", buffered: false });
  const overview = map.getBounds();
  const stations = [...ops.stations.values()];
  const city = stations[Math.floor(stations.length / 3)];
  const t = { zoomIn: [], zoomOut: [], pan: [] };
  for (let i = 0; i < repeat; i += 1) {
    let t0 = performance.now();
    let done = once("moveend");
    map.setView([city.lat, city.lon], 12, { animate: false });
    await done; await painted();
    t.zoomIn.push(performance.now() - t0);
    t0 = performance.now();
    done = once("moveend");
    map.panBy([400, 0], { animate: false });
    await done; await painted();
    t.pan.push(performance.now() - t0);
    t0 = performance.now();
    done = once("moveend");
    map.fitBounds(overview, { animate: false });
    await done; await painted();
    t.zoomOut.push(performance.now() - t0);
    await new Promise((r) => setTimeout(r, 50));
  }
  observer.disconnect();
  return { ...t, longTaskMs: Math.max(0, ...longest) };
}"""

LOAD_JS = """() => {
  const ops = window.waystationOps.map;
  const nav = performance.getEntriesByType("navigation")[0];
  return {
    fetchMs: ops.timings.fetchMs,
    renderMs: ops.timings.renderedMs,
    readyMs: ops.timings.addStart + ops.timings.renderedMs - (nav ? nav.startTime : 0),
    markers: ops.markers.size,
  };
}"""

LONGTASK_INIT = """
window.__longTasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longTasks.push(e.duration);
}).observe({ type: "longtask", buffered: true });
"""


def build_db(path: Path, n: int) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    init_db(engine)
    per_city = -(-n // len(CITIES))
    records = [r for c in CITIES for r in make_records(per_city, seed=7, city=c)][:n]
    import_csv(engine, write_registry_csv(records, path.with_suffix(".csv")))
    rng = random.Random(7)
    rows = []
    for r in records:
        health = rng.choices(["ok", "degraded", "down", None], [90, 5, 3, 2])[0]
        if health is not None:
            status = "lost" if health == "down" else "online"
            rows.append(
                {"station_id": r.id, "status": status, "health": health, "history_status": status}
            )
    with engine.begin() as conn:
        conn.execute(insert(table(StationState)), rows)
    passwords.HASHER = PasswordHasher.from_parameters(profiles.CHEAPEST)
    create_user(engine, "bench", Role.OPERATOR, PASSWORD)
    engine.dispose()
    return url


def serve(url: str) -> tuple[str, uvicorn.Server]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = create_app(Settings(db=url, cookie_secure=False))
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.02)
    return f"http://127.0.0.1:{port}", server


def run_mode(browser: Any, base: str, query: str, repeat: int) -> dict[str, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.add_init_script(LONGTASK_INIT)
        page.goto(f"{base}/ops/login")
        page.fill("#username", "bench")
        page.fill("#password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"{base}/ops")
        page.goto(f"{base}/ops{query}#map")  # a new document (the query differs)
        page.wait_for_selector("#map-canvas[data-ready=true]", timeout=120_000)
        page.wait_for_timeout(300)
        out = page.evaluate(LOAD_JS)
        out["loadLongTaskMs"] = page.evaluate("() => Math.max(0, ...window.__longTasks)")
        out.update(page.evaluate(MEASURE_JS, {"repeat": repeat}))
        return out
    finally:
        context.close()


def fmt(values: list[float]) -> str:
    return f"median {statistics.median(values):7.1f} ms, max {max(values):7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        url = build_db(Path(tmp) / "bench.db", args.stations)
        print(f"(database built in {time.monotonic() - t0:.1f} s)", file=sys.stderr)
        base, server = serve(url)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
                )
                try:
                    results = {
                        "clustered": run_mode(browser, base, "?cluster=on", args.repeat),
                        "baseline (no clustering)": run_mode(
                            browser, base, "?cluster=off", args.repeat
                        ),
                    }
                finally:
                    browser.close()
        finally:
            server.should_exit = True
    print(f"ops map, {args.stations:,} stations, headless Chromium 1280x900, {args.repeat} runs")
    for mode, r in results.items():
        print(f"\n{mode}: {r['markers']:,} markers")
        print(f"  fetch map rows   {r['fetchMs']:7.1f} ms")
        print(f"  render markers   {r['renderMs']:7.1f} ms   (page ready {r['readyMs']:.0f} ms)")
        print(f"  longest task     {r['loadLongTaskMs']:7.1f} ms   during load")
        print(f"  zoom in (city)   {fmt(r['zoomIn'])}")
        print(f"  pan 400 px       {fmt(r['pan'])}")
        print(f"  zoom out (all)   {fmt(r['zoomOut'])}")
        print(f"  longest task     {r['longTaskMs']:7.1f} ms   during pans and zooms")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
