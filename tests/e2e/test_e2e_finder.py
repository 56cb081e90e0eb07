"""The workers' station finder in real headless Chromium against the real cloud app: nearest
open stations for the browser's location, amenity filters, language, 360 px, navigation links
in the right datum, accessibility basics, and reports / suggestions reaching ops.

Stations are registered with the registry importer and come alive the real way, through the
ingestor (birth + heartbeat), so "open" is the cloud's own judgement. Screenshots are saved in
the test's tmp_path (pytest prints it on failure; `--basetemp` makes it stable).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import Engine, update

from cloud.auth import Role, create_user, issue_token, passwords
from cloud.db import init_db, make_engine
from cloud.ingest.ingestor import Ingestor
from cloud.main import create_app
from cloud.models import Station, table
from cloud.settings import Settings
from cloud.stations import gcj02
from cloud.stations.registry import upsert
from protocol import topics
from protocol.messages import StatePayload, TelemetryPayload
from protocol.registry import AMENITIES, StationRecord

pytestmark = pytest.mark.integration
HERE = (22.5431, 114.0579)  # Shenzhen, WGS-84
WAIT_MS = 10_000


def _hours_open_now() -> tuple[str, str]:
    """Opening hours open right now in Shanghai, closing on a whole hour 2–3 h from now, and
    that closing time as HH:MM."""
    now = datetime.now(ZoneInfo("Asia/Shanghai"))
    start = (now - timedelta(hours=2)).strftime("%H:00")
    end = (now + timedelta(hours=3)).strftime("%H:00")
    return f"Mo-Su {start}-{end}", end


@dataclass
class Finder:
    base: str
    engine: Engine
    closes: str  # HH:MM the part-time station closes at


def _at(north_m: float) -> tuple[float, float]:
    return HERE[0] + north_m / 111_195, HERE[1]


@pytest.fixture
def finder(serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Finder]:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    hours, closes = _hours_open_now()
    stations = [
        # id, metres north, amenities, hours, live?
        ("sz-near", 300, "water;toilet;rest_seats", "24/7", True),
        ("sz-dark", 500, "water;microwave", "24/7", "lost"),  # its agent is gone: not open
        # No agent, 120 km away (alone there): open by its hours only, and says so.
        ("sz-sched", 120_000, "water", "24/7", False),
        ("sz-part", 800, "water;charging", hours, True),
        ("sz-micro", 1500, "microwave;fridge", "24/7", True),
        ("sz-far", 30_000, "water;air_conditioning", "24/7", True),
    ]
    records = []
    for sid, north, amenities, oh, _ in stations:
        lat, lon = _at(north)
        records.append(
            StationRecord(
                id=sid,
                name=f"驿站 {sid}",
                lat=lat,
                lon=lon,
                amenities=amenities,  # type: ignore[arg-type]
                opening_hours=oh,
                address=f"深圳市 {sid} 路 1 号",
                city="深圳",
            )
        )
    upsert(engine, records)
    with engine.begin() as conn:
        st = table(Station)
        conn.execute(update(st).where(st.c.id == "sz-near").values(capacity=8))
    ingestor = Ingestor(engine)
    now = datetime.now(UTC)
    for sid, *_, live in stations:
        if not live:
            continue
        ingestor.handle(
            topics.state(sid), StatePayload(sid=sid, status="online", sess=1, ts=now).to_bytes()
        )
        if live == "lost":
            lost = StatePayload(sid=sid, status="lost", sess=1, ts=now)
            ingestor.handle(topics.state(sid), lost.to_bytes())
            continue
        beat = TelemetryPayload(
            sid=sid, uptime_s=60, ts=now, door="closed", lock="locked", occupancy=2
        )
        ingestor.handle(topics.telemetry(sid), beat.to_bytes())
    ingestor.flush()
    app = create_app(
        Settings(db=url, index_refresh_s=0, live_state_ttl_s=0, rate_limit_burst=1_000)
    )
    try:
        yield Finder(serve(app), engine, closes)
    finally:
        engine.dispose()


def _context(browser: Any, *, locale: str = "zh-CN", width: int = 360) -> Any:
    return browser.new_context(
        viewport={"width": width, "height": 800},
        locale=locale,
        geolocation={"latitude": HERE[0], "longitude": HERE[1]},
        permissions=["geolocation"],
    )


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})  # noqa: S310 (loopback)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _ids(page: Any) -> list[str]:
    return page.locator("#list > li.card").evaluate_all("els => els.map(e => e.dataset.id)")


def _wait_ids(page: Any, expected: list[str]) -> None:
    page.wait_for_function(
        "ids => JSON.stringify([...document.querySelectorAll('#list > li.card')]"
        ".map(e => e.dataset.id)) === JSON.stringify(ids)",
        arg=expected,
        timeout=WAIT_MS,
    )


# The contrast check runs in the page: WCAG relative luminance of each element's text colour
# against the first opaque background found walking up its ancestors.
CONTRAST_JS = """
sel => {
  const rgb = s => s.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      const v = rgb(c);
      if (v.length < 4 || v[3] > 0.99) return v.slice(0, 3);
    }
    return [255, 255, 255];
  };
  return [...document.querySelectorAll(sel)].filter(e => e.offsetParent !== null).map(e => {
    const a = lum(rgb(getComputedStyle(e).color)), b = lum(bg(e));
    return [e.tagName + '.' + e.className, (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  });
}
"""


def test_finder_lists_nearest_open_stations_filters_and_switches_language(
    browser: Any, finder: Finder, tmp_path: Path
) -> None:
    context = _context(browser)
    requests: list[str] = []
    try:
        page = context.new_page()
        page.on("request", lambda r: requests.append(r.url))
        page.goto(finder.base + "/")

        # Nearest first, only open ones: the silent station is left out.
        _wait_ids(page, ["sz-near", "sz-part", "sz-micro", "sz-far"])
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        near = page.locator('#list > li[data-id="sz-near"]')
        assert near.locator(".dist").inner_text() == "300 米"
        assert near.locator(".hours").inner_text() == "24 小时开放"
        assert "2/8 人" in near.locator(".busy").inner_text()
        labels = near.locator("ul.amenities svg").evaluate_all(
            "els => els.map(e => e.getAttribute('aria-label'))"
        )
        assert labels == ["饮用水", "卫生间", "休息座椅"]
        part = page.locator('#list > li[data-id="sz-part"]')
        assert finder.closes in part.locator(".hours").inner_text()
        assert "关门" in part.locator(".hours").inner_text()
        assert page.locator('#list > li[data-id="sz-far"] .dist').inner_text() == "30 公里"

        # Usable at 360 px: nothing wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.screenshot(path=str(tmp_path / "finder-zh-360.png"), full_page=True)

        # Navigation links carry GCJ-02 coordinates (Amap, Baidu, Apple in China).
        lat, lon = gcj02.wgs84_to_gcj02(*_at(300))
        amap = near.locator("a.nav-amap").get_attribute("href")
        assert f"position={lon:.6f},{lat:.6f}" in amap
        assert "coordinate=gaode" in amap
        baidu = near.locator("a.nav-baidu").get_attribute("href")
        assert f"location={lat:.6f},{lon:.6f}" in baidu
        assert "coord_type=gcj02" in baidu
        apple = near.locator("a.nav-apple").get_attribute("href")
        assert apple.startswith(f"https://maps.apple.com/?ll={lat:.6f},{lon:.6f}")

        # Filter by keyboard: focus the microwave toggle and press Space.
        toggle = page.locator('#filters button[data-amenity="microwave"]')
        toggle.focus()
        assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"
        page.keyboard.press("Space")
        _wait_ids(page, ["sz-micro"])
        assert toggle.get_attribute("aria-pressed") == "true"
        assert "amenity=microwave" in page.url
        page.keyboard.press("Space")
        _wait_ids(page, ["sz-near", "sz-part", "sz-micro", "sz-far"])

        # Two filters need both amenities.
        page.locator('#filters button[data-amenity="water"]').click()
        page.locator('#filters button[data-amenity="charging"]').click()
        _wait_ids(page, ["sz-part"])
        page.locator('#filters button[data-amenity="charging"]').click()
        page.locator('#filters button[data-amenity="water"]').click()
        _wait_ids(page, ["sz-near", "sz-part", "sz-micro", "sz-far"])

        # English by the switch; the choice sticks in the URL.
        page.locator("#lang-switch").click()
        page.wait_for_function("() => document.documentElement.lang === 'en'", timeout=WAIT_MS)
        assert page.locator("#results-h").inner_text() == "Nearest open stations"
        assert near.locator(".hours").inner_text() == "Open 24 h"
        assert part.locator(".hours").inner_text().startswith(f"Closes at {finder.closes}")
        assert near.locator(".dist").inner_text() == "300 m"
        assert near.locator("ul.amenities svg").first.get_attribute("aria-label") == (
            "Drinking water"
        )
        assert "lang=en" in page.url
        page.screenshot(path=str(tmp_path / "finder-en-360.png"), full_page=True)

        # Accessibility basics on what is shown.
        ratios = page.evaluate(
            CONTRAST_JS,
            "h1, h2, h3, p, label, button, a, .busy, .dist, #filters button span",
        )
        assert len(ratios) > 30
        low = [(what, round(r, 2)) for what, r in ratios if r < 4.5]
        assert not low, f"contrast under 4.5:1: {low}"
        unnamed = page.evaluate(
            "[...document.querySelectorAll('button, a')].filter(e => e.offsetParent !== null"
            " && !(e.getAttribute('aria-label') || e.textContent).trim()).length"
        )
        assert unnamed == 0
        assert page.evaluate(
            "[...document.querySelectorAll('svg[role=img]')]"
            ".every(s => s.getAttribute('aria-label') && s.querySelector('title'))"
        )
    finally:
        context.close()

    # A public page: only this origin, and never the ops API.
    assert requests
    assert all(u.startswith(finder.base) for u in requests), requests
    assert not [u for u in requests if "/api/v1/ops" in u]


def test_finder_language_from_browser_and_query(browser: Any, finder: Finder) -> None:
    context = _context(browser, locale="en-US", width=414)
    try:
        page = context.new_page()
        page.goto(finder.base + "/")
        _wait_ids(page, ["sz-near", "sz-part", "sz-micro", "sz-far"])
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.locator("#locate").inner_text() == "Use my location"
        page.goto(finder.base + "/?lang=zh")
        _wait_ids(page, ["sz-near", "sz-part", "sz-micro", "sz-far"])
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("#locate").inner_text() == "使用我的位置"

        # A typed point (as WGS-84) instead of the browser's location.
        lat, lon = _at(29_900)
        page.fill("#point", f"{lat:.6f},{lon:.6f}")
        page.press("#point", "Enter")
        _wait_ids(page, ["sz-far", "sz-micro", "sz-part", "sz-near"])

        # A station without an agent is open by its hours, and says it is not confirmed.
        lat, lon = _at(120_000)
        page.fill("#point", f"{lat:.6f},{lon:.6f}")
        page.press("#point", "Enter")
        _wait_ids(page, ["sz-sched"])
        sched = page.locator('#list > li[data-id="sz-sched"]')
        assert sched.locator(".basis").inner_text() == "按营业时间，未联网验证"
        assert "schedule" in (sched.get_attribute("class") or "")
        assert page.locator('#list > li[data-id="sz-sched"] .busy').count() == 0
        page.locator("#lang-switch").click()
        page.wait_for_function("() => document.documentElement.lang === 'en'", timeout=WAIT_MS)
        assert sched.locator(".basis").inner_text() == "By opening hours, not confirmed online"
        page.locator("#lang-switch").click()

        # The map is there from the start (Leaflet, loaded after the first search under the
        # page's CSP; no tiles configured); a tap moves the point: ~100 px north at zoom 13
        # is ~1.8 km north.
        page.goto(finder.base + "/")
        _wait_ids(page, ["sz-near", "sz-part", "sz-micro", "sz-far"])
        page.wait_for_selector("#map .leaflet-container, #map.leaflet-container", timeout=WAIT_MS)
        page.wait_for_function(
            "() => window.wsFinder.map() && window.wsFinder.map().getZoom() === 13"
        )
        box = page.locator("#map").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2 - 100)
        _wait_ids(page, ["sz-micro", "sz-part", "sz-near", "sz-far"])
        tapped = [float(v) for v in page.input_value("#point").split(",")]
        assert tapped[0] - HERE[0] == pytest.approx(1_770 / 111_195, rel=0.05)
        assert tapped[1] == pytest.approx(HERE[1], abs=1e-4)
        # The point, the 4 open stations and the closed one (grey), and the city.
        page.wait_for_function(
            "() => document.querySelectorAll('#map path.ws-station').length === 5", timeout=WAIT_MS
        )
        assert page.locator("#map path.ws-point").count() == 1
        assert page.locator("#map path.ws-closed").count() == 1
        assert page.locator("#map path.ws-city").count() == 1

        # The page's datum helpers are the server's numbers.
        for p in [(22.5431, 114.0579), (39.9042, 116.4074), (45.8, 126.5), (48.85, 2.35)]:
            js = page.evaluate("p => window.wsFinder.wgs84ToGcj02(p[0], p[1])", list(p))
            py = gcj02.wgs84_to_gcj02(*p)
            assert js == pytest.approx(py, abs=1e-9)
            back = page.evaluate("p => window.wsFinder.gcj02ToWgs84(p[0], p[1])", list(py))
            assert back == pytest.approx(p, abs=1e-7)
        assert page.evaluate("window.wsFinder.AMENITIES") == list(AMENITIES)
    finally:
        context.close()


def test_report_and_suggestion_from_the_finder_reach_ops(
    browser: Any, finder: Finder, tmp_path: Path
) -> None:
    context = _context(browser)
    try:
        page = context.new_page()
        page.goto(finder.base + "/")
        _wait_ids(page, ["sz-near", "sz-part", "sz-micro", "sz-far"])

        page.locator('#list > li[data-id="sz-part"] button.report').click()
        dialog = page.locator("#report-dialog")
        assert dialog.is_visible()
        page.locator("#report-form button[type=submit]").click()  # no kind chosen
        assert page.locator("#report-error").inner_text() == "请选择问题类型。"
        page.locator('#report-form input[value="dirty"]').check()
        page.fill("#report-text", "<b>地上</b>有水")
        page.screenshot(path=str(tmp_path / "finder-report.png"))
        page.locator("#report-form button[type=submit]").click()
        page.wait_for_selector("#toast:not([hidden])", timeout=WAIT_MS)
        assert not dialog.is_visible()

        page.locator("#suggest-open").click()
        page.fill("#suggest-name", "科技园北门")
        page.fill("#suggest-note", "很多骑手在这里等单")
        page.locator("#suggest-form button[type=submit]").click()
        page.wait_for_function(
            "() => !document.getElementById('suggest-dialog').open", timeout=WAIT_MS
        )
    finally:
        context.close()

    create_user(finder.engine, "viewer-1", Role.VIEWER, "correct horse battery")
    auth = {"Authorization": f"Bearer {issue_token(finder.engine, 'viewer-1')}"}
    status, body = _get(f"{finder.base}/api/v1/ops/reports", auth)
    assert status == 200
    reports = body["items"]
    assert [(r["station_id"], r["kind"], r["text"]) for r in reports] == [
        ("sz-part", "dirty", "<b>地上</b>有水")  # kept as the plain text typed
    ]
    [s] = _get(f"{finder.base}/api/v1/ops/suggestions", auth)[1]["items"]
    assert (s["name"], s["note"]) == ("科技园北门", "很多骑手在这里等单")
    assert (s["lat"], s["lon"]) == pytest.approx(HERE, abs=1e-5)
    # And nobody else sees them.
    assert _get(f"{finder.base}/api/v1/ops/reports")[0] == 401


MARKUP_NAME = "<img src=x id=pwn><b>bold</b>"
MARKUP_ADDRESS = '<a href="/" id=pwn-addr>addr</a>'
MARKUP_CITY = "<img src=x id=pwn-city><i>city</i>"


def test_station_text_with_markup_shows_as_text(
    browser: Any, serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Story: a station name with `<img>`/`<b>`/`<a>` in it became real elements in the map
    tooltip (CSP stopped scripts, not the markup): the name went to Leaflet as an HTML string.

    A station whose name, address and city carry markup shows them as literal text in the
    list, the map tooltip and the report dialog, and no element of theirs exists."""
    url = f"sqlite:///{tmp_path / 'markup.db'}"
    engine = make_engine(url)
    init_db(engine)
    lat, lon = _at(1_000)
    record = StationRecord(
        id="sz-markup", name=MARKUP_NAME, lat=lat, lon=lon, amenities=["water"],
        address=MARKUP_ADDRESS, city=MARKUP_CITY,
    )  # fmt: skip
    upsert(engine, [record])
    ingestor = Ingestor(engine)
    now = datetime.now(UTC)
    ingestor.handle(
        topics.state(record.id),
        StatePayload(sid=record.id, status="online", sess=1, ts=now).to_bytes(),
    )
    ingestor.handle(
        topics.telemetry(record.id), TelemetryPayload(sid=record.id, uptime_s=60, ts=now).to_bytes()
    )
    ingestor.flush()
    base = serve(create_app(Settings(db=url, index_refresh_s=0, live_state_ttl_s=0)))
    context = _context(browser, locale="en-US", width=414)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on(
            "console",
            lambda m: (
                m.type == "error"
                and not m.location.get("url", "").endswith("/favicon.ico")  # the page has none
                and errors.append(f"{m.text} {m.location.get('url')}")
            ),
        )
        page.goto(base + "/")
        _wait_ids(page, ["sz-markup"])
        card = page.locator('#list > li[data-id="sz-markup"]')
        assert card.locator("h3.name").inner_text() == MARKUP_NAME
        assert card.locator("p.addr").inner_text() == MARKUP_ADDRESS

        page.wait_for_selector("#map path.ws-station", timeout=WAIT_MS)
        page.wait_for_selector("#map path.ws-city", timeout=WAIT_MS)
        assert page.locator("#map path.ws-station").count() == 1
        page.locator("#map path.ws-station").hover()
        tooltip = page.locator("#map .leaflet-tooltip")
        tooltip.wait_for(timeout=WAIT_MS)
        assert tooltip.inner_text() == MARKUP_NAME
        assert tooltip.locator("img, b").count() == 0
        page.screenshot(path=str(tmp_path / "finder-markup-tooltip.png"))
        page.mouse.move(0, 0)

        # The station's own page shows them as text too.
        card.locator("a.details").click()
        page.wait_for_function(
            "n => document.getElementById('sv-name').textContent === n", arg=MARKUP_NAME
        )
        assert MARKUP_ADDRESS in page.locator("#sv-address").inner_text()
        assert MARKUP_CITY in page.locator("#sv-address").inner_text()
        assert page.locator("#station-view b, #station-view i, #station-view img").count() == 0
        page.go_back()
        page.wait_for_function("() => !document.querySelector('main').hidden")

        card.locator("button.report").click()
        assert page.locator("#report-station").inner_text() == MARKUP_NAME
        page.keyboard.press("Escape")

        for planted in ("#pwn", "#pwn-addr", "#pwn-city"):
            assert page.locator(planted).count() == 0, planted
        assert page.locator("main b, main i, #map img:not(.leaflet-tile)").count() == 0
        assert errors == [], errors  # an <img src=x> would also have been a failed load
    finally:
        context.close()
        engine.dispose()
