"""Finder first paint with results: navigation → first result row painted, in real Chromium.

Run: flock /tmp/ws-bench.lock .venv/bin/python benchmarks/finder_first_paint.py
     [--stations 130000] [--loads 40] [--workers 1]

A SQLite registry of `--stations` synthetic stations (clustered around 36 Chinese cities, as
in benchmarks/nearby_latency.py), every one with fresh live state (online, heartbeat now,
interval 1 h, so all stay open through the run); `waystation cloud serve` on it; headless
Debian chromium (Python playwright) opens `/` with the browser's geolocation set to a new
point near a station for each load. Timed inside the page against the navigation start
(`performance.now()`): the frame that paints the first `#list > li.card` (a MutationObserver
sees it appended, then requestAnimationFrame; the time is that frame's). Two series:

- cold: a new browser context per load (empty cache: HTML, CSS, JS fetched);
- warm: one context, reloading (revalidated with ETags, as a worker reopening the page);

Baseline in the same run: the bare nearby API call the page makes (same query, from Python
over a kept-alive connection), p50/p95. Target: first paint with results ≤ 1 s (p95 cold).
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nearby_latency import stations

from cloud.db import init_db, make_engine
from cloud.models import Station, StationState, table
from protocol.registry import AMENITIES
from waystation.mosquitto import free_port

WAYSTATION = str(Path(sys.executable).with_name("waystation"))
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
# Records, inside the page, the frame that first paints a result row (ms since navigation).
PROBE = """
(() => {
  const seen = () => document.querySelector('#list > li.card');
  const obs = new MutationObserver(() => {
    if (!seen()) return;
    obs.disconnect();
    requestAnimationFrame((frame) => { window.__firstRow = frame; });
  });
  obs.observe(document, { childList: true, subtree: true });
})();
"""


ASKED = """() => performance.getEntriesByType('resource')
  .find(e => e.name.includes('/stations/nearby')).startTime"""


def make_db(path: Path, n: int) -> str:
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    init_db(engine)
    lat, lon, bits = stations(n)
    now = datetime.now(UTC)
    hours = ["24/7", "24/7", "24/7", "Mo-Su 00:00-24:00"]
    st, ss = table(Station), table(StationState)
    with engine.begin() as conn:
        for lo in range(0, n, 20_000):
            hi = min(n, lo + 20_000)
            conn.execute(insert(st), [
                {"id": f"s{i:07d}", "name": f"驿站 {i}", "lat": float(lat[i]), "lon": float(lon[i]),
                 "amenities": [a for j, a in enumerate(AMENITIES) if int(bits[i]) >> j & 1],
                 "opening_hours": hours[i % 4], "operator": "", "address": f"示范路 {i} 号",
                 "city": "", "tz": "Asia/Shanghai", "maintenance": False, "capacity": 8,
                 "created_at": now, "updated_at": now}
                for i in range(lo, hi)
            ])  # fmt: skip
            conn.execute(insert(ss), [
                {"station_id": f"s{i:07d}", "status": "online", "sess": 1, "status_at": now,
                 "last_seen": now, "last_heartbeat": now, "heartbeat_interval_s": 3600.0,
                 "door": "closed", "lock": "locked", "occupancy": i % 9, "acked_seq": 0,
                 "alarm_level": "none"}
                for i in range(lo, hi)
            ])  # fmt: skip
    engine.dispose()
    return url


def pct(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered):,.0f} ms, p95 {p95:,.0f} ms, max {ordered[-1]:,.0f} ms"


def points(n_stations: int, k: int) -> list[tuple[float, float]]:
    lat, lon, _ = stations(n_stations)
    rng = np.random.default_rng(7)
    pick = rng.integers(0, n_stations, k)
    jitter = rng.normal(0, 0.01, (k, 2))  # ~1 km from a station
    return [(float(lat[i] + d[0]), float(lon[i] + d[1])) for i, d in zip(pick, jitter, strict=True)]


def api_baseline(port: int, pts: list[tuple[float, float]]) -> list[float]:
    """The page's own query, bare: one kept-alive connection, ms per call."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    out = []
    for lat, lon in pts:
        path = (
            f"/api/v1/stations/nearby?lat={lat:.6f}&lon={lon:.6f}&radius_m=50000&limit=20"
            "&status=open"
        )
        t = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        out.append((time.perf_counter() - t) * 1000)
        if r.status != 200 or b'"count":20' not in body:
            raise RuntimeError(f"nearby answered {r.status}: {body[:200]!r}")
    conn.close()
    return out


