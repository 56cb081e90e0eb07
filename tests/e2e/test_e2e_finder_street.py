"""The finder on the real street (issue 17.5–17.7), in headless Chromium against the real app:
the map and city outline before any location, place search from the registry's addresses,
closed stations greyed with when they open (never offered as open), grouped amenity filters,
a station page at a shareable URL, a report's and a suggestion's ticket followed to the ops
reply, the page and last results with no network (service worker), and the status page.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from argon2 import PasswordHasher, profiles
from fastapi import FastAPI
from sqlalchemy import Engine

from cloud.auth import Role, create_user, issue_token, passwords
from cloud.db import init_db, make_engine
from cloud.ingest.ingestor import Ingestor
from cloud.main import create_app
from cloud.settings import Settings
from cloud.stations.registry import upsert
from protocol import topics
from protocol.messages import StatePayload, TelemetryPayload
from protocol.registry import StationRecord
from tests.support.server import uvicorn_thread

pytestmark = pytest.mark.integration
HERE = (22.5431, 114.0579)  # Shenzhen, WGS-84
WAIT_MS = 10_000
WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")


def _at(north_m: float) -> tuple[float, float]:
    return HERE[0] + north_m / 111_195, HERE[1]


def _tomorrow_only() -> str:
    """Hours open only tomorrow (Shanghai), 08:00–20:00: closed all of today."""
    tomorrow = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=1)
    return f"{WEEKDAYS[tomorrow.weekday()]} 08:00-20:00"


@dataclass
class Street:
    app: FastAPI
    engine: Engine


@pytest.fixture
def street(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Street]:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    stations = [
        # id, metres north, amenities, hours, live?, address
        ("sz-near", 300, "饮用水、热水、卫生间、WiFi、电动车充电", "24/7", True,
         "深圳市福田区福华路1号"),
        ("sz-evening", 200, "water", _tomorrow_only(), False, "深圳市福田区福华路9号"),
        ("sz-down", 500, "water", "24/7", "lost", "深圳市福田区益田路3号"),
        ("sz-part", 800, "water;microwave", "24/7", False, "深圳市南山区科技园南路8号"),
        ("sz-nanshan", 6_000,
         "water;rest_seats;hot_water;microwave;fridge;toilet;umbrella;books;tv;fan;heating",
         "24/7", True, "深圳市南山区深南大道100号"),
    ]  # fmt: skip
    records = []
    for sid, north, amenities, oh, _, address in stations:
        lat, lon = _at(north)
        records.append(
            StationRecord(
                id=sid,
                name=f"驿站 {sid}",
                lat=lat,
                lon=lon,
                opening_hours=oh,
                amenities=amenities,
                address=address,
                city="深圳市",  # type: ignore[arg-type]
                operator="福田区总工会",
                capacity=8,
            )
        )
    upsert(engine, records)
    ingestor = Ingestor(engine)
    now = datetime.now(UTC)
    for sid, _, _, _, live, _ in stations:
        if not live:
            continue
        birth = StatePayload(sid=sid, status="online", sess=1, ts=now)
        ingestor.handle(topics.state(sid), birth.to_bytes())
        if live == "lost":
            lost = StatePayload(sid=sid, status="lost", sess=1, ts=now)
            ingestor.handle(topics.state(sid), lost.to_bytes())
            continue
        beat = TelemetryPayload(sid=sid, uptime_s=60, ts=now, door="closed", lock="locked")
        ingestor.handle(topics.telemetry(sid), beat.to_bytes())
    ingestor.flush()
    settings = Settings(db=url, index_refresh_s=0, live_state_ttl_s=0, rate_limit_burst=1_000)
    try:
        yield Street(create_app(settings), engine)
    finally:
        engine.dispose()


def _context(browser: Any, *, located: bool = True, locale: str = "zh-CN") -> Any:
    options: dict[str, Any] = {"viewport": {"width": 360, "height": 800}, "locale": locale}
    if located:
        options |= {
            "geolocation": {"latitude": HERE[0], "longitude": HERE[1]},
            "permissions": ["geolocation"],
        }
    return browser.new_context(**options)


def _ids(page: Any, selector: str = "#list") -> list[str]:
    return page.locator(f"{selector} > li.card").evaluate_all("els => els.map(e => e.dataset.id)")


def _wait_ids(page: Any, expected: list[str], selector: str = "#list") -> None:
    page.wait_for_function(
        "([sel, ids]) => JSON.stringify([...document.querySelectorAll(sel + ' > li.card')]"
        ".map(e => e.dataset.id)) === JSON.stringify(ids)",
        arg=[selector, expected],
        timeout=WAIT_MS,
    )


def _ops(base: str, engine: Engine, path: str, body: dict[str, Any]) -> dict[str, Any]:
    create_user(engine, "op-1", Role.OPERATOR, "correct horse battery") if not getattr(
        _ops, "made", False
    ) else None
    _ops.made = True  # type: ignore[attr-defined]
    token = issue_token(engine, "op-1")
    request = urllib.request.Request(  # noqa: S310 (loopback)
        base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as r:  # noqa: S310
        result: dict[str, Any] = json.loads(r.read())
        return result


def test_map_place_search_closed_stations_and_grouped_filters(
    browser: Any, serve: Any, street: Street, tmp_path: Path
) -> None:
    base = serve(street.app)
    context = _context(browser, located=False)  # the worker says no to location
    try:
        page = context.new_page()
        page.goto(base + "/")
        # No blank screen: the map is there with the city's outline before any location.
        page.wait_for_selector("#map path.ws-city", timeout=WAIT_MS)
        page.wait_for_function(
            "() => document.getElementById('where-status').textContent.includes('无法获取位置')",
            timeout=WAIT_MS,
        )
        assert _ids(page) == []
        page.screenshot(path=str(tmp_path / "street-no-location.png"))
        # Zoomed in to street level, the stations in view show, open green, closed grey;
        # a tap on one opens its page.
        page.evaluate(f"window.wsFinder.map().setView([{HERE[0]}, {HERE[1]}], 14)")
        page.wait_for_function(
            "() => document.querySelectorAll('#map path.ws-station').length === 4"
            " && document.querySelectorAll('#map path.ws-closed').length === 2",
            timeout=WAIT_MS,
        )
        page.evaluate("window.wsFinder.map().setView([22.6, 114.06], 4)")
        page.wait_for_function(
            "() => document.querySelectorAll('#map path.ws-station').length === 0",
            timeout=WAIT_MS,
        )

        # A district typed in Chinese: its centre becomes the point.
        page.fill("#point", "南山")
        page.press("#point", "Enter")
        page.wait_for_selector("#places:not([hidden]) button.place", timeout=WAIT_MS)
        first = page.locator("#places button.place").first
        assert first.locator(".pname").inner_text() == "南山区"
        assert "2 个驿站" in first.locator(".pmeta").inner_text()
        # The centre is 3.4 km north, 2.6 km from both of its stations: the live one first.
        _wait_ids(page, ["sz-nanshan", "sz-part", "sz-near"])
        # Eleven amenities: eight icons on the card and "+3" (the station's page has all).
        icons = page.locator('#list > li[data-id="sz-nanshan"] ul.amenities li')
        assert icons.count() == 9
        assert icons.last.inner_text() == "+3"
        assert icons.last.get_attribute("aria-label") == "另有 3 项设施"
        assert page.locator("#where-status").inner_text() == "位置：南山区（深圳市）"
        # A station's name finds it too.
        page.fill("#point", "sz-down")
        page.press("#point", "Enter")
        page.wait_for_function(
            "() => document.querySelector('#places button.place .pname')?.textContent"
            " === '驿站 sz-down'",
            timeout=WAIT_MS,
        )

        # Back at the worker's point: closed stations are listed apart, greyed, saying when
        # they open or what is wrong, and never among the open ones.
        page.fill("#point", f"{HERE[0]},{HERE[1]}")
        page.press("#point", "Enter")
        _wait_ids(page, ["sz-near", "sz-part", "sz-nanshan"])
        _wait_ids(page, ["sz-evening", "sz-down"], "#closed-list")
        evening = page.locator('#closed-list > li[data-id="sz-evening"]')
        assert "closed" in (evening.get_attribute("class") or "")
        assert evening.locator(".hours").inner_text() == "明天 08:00 开门"
        down = page.locator('#closed-list > li[data-id="sz-down"] .hours')
        assert down.inner_text() == "暂停服务（设备离线）"
        assert page.locator("#closed-h").inner_text() == "附近暂未开放的驿站"
        assert "附近 50 公里内找到 3 个开放的驿站" in page.locator("#summary").inner_text()
        page.wait_for_function(
            "() => document.querySelectorAll('#map path.ws-closed').length === 2",
            timeout=WAIT_MS,
        )
        page.screenshot(path=str(tmp_path / "street-closed.png"), full_page=True)

        # Amenities in groups: the common ones unfolded, the rest folded away.
        groups = page.locator("#filters details")
        assert groups.count() == 8
        assert page.locator('#filters details[data-group="food"]').get_attribute("open") == ""
        services = page.locator('#filters details[data-group="services"]')
        assert services.get_attribute("open") is None
        assert services.locator("summary").inner_text() == "便民服务"
        services.locator("summary").click()
        services.locator('button[data-amenity="wifi"]').click()
        _wait_ids(page, ["sz-near"])
        assert "amenity=wifi" in page.url
        labels = page.locator('#list > li[data-id="sz-near"] ul.amenities svg').evaluate_all(
            "els => els.map(e => e.getAttribute('aria-label'))"
        )
        assert labels == ["饮用水", "卫生间", "热水", "电瓶车充电", "无线网络"]  # stored order
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        page.locator("#lang-switch").click()
        assert services.locator("summary").inner_text() == "Everyday help"
        assert evening.count() == 0  # the wifi filter leaves no closed one with wifi
    finally:
        context.close()


def test_station_page_by_its_url_and_tickets_followed_to_the_reply(
    browser: Any, serve: Any, street: Street, tmp_path: Path
) -> None:
    base = serve(street.app)
    context = _context(browser)
    try:
        page = context.new_page()
        # Shared link straight to a station.
        page.goto(base + "/#/station/sz-near")
        page.wait_for_function(
            "() => document.getElementById('sv-name').textContent === '驿站 sz-near'",
            timeout=WAIT_MS,
        )
        assert page.locator("main").is_hidden()
        assert page.locator("#sv-state").inner_text() == "24 小时开放"
        assert page.locator("#sv-basis").inner_text() == "门禁联网，实时确认"
        confirmed = page.locator("#sv-confirmed").inner_text()
        assert "设备刚刚在线" in confirmed
        assert "暂无进门记录" in confirmed
        assert page.locator("#sv-hours").inner_text() == "24 小时开放（24/7）"
        assert page.locator("#sv-address").inner_text() == "深圳市福田区福华路1号"
        assert page.locator("#sv-operator").inner_text() == "福田区总工会"
        words = page.locator("#sv-amenities li span").all_inner_texts()
        assert words == ["饮用水", "热水", "卫生间", "电瓶车充电", "无线网络"]
        page.screenshot(path=str(tmp_path / "station-page.png"), full_page=True)

        # A station without an agent says it is judged by its hours only.
        page.goto(base + "/#/station/sz-evening")
        page.wait_for_function(
            "() => document.getElementById('sv-state').textContent === '明天 08:00 开门'",
            timeout=WAIT_MS,
        )
        assert (
            page.locator("#sv-basis").inner_text() == "该站未联网：按公布的营业时间判断，可能不准"
        )
        assert page.locator("#sv-confirmed").inner_text() == "无联网设备，无法确认"
        hours = page.locator("#sv-hours").inner_text()
        assert re.fullmatch(
            r"周[一二三四五六日] 08:00-20:00（(Mo|Tu|We|Th|Fr|Sa|Su) 08:00-20:00）", hours
        )
        page.goto(base + "/#/station/nowhere")
        page.wait_for_function(
            "() => document.getElementById('sv-name').textContent === '没有找到这个驿站。'",
            timeout=WAIT_MS,
        )

        # Report from the station page: a ticket number, followed to the operators' reply.
        page.goto(base + "/#/station/sz-near")
        page.wait_for_selector("#sv-actions button.report", timeout=WAIT_MS)
        page.locator("#sv-actions button.report").click()
        page.locator('#report-form input[value="broken"]').check()
        page.locator("#report-form button[type=submit]").click()
        page.wait_for_selector("#toast:not([hidden]) a.track", timeout=WAIT_MS)
        toast = page.locator("#toast").inner_text()
        ticket = toast.split("反馈编号 ")[1].split()[0]
        assert ticket.startswith("R-")
        page.locator("#toast a.track").click()
        page.wait_for_selector("#tv-steps li.current", timeout=WAIT_MS)
        assert page.locator("#tv-number").inner_text() == f"反馈编号 {ticket}"
        assert page.locator("#tv-steps li").all_inner_texts() == ["已收到", "处理中", "已解决"]
        assert page.locator("#tv-steps li.current").inner_text() == "已收到"
        assert page.locator("#tv-subject").inner_text() == "问题：设施坏了 · 驿站 sz-near"

        _ops(base, street.engine, f"/api/v1/ops/tickets/{ticket}/state",
             {"state": "resolved", "note": "充电口已修好"})  # fmt: skip
        page.reload()
        page.wait_for_function(
            "() => document.querySelector('#tv-steps li.current')?.textContent === '已解决'",
            timeout=WAIT_MS,
        )
        assert page.locator("#tv-reply").inner_text() == "运营回复：充电口已修好"
        page.locator("#lang-switch").click()
        assert page.locator("#tv-steps li.current").inner_text() == "Resolved"
        page.locator("#lang-switch").click()

        # A suggestion's ticket ends with a link to the station built from it.
        page.goto(base + "/")
        page.wait_for_selector("#list > li.card", timeout=WAIT_MS)
        page.locator("#suggest-open").click()
        page.fill("#suggest-name", "科技园北门")
        page.locator("#suggest-form button[type=submit]").click()
        page.wait_for_selector("#toast:not([hidden]) a.track", timeout=WAIT_MS)
        sticket = page.locator("#toast").inner_text().split("反馈编号 ")[1].split()[0]
        # Both tickets are remembered on this phone.
        mine = page.locator("#mine-list a").all_inner_texts()
        assert mine == [f"{sticket} · 科技园北门", f"{ticket} · 驿站 sz-near"]
        _ops(base, street.engine, f"/api/v1/ops/tickets/{sticket}/state",
             {"state": "built", "station_id": "sz-part", "note": "已建成"})  # fmt: skip
        page.locator("#mine-list a").first.click()
        page.wait_for_selector("#tv-station:not([hidden])", timeout=WAIT_MS)
        assert page.locator("#tv-steps li.current").inner_text() == "已建成"
        page.locator("#tv-station-link").click()
        page.wait_for_function(
            "() => document.getElementById('sv-name').textContent === '驿站 sz-part'",
            timeout=WAIT_MS,
        )
        assert page.url.endswith("#/station/sz-part")
    finally:
        context.close()


def test_page_and_last_results_without_network(
    browser: Any, street: Street, tmp_path: Path
) -> None:
    context = _context(browser)
    try:
        page = context.new_page()
        with uvicorn_thread(street.app) as port:
            base = f"http://127.0.0.1:{port}"
            page.goto(base + "/")
            _wait_ids(page, ["sz-near", "sz-part", "sz-nanshan"])
            _wait_ids(page, ["sz-evening", "sz-down"], "#closed-list")
            page.wait_for_function(
                "() => navigator.serviceWorker.controller !== null", timeout=WAIT_MS
            )
            page.wait_for_function(
                "() => localStorage.getItem('ws-finder-last') !== null", timeout=WAIT_MS
            )
            # The files the page needs are in the worker's cache before the network goes.
            page.wait_for_function(
                "async () => { const c = await caches.open('ws-finder-v1');"
                " return !!(await c.match('/finder/app.js')) && !!(await c.match('/')); }",
                timeout=WAIT_MS,
            )
        # The server is gone: the page still opens, with the last results marked old.
        page.reload()
        _wait_ids(page, ["sz-near", "sz-part", "sz-nanshan"])
        _wait_ids(page, ["sz-evening", "sz-down"], "#closed-list")
        stale = page.locator("#stale")
        stale.wait_for(state="visible", timeout=WAIT_MS)
        assert stale.inner_text().startswith("无网络：显示的是 ")
        assert stale.inner_text().endswith(" 的结果，可能已有变化")
        page.screenshot(path=str(tmp_path / "offline.png"), full_page=True)
        # A station's page from what the phone has, marked old.
        page.locator('#list > li[data-id="sz-near"] a.details').click()
        page.wait_for_function(
            "() => document.getElementById('sv-name').textContent === '驿站 sz-near'",
            timeout=WAIT_MS,
        )
        assert page.locator("#sv-stale").is_visible()
        assert page.locator("#sv-stale").inner_text().startswith("无网络：这是 ")
    finally:
        context.close()


def test_status_page_counts_open_stations_chinese_first(
    browser: Any, serve: Any, street: Street
) -> None:
    base = serve(street.app)
    context = _context(browser, located=False)
    try:
        page = context.new_page()
        page.goto(base + "/status")
        page.wait_for_function(
            "() => document.getElementById('total').textContent !== ''", timeout=WAIT_MS
        )
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("#total").inner_text() == "5 个驿站中 3 个现在开放"
        assert page.locator("#cloud").inner_text().startswith("系统运行正常")
        row = page.locator('#cities tr[data-city="深圳市"]').locator("th, td").all_inner_texts()
        assert row == ["深圳市", "3 / 5", "2", "1", "2"]
        page.locator("#lang-switch").click()
        assert page.locator("#total").inner_text() == "3 of 5 stations open now"
        assert page.locator("#cities thead th").first.inner_text() == "City"
    finally:
        context.close()
