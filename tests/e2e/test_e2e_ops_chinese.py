"""The ops dashboard in Chinese, as a new operator meets it, in real headless Chromium.

Story: the ops UI was English only, its alarm inbox listed station ids with an unexplained
"(600.633602)", and a remote unlock of an offline station gave no warning and expired in
silence. Here every view — login, map, fleet, alarm inbox, each station page, the unlock
dialog — is walked in zh-CN and fails on any visible text (or label, title, placeholder)
with an English word in it, except names and codes marked `translate="no"`, text declared
in another language (`lang="en"` on the switch to English) and a short list of units and
brands. Alarms read as words with station name, city and how long; unlocking an offline
station warns first and then says clearly that the command expired. The English switch
works both ways. Screenshots of every view are saved in the test's tmp_path (`--basetemp`
makes the place stable) for a look by eye.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import Engine, select

from cloud.alarms.models import Alarm
from cloud.alarms.monitor import Monitor
from cloud.api.ops_live import LiveConfig, LiveHub
from cloud.auth import Role, create_user, passwords
from cloud.clock import utcnow
from cloud.db import init_db, make_engine
from cloud.ingest.ingestor import Ingestor
from cloud.main import create_app
from cloud.models import table
from cloud.settings import Settings
from cloud.stations.registry import import_csv
from firmware_sim.cities import make_records, write_registry_csv
from protocol import topics
from protocol.messages import (
    AccessEvent,
    AlarmEvent,
    DoorEvent,
    StatePayload,
    TelemetryPayload,
)
from tests.support.ops_browser import log_in, page_errors, release_late
from tests.support.wait import wait_for
from waystation.demo_faults import demo_thresholds

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
WAIT_MS = 15_000
ALARM = table(Alarm)
# Latin text allowed on a Chinese page: units, brands and abbreviations everyone reads as is.
ALLOWED = re.compile(
    r"°C|\bfps\b|\bms\b|\bp95\b|\bCPU\b|\bQR\b|\bHTTP\b|\bLeaflet\b|\bOpenStreetMap\b|"
    r"\bEnglish\b|\bkm\b|\bkWh\b"
)
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")

# Every visible text node, and the labels people read (aria-label, title, placeholder),
# outside `translate="no"` (names, ids, codes from the field).
COLLECT = """() => {
  const out = [];
  const visible = (el) => {
    if (!el || el.closest('[hidden]')) return false;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none') return false;
    return el.getClientRects().length > 0 || el.closest('svg') !== null;
  };
  // Names, ids and codes (translate=no), and text declared in another language on purpose
  // (the switch to English says so in English).
  const skip = (el) => el.closest('[translate=no], script, style, noscript')
    || !(el.closest('[lang]')?.lang || 'zh').startsWith('zh');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    const text = n.textContent.trim();
    if (!text || !el || skip(el)) continue;
    if (el.closest('.sr-only, [aria-live], title') || visible(el)) out.push(text);
  }
  for (const el of document.querySelectorAll('[aria-label], [title], [placeholder]')) {
    if (skip(el) || !(visible(el) || el.closest('dialog[open]'))) continue;
    for (const a of ['aria-label', 'title', 'placeholder']) {
      const v = el.getAttribute(a);
      if (v) out.push(v);
    }
  }
  out.push(document.title);
  return out;
}"""


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


def untranslated(page: Any) -> list[str]:
    """Visible strings with an English word left after the allowed units and brands."""
    texts: list[str] = page.evaluate(COLLECT)
    return sorted({t for t in texts if LATIN_WORD.search(ALLOWED.sub("", t))})


@dataclass
class Site:
    base: str
    engine: Engine
    sids: list[str]
    skew: list[float]  # seconds the app's clock runs ahead (to let a command expire)


@pytest.fixture
def site(serve: Any, tmp_path: Path) -> Iterator[Site]:
    """Four stations through the real ingestor and monitor (demo thresholds, so the offline
    and warm-fridge alarms do not take 10 and 15 minutes): sz-0001 door held open, with
    access and door events; sz-0002 lost (offline); sz-0003 a warm fridge; sz-0004 a dead
    camera and a clock alarm that came and went."""
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    records = make_records(4, seed=5, city="shenzhen")
    import_csv(engine, write_registry_csv(records, tmp_path / "registry.csv"))
    create_user(engine, "op", Role.OPERATOR, PASSWORD)
    a, b, c, d = (r.id for r in records)
    ing = Ingestor(engine)
    seq = iter(range(1, 1000))
    now = utcnow()

    def send(topic: str, payload: Any) -> None:
        ing.handle(topic, payload.to_bytes())

    for r in records:
        send(topics.state(r.id), StatePayload(sid=r.id, status="online", sess=1, ts=now))
        fridge = 11.2 if r.id == c else 4.1
        send(
            topics.telemetry(r.id),
            TelemetryPayload(
                sid=r.id, uptime_s=600, ts=now, cpu_temp_c=48.5, sensors={"fridge_c": fridge}
            ),
        )
    for granted, reason in ((True, "granted"), (False, "revoked"), (True, "granted")):
        send(
            topics.events(a),
            AccessEvent(
                sid=a, event_id=uuid4(), seq=next(seq), ts=now, granted=granted, reason=reason,
                credential="ws2",
            ),
        )  # fmt: skip
    for action, cause in (("unlocked", "exit"), ("door_opened", "exit"), ("held_open", None)):
        send(
            topics.events(a),
            DoorEvent(sid=a, event_id=uuid4(), seq=next(seq), ts=now, action=action, cause=cause),
        )

    def alarm(sid: str, name: str, state: str) -> None:
        event = AlarmEvent(
            sid=sid, event_id=uuid4(), seq=next(seq), ts=utcnow(), alarm=name, state=state
        )
        send(topics.events(sid), event)

    alarm(d, "camera_down", "raised")
    alarm(d, "clock_unsynced", "raised")
    alarm(d, "clock_unsynced", "cleared")
    send(topics.state(b), StatePayload(sid=b, status="lost", sess=1, ts=now))
    ing.flush()
    monitor = Monitor(engine, thresholds=demo_thresholds(1.0))

    def judged() -> bool:
        monitor.run_once()
        with engine.connect() as conn:
            rows = conn.execute(select(ALARM.c.rule).where(ALARM.c.state == "raised"))
            return {"station_offline", "fridge_warm"} <= {r.rule for r in rows}

    wait_for(judged, 40, what="the offline and warm-fridge alarms", interval_s=0.5)
    skew = [0.0]
    app = create_app(
        Settings(db=url, cookie_secure=False),
        clock=lambda: utcnow() + timedelta(seconds=skew[0]),
    )
    app.state.ops_live = LiveHub(app.state.ctx.engine, LiveConfig(interval_s=0.3, heartbeat_s=5))
    app.state.publish = lambda messages: None  # the broker took it; no station will answer
    try:
        yield Site(serve(app), engine, [a, b, c, d], skew)
    finally:
        engine.dispose()


def _shot(page: Any, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"zh-{name}.png"), full_page=True)


def test_every_view_is_chinese_and_tells_the_truth(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        found: dict[str, list[str]] = {}

        def check(view: str) -> None:
            _shot(page, tmp_path, view)
            left = untranslated(page)
            if left:
                found[view] = left

        # Login: Chinese although the browser asks for English (zh-CN is the default).
        page.goto(f"{site.base}/ops")
        page.wait_for_url(f"{site.base}/ops/login")
        page.wait_for_selector("#lang-switch:has-text('English')")
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        check("login")
        page.fill("#username", "op")
        page.fill("#password", PASSWORD)
        page.click("#login-form button[type=submit]")
        page.wait_for_url(f"{site.base}/ops")
        page.wait_for_selector("#live-status[data-state=live]", timeout=WAIT_MS)
        assert page.locator("#live-status").inner_text() == "实时"

        page.wait_for_selector("#map-canvas[data-ready=true]", timeout=WAIT_MS)
        page.locator("#fleet-summary li.health-down", has_text="故障").wait_for(timeout=WAIT_MS)
        check("map")

        page.click("nav a[href='#fleet']")
        page.wait_for_selector("#fleet-rows tr[data-sid]", timeout=WAIT_MS)
        lost = page.locator(f"#fleet-rows tr[data-sid={site.sids[1]}]")
        assert "失联" in lost.inner_text()  # the status in words
        check("fleet")

        # The inbox: names, city, the rule in words, how long, the value with its unit.
        page.click("nav a[href='#alarms']")
        page.select_option("#a-state", "all")
        page.wait_for_selector("#alarm-rows tr[data-rule=clock_unsynced]", timeout=WAIT_MS)
        offline = page.locator("#alarm-rows tr[data-rule=station_offline]")
        text = offline.inner_text()
        assert "站点离线" in text, text
        assert "深圳" in text, text
        assert re.search(r"已离线 \d+ 秒", text), text
        assert re.search(r"已持续 (\d+ 秒|刚刚)", text), text
        assert not re.search(r"\(\d+\.\d+\)", text), text  # no bare "(600.633602)"
        warm = page.locator("#alarm-rows tr[data-rule=fridge_warm]").inner_text()
        assert "冷柜温度过高" in warm, warm
        assert re.search(r"冷柜 11(\.\d)? °C", warm), warm
        assert (
            "门长时间未关" in page.locator("#alarm-rows tr[data-rule=door_held_open]").inner_text()
        )
        gone = page.locator("#alarm-rows tr[data-rule=clock_unsynced]").inner_text()
        assert "已解除" in gone, gone
        assert "持续了" in gone, gone
        check("alarms")

        for sid in site.sids:
            page.goto(f"{site.base}/ops#station/{sid}")
            page.wait_for_selector(f"#station-title:has-text('{sid}')", timeout=WAIT_MS)
            page.wait_for_selector("#station-uptime svg", timeout=WAIT_MS)
            page.wait_for_selector("#station-charts svg", timeout=WAIT_MS)
            page.wait_for_selector("#station-footfall svg, #station-footfall p", timeout=WAIT_MS)
            check(f"station-{sid}")
        # Uptime: online since it first appeared is 100 %, not a red sliver (no "bad" bar).
        page.goto(f"{site.base}/ops#station/{site.sids[0]}")
        page.wait_for_selector("#station-uptime svg rect.chart-bar", timeout=WAIT_MS)
        assert page.locator("#station-uptime rect.chart-bar.bad").count() == 0
        events = page.locator("#station-events tr[data-action=denied]").first.inner_text()
        assert "拒绝" in events, events
        assert "凭证已吊销" in events, events

        # Unlock an online station: no warning.
        page.click("#unlock")
        page.wait_for_selector("#unlock-dialog[open]")
        assert page.locator("#unlock-warning").is_hidden()
        assert page.locator("#unlock-confirm").inner_text() == "开门"
        check("unlock-online")
        page.click("#unlock-dialog button[value=cancel]")

        # Unlock the lost station: warned before sending, told clearly that it expired.
        page.goto(f"{site.base}/ops#station/{site.sids[1]}")
        page.wait_for_selector(f"#station-title:has-text('{site.sids[1]}')", timeout=WAIT_MS)
        page.click("#unlock")
        warning = page.locator("#unlock-warning")
        warning.wait_for(state="visible")
        assert "失联" in warning.inner_text()
        assert "30 秒" in warning.inner_text()
        assert page.locator("#unlock-confirm").inner_text() == "仍然发送"
        check("unlock-offline-warning")
        page.click("#unlock-confirm")
        result = page.locator("#unlock-result")
        page.wait_for_selector(
            "#unlock-result[data-state=pending], #unlock-result[data-state=sent]", timeout=WAIT_MS
        )
        assert "等待站点回应" in result.inner_text()
        site.skew[0] = 60.0  # the server's clock passes the expiry (30 s) and its grace
        page.wait_for_selector("#unlock-result[data-state=expired]", timeout=WAIT_MS)
        assert "已过期" in result.inner_text()
        assert "门没有打开" in result.inner_text()
        trail = page.locator("#station-commands tbody tr").first
        trail.locator("td.cmd-expired").wait_for(timeout=WAIT_MS)
        assert "已过期" in trail.inner_text()
        check("unlock-expired")

        assert found == {}, "\n".join(f"{view}: {left}" for view, left in found.items())
        assert errors == [], errors

        # The English switch, and back.
        page.click("#lang-switch")
        page.wait_for_selector("nav a[href='#map']:has-text('Map')", timeout=WAIT_MS)
        assert page.locator("html").get_attribute("lang") == "en"
        page.wait_for_selector("#station-title", timeout=WAIT_MS)
        assert "Remote unlock" in page.locator("#view-station").inner_text()
        _shot(page, tmp_path, "english-station")
        page.click("#lang-switch")
        page.wait_for_selector("nav a[href='#map']:has-text('地图')", timeout=WAIT_MS)
    finally:
        context.close()


def test_the_admin_views_are_chinese_too(browser: Any, site: Site, tmp_path: Path) -> None:
    """What only an admin sees: the accounts and scopes view, the station's config form, and
    the member, bulk config and notification pages."""
    create_user(site.engine, "boss", Role.ADMIN, PASSWORD)
    context = browser.new_context(viewport={"width": 1280, "height": 1200}, locale="en-US")
    try:
        page = context.new_page()
        errors = page_errors(page)
        log_in(page, site.base, "boss", PASSWORD)
        assert page.locator("#scope").inner_text() == "全部站点"
        found: dict[str, list[str]] = {}
        page.click("nav a[href='#accounts']")
        page.wait_for_selector("#account-rows tr[data-user=op]", timeout=WAIT_MS)
        _shot(page, tmp_path, "admin-accounts")
        if left := untranslated(page):
            found["accounts"] = left
        page.goto(f"{site.base}/ops#station/{site.sids[0]}")
        page.wait_for_selector("#cfg-form", timeout=WAIT_MS)
        assert "尚未下发" in page.locator("#station-config .cfg-desired").inner_text()
        _shot(page, tmp_path, "admin-station-config")
        if left := untranslated(page):
            found["station-config"] = left
        # The admin pages (members, bulk config, notifications), empty as a new union has them.
        for view, ready in (
            ("members", "#rev-reach:not(:empty)"),
            ("bulkconfig", "#bulk-preview-button"),
            ("notify", "#channel-form button[type=submit]"),
        ):
            page.click(f"nav a[href='#{view}']")
            page.wait_for_selector(ready, timeout=WAIT_MS)
            _shot(page, tmp_path, f"admin-{view}")
            if left := untranslated(page):
                found[view] = left
        assert found == {}, found
        assert errors == [], errors
    finally:
        context.close()


def test_the_alarm_filter_draws_the_newest_answer(browser: Any, site: Site) -> None:
    """Story: a full suite run on a loaded machine timed out waiting for a cleared alarm after
    "all" was chosen: the inbox's first load (raised only) answered after the "all" load and
    replaced it. Hold the first load's answer until "all" is drawn, then let it through:
    the cleared alarm must stay on the page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        errors = page_errors(page)
        log_in(page, site.base, "op", PASSWORD)
        held: list[Any] = []

        def raised_only(url: str) -> bool:
            return "/api/v1/ops/alarms?" in url and "state=raised" in url

        page.route(raised_only, lambda route: held.append(route))
        page.click("nav a[href='#alarms']")
        page.select_option("#a-state", "all")
        cleared = page.locator("#alarm-rows tr[data-rule=clock_unsynced]")
        cleared.wait_for(timeout=WAIT_MS)
        assert held, "the inbox's first load was never asked for"
        release_late(page, held, raised_only)
        assert cleared.count() == 1
        assert "已解除" in cleared.inner_text()
        assert errors == [], errors
    finally:
        context.close()


def test_the_checker_catches_english(browser: Any, serve: Any, tmp_path: Path) -> None:
    """The untranslated-text check itself: it finds a planted English phrase and label,
    and lets names marked `translate="no"`, units and brands through."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_content(
            "<html lang='zh-CN'><head><title>驿站</title></head><body>"
            "<p>站点 <span translate='no'>Fridge Station</span> 冷柜 4 °C</p>"
            "<p>CPU 温度 48 °C · 30 fps · Leaflet</p>"
            "<button aria-label='Zoom in'>+</button><p>Loading sz-0001…</p>"
            "<p hidden>Hidden English</p><button lang='en'>English</button></body></html>"
        )
        assert untranslated(page) == ["Loading sz-0001…", "Zoom in"]
    finally:
        context.close()