def browser_loads(
    browser: object, base: str, pts: list[tuple[float, float]], *, cold: bool
) -> tuple[list[float], list[float]]:
    """Per load: ms to the first row painted, and ms to the nearby request's start (what
    the page spent before asking: HTML, CSS, JS, the location)."""
    out: list[float] = []
    asked: list[float] = []
    context = None
    for lat, lon in pts:
        if cold or context is None:
            if context is not None:
                context.close()  # type: ignore[attr-defined]
            context = browser.new_context(  # type: ignore[attr-defined]
                viewport={"width": 360, "height": 780}, locale="zh-CN", permissions=["geolocation"]
            )
            context.add_init_script(PROBE)
        context.set_geolocation({"latitude": lat, "longitude": lon})
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(base + "/")
        page.wait_for_function("() => window.__firstRow !== undefined", timeout=10_000)
        out.append(float(page.evaluate("() => window.__firstRow")))
        asked.append(float(page.evaluate(ASKED)))
        assert page.locator("#list > li.card").count() == 20
    if context is not None:
        context.close()  # type: ignore[attr-defined]
    return out, asked


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=130_000)
    parser.add_argument("--loads", type=int, default=40)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        url = make_db(Path(tmp) / "finder.db", args.stations)
        print(f"registry: {args.stations:,} stations, built in {time.perf_counter() - t:.1f} s")
        port = free_port()
        env = os.environ | {
            "WAYSTATION_RATE_LIMIT_PER_S": "100000",
            "WAYSTATION_RATE_LIMIT_BURST": "1000000",
        }
        proc = subprocess.Popen(
            [WAYSTATION, "cloud", "serve", "--port", str(port), "--db", url,
             "--workers", str(args.workers), "--no-access-log"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            pts = points(args.stations, 3 * args.loads + 20)
            deadline = time.monotonic() + 170
            while True:  # up, index built (the first nearby answer builds it)
                try:
                    api_baseline(port, pts[-20:])
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.5)
            api = api_baseline(port, pts[: args.loads])
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                try:
                    browser_loads(browser, base, pts[-20:-15], cold=True)  # warm-up, not counted
                    cold, cold_asked = browser_loads(
                        browser, base, pts[args.loads : 2 * args.loads], cold=True
                    )
                    warm, warm_asked = browser_loads(
                        browser, base, pts[2 * args.loads : 3 * args.loads], cold=False
                    )
                finally:
                    browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    n = args.loads
    print(f"| {args.stations:,} stations | what | n | time |")
    print(f"| finder, cold (new context each load): navigation → first row painted | {n} "
          f"| {pct(cold)} |")  # fmt: skip
    print(f"| finder, warm (reload, revalidated): navigation → first row painted | {n} "
          f"| {pct(warm)} |")  # fmt: skip
    print(f"| of which before the nearby request starts (page, scripts, location), cold | {n} "
          f"| {pct(cold_asked)} |")  # fmt: skip
    print(f"| of which before the nearby request starts, warm | {n} | {pct(warm_asked)} |")
    print(f"| baseline: bare nearby API call (status=open, 50 km, limit 20) | {n} | {pct(api)} |")
    p95 = sorted(cold)[round(0.95 * (n - 1))]
    print(f"target: first paint with results ≤ 1,000 ms; cold p95 {p95:,.0f} ms:",
          "met" if p95 <= 1000 else "NOT met")  # fmt: skip


if __name__ == "__main__":
    main()
