"""The ops dashboard in real headless Chromium against the real system: a simulated station
(a real edge agent on mock pins, its door loop running) on a real Mosquitto with the project's
ACL, a real ingest worker with its health monitor, and the cloud app under uvicorn.

An operator logs in, sees a forced door show up in the alarm inbox within seconds (live, no
reload), acknowledges it, and unlocks the door remotely after confirming; the station pulses
its relay (seen on the mock pin) and the result comes back into the audit trail. A viewer sees
the same pages read-only and the API refuses their actions. Screenshots are saved in the
test's tmp_path (pytest keeps the last runs; `--basetemp` makes the place stable).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import Engine
from sqlmodel import select

from cloud.alarms.models import Alarm
from cloud.alarms.monitor import start_monitor
from cloud.api.ops_live import LiveConfig, LiveHub
from cloud.auth import Role, create_user, passwords
from cloud.auth.models import AuditEntry
from cloud.db import init_db, make_engine, session
from cloud.ingest.ingestor import Ingestor
from cloud.ingest.subscriber import IngestWorker
from cloud.main import create_app
from cloud.settings import Settings
from cloud.stations.registry import import_csv
from firmware_sim.cities import make_records, write_registry_csv
from firmware_sim.station import SimStation
from firmware_sim.union import SimUnion
from protocol import topics
from protocol.messages import AlarmEvent, StatePayload, TelemetryPayload
from tests.support.ops_browser import log_in, page_errors
from tests.support.wait import wait_for
from waystation.mosquitto import MosquittoProcess

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
CLOUD_PW = "cloud-secret"
SID = "sz-0001"
WAIT_MS = 15_000
ALARM_WITHIN_S = 10.0  # "within seconds": the stream polls every 0.3 s here, ingest batches 50 ms


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


def _app(settings: Settings) -> Any:
    app = create_app(settings)
    # The real hub, polling faster than the default 2 s so the test stays short.
    app.state.ops_live = LiveHub(app.state.ctx.engine, LiveConfig(interval_s=0.3, heartbeat_s=5))
    return app


def _login(page: Any, base: str, username: str) -> None:
    log_in(page, base, username, PASSWORD)


@dataclass
class Rig:
    base: str
    engine: Engine
    station: SimStation


@pytest.fixture
def rig(
    secure_mosquitto: Callable[[dict[str, str]], MosquittoProcess],
    serve: Any,
    tmp_path: Path,
) -> Iterator[Rig]:
    # One broker login per process, as provisioned: the ingest worker's, and the API's for
    # the commands it publishes (one login shared would disconnect the other process).
    broker = secure_mosquitto({"cloud-ingest-1": CLOUD_PW, "cloud-api": CLOUD_PW, SID: "pw-1"})
    settings = Settings(
        db=f"sqlite:///{tmp_path / 'cloud.db'}",
        broker=f"mqtt://cloud-ingest-1:{CLOUD_PW}@127.0.0.1:{broker.port}",
        mqtt_protocol=5,
        batch_max_wait_s=0.05,
        monitor_interval_s=0.5,
        cookie_secure=False,
    )
    engine = make_engine(settings.db)
    init_db(engine)
    records = make_records(3, seed=5, city="shenzhen")
    import_csv(engine, write_registry_csv(records, tmp_path / "registry.csv"))
    create_user(engine, "op", Role.OPERATOR, PASSWORD)
    create_user(engine, "watcher", Role.VIEWER, PASSWORD)
    worker = IngestWorker(engine, settings)
    worker.start()
    union = SimUnion.create(5)
    sim = SimStation(
        records[0],
        union,
        broker_url=f"mqtt://{SID}:pw-1@127.0.0.1:{broker.port}",
        workdir=tmp_path / "stations",
        rng=random.Random(1),
        telemetry_interval_s=2.0,
    )
    stop = threading.Event()
    monitor: threading.Thread | None = None
    door_loop = threading.Thread(target=lambda: sim.agent.run(stop), name="door-loop", daemon=True)
    try:
        assert worker.subscribed.wait(10), f"ingest did not subscribe: {worker.fatal}"
        sim.start()
        door_loop.start()  # the agent's real door loop: door contact, heartbeats, housekeeping
        monitor = start_monitor(engine, settings, stop)  # as `cloud ingest` runs it
        link = sim.agent.link
        wait_for(lambda: link is not None and link.connected, 15, what="the station's link")
        api_broker = f"mqtt://cloud-api:{CLOUD_PW}@127.0.0.1:{broker.port}"
        yield Rig(serve(_app(settings.model_copy(update={"broker": api_broker}))), engine, sim)
    finally:
        stop.set()
        door_loop.join(5)
        if monitor is not None:
            monitor.join(5)
        sim.stop()
        worker.stop()
        engine.dispose()


def _alarm(engine: Engine, rule: str) -> Alarm | None:
    with session(engine) as s:
        return s.exec(select(Alarm).where(Alarm.station_id == SID, Alarm.rule == rule)).first()


def _audit(engine: Engine, action: str) -> list[AuditEntry]:
    with session(engine) as s:
        return list(s.exec(select(AuditEntry).where(AuditEntry.action == action)))


def test_operator_sees_a_forced_door_live_acknowledges_it_and_unlocks_remotely(
    browser: Any, rig: Rig, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        errors = page_errors(page)
        _login(page, rig.base, "op")
        page.wait_for_selector("#map-canvas[data-ready=true]", timeout=WAIT_MS)
        assert page.locator("#who").inner_text() == "op (运维员)"  # zh-CN by default
        # The monitor judges the live station healthy; the summary follows over the stream.
        ok = page.locator("#fleet-summary li.health-ok strong")
        page.locator("#fleet-summary li.health-ok", has_text="1 正常").wait_for(timeout=WAIT_MS)
        assert ok.inner_text() == "1"
        page.click("nav a[href='#alarms']")
        page.wait_for_selector("#alarm-empty:not([hidden])", timeout=WAIT_MS)

        # Someone forces the door: contact opens with no unlock. No reload from here on.
        t0 = time.monotonic()
        rig.station.move_door(is_open=True)
        row = page.locator("#alarm-rows tr[data-state=raised][data-rule=forced_open]")
        row.wait_for(timeout=int(ALARM_WITHIN_S * 1000))
        seen_after = time.monotonic() - t0
        assert seen_after < ALARM_WITHIN_S
        assert "门被强行打开" in row.inner_text()  # the rule in words
        assert "严重" in row.inner_text()  # critical
        # the badge is painted by the same stream update, a moment after the row: wait on it
        page.locator("#alarm-badge", has_text="1").wait_for(timeout=WAIT_MS)
        assert page.locator("#alarm-badge").inner_text() == "1"
        page.screenshot(path=str(tmp_path / "ops-alarm-inbox.png"), full_page=True)

        # Acknowledge from the inbox: the row says who, the database and audit log agree.
        row.locator("button.ack").click()
        row.locator(".acked").wait_for(timeout=WAIT_MS)
        assert row.locator(".acked").inner_text() == "已由 op 确认"
        alarm = _alarm(rig.engine, "forced_open")
        assert alarm is not None
        assert alarm.acknowledged_by == "op"
        assert [e.target for e in _audit(rig.engine, "alarm.ack")] == [f"alarm:{alarm.id}"]
        rig.station.move_door(is_open=False)

        # The station page: live state and the raised alarm, then a confirmed remote unlock.
        page.goto(f"{rig.base}/ops#station/{SID}")
        page.wait_for_selector("#station-title", timeout=WAIT_MS)
        page.wait_for_selector("#station-commands", timeout=WAIT_MS)
        pin = rig.station.relay_pin
        assert not pin.state
        pin.clear_states()
        page.click("#unlock")
        dialog = page.locator("#unlock-dialog")
        dialog.wait_for(state="visible")
        assert SID in dialog.inner_text()
        page.screenshot(path=str(tmp_path / "ops-unlock-confirm.png"))
        page.click("#unlock-confirm")
        page.wait_for_selector("#unlock-result[data-state=ok]", timeout=20_000)
        assert [s.state for s in pin.states][:2] == [False, True], "the relay never pulsed"
        trail = page.locator("#station-commands tbody tr").first
        assert trail.get_attribute("data-name") == "unlock"
        assert "开门" in trail.inner_text()
        assert "op" in trail.inner_text()
        assert trail.get_attribute("data-state") == "ok"
        [entry] = _audit(rig.engine, "command.unlock")
        assert (entry.username, entry.target) == ("op", f"station:{SID}")
        # The access/door list shows the remote unlock the station journaled, no member data.
        events = page.locator("#station-events tr[data-cause=remote]")
        try:
            events.first.wait_for(timeout=WAIT_MS)
        except Exception:  # the door event came after the page's last refresh: load again
            page.reload()
            events.first.wait_for(timeout=WAIT_MS)
        assert events.first.get_attribute("data-action") == "unlocked"
        assert "远程开门" in events.first.inner_text()
        page.screenshot(path=str(tmp_path / "ops-station-page.png"), full_page=True)
        assert errors == [], errors
    finally:
        context.close()


@pytest.fixture
def quiet(serve: Any, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """No broker: three stations made live through the ingestor, one with a raised alarm."""
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    records = make_records(3, seed=5, city="shenzhen")
    import_csv(engine, write_registry_csv(records, tmp_path / "registry.csv"))
    create_user(engine, "watcher", Role.VIEWER, PASSWORD)
    ing = Ingestor(engine)
    from cloud.clock import utcnow

    now = utcnow()
    for r in records:
        ing.handle(
            topics.state(r.id), StatePayload(sid=r.id, status="online", sess=1, ts=now).to_bytes()
        )
        ing.handle(
            topics.telemetry(r.id), TelemetryPayload(sid=r.id, uptime_s=5, ts=now).to_bytes()
        )
    event = AlarmEvent(
        sid=SID, event_id=uuid4(), seq=1, alarm="camera_down", state="raised", ts=now
    )
    ing.handle(topics.events(SID), event.to_bytes())
    ing.flush()
    app = _app(Settings(db=url, cookie_secure=False))
    try:
        yield serve(app), engine
    finally:
        engine.dispose()


def test_viewer_reads_everything_but_cannot_acknowledge_or_unlock(
    browser: Any, quiet: tuple[str, Engine], tmp_path: Path
) -> None:
    base, engine = quiet
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        errors = page_errors(page)
        _login(page, base, "watcher")
        page.click("nav a[href='#alarms']")
        row = page.locator("#alarm-rows tr[data-rule=camera_down]")
        row.wait_for(timeout=WAIT_MS)
        assert row.get_by_role("button").count() == 0
        assert "只读" in row.inner_text()
        page.screenshot(path=str(tmp_path / "ops-viewer-alarms-360.png"), full_page=True)

        assert errors == [], errors
        # The API says no as well, even with the session's CSRF token.
        alarm = _alarm(engine, "camera_down")
        assert alarm is not None
        status = page.evaluate(
            """async (id) => {
                const me = await (await fetch('/api/v1/ops/auth/me')).json();
                const r = await fetch(`/api/v1/ops/alarms/${id}/ack`, {
                    method: 'POST', headers: {'X-CSRF-Token': me.csrf_token}});
                const u = await fetch('/api/v1/ops/stations/sz-0001/commands', {
                    method: 'POST', body: JSON.stringify({name: 'unlock'}),
                    headers: {'X-CSRF-Token': me.csrf_token, 'Content-Type': 'application/json'}});
                return [r.status, u.status];
            }""",
            alarm.id,
        )
        assert status == [403, 403]
        errors.clear()  # the browser logs those two refusals as failed loads
        assert _alarm(engine, "camera_down").acknowledged_at is None  # type: ignore[union-attr]

        page.goto(f"{base}/ops#station/{SID}")
        page.wait_for_selector("#station-title", timeout=WAIT_MS)
        assert page.locator("#unlock").count() == 0
        assert "运维员" in page.locator("#view-station").inner_text()
        # Usable at 360 px: nothing wider than the screen but the scrolling tables.
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 360, wide
        page.screenshot(path=str(tmp_path / "ops-viewer-station-360.png"), full_page=True)

        # Keyboard: the skip link comes first, then the views are reachable by Tab + Enter.
        page = context.new_page()  # a fresh tab: focus starts at the top of the document
        page_errors(page, into=errors)
        page.goto(f"{base}/ops#map")
        page.wait_for_selector("#map-canvas[data-ready=true]", timeout=WAIT_MS)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        for _ in range(10):
            page.keyboard.press("Tab")
            if page.evaluate("document.activeElement.getAttribute('href')") == "#fleet":
                break
        page.keyboard.press("Enter")
        page.wait_for_selector("#fleet-rows tr[data-sid]", timeout=WAIT_MS)
        assert page.locator("#fleet-rows tr[data-sid]").count() == 3
        assert errors == [], errors
    finally:
        context.close()


MARKUP_NAME = "<img src=x id=pwn><b>bold</b>"
MARKUP_CITY = "<img src=x id=pwn-city><i>city</i>"
MARKUP_OPERATOR = '<a href="/" id=pwn-operator>op</a>'


def test_station_text_with_markup_shows_as_text_everywhere(
    browser: Any, serve: Any, tmp_path: Path
) -> None:
    """Story: a station's city with `<img>`/`<i>` in it became real elements in the ops map's
    city outline label (the city went to Leaflet as an HTML string; CSP stopped scripts,
    not the markup).

    Stations whose name, city and operator carry markup show them as literal text on the
    map (city label, popup), in the fleet table and its filters and on the station page,
    and no element of theirs exists."""
    from cloud.stations.registry import upsert

    url = f"sqlite:///{tmp_path / 'markup.db'}"
    engine = make_engine(url)
    init_db(engine)
    records = [
        r.model_copy(
            update={"name": f"{MARKUP_NAME} {i}", "city": MARKUP_CITY, "operator": MARKUP_OPERATOR}
        )
        for i, r in enumerate(make_records(3, seed=5, city="shenzhen"))
    ]
    upsert(engine, records)
    create_user(engine, "watcher", Role.VIEWER, PASSWORD)
    ing = Ingestor(engine)
    from cloud.clock import utcnow

    now = utcnow()
    for r in records:
        ing.handle(
            topics.state(r.id), StatePayload(sid=r.id, status="online", sess=1, ts=now).to_bytes()
        )
    ing.flush()
    base = serve(_app(Settings(db=url, cookie_secure=False)))
    first = records[0].id
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        errors = page_errors(page)
        _login(page, base, "watcher")
        page.wait_for_selector("#map-canvas[data-ready=true]", timeout=WAIT_MS)
        label = page.locator("#map-canvas .city-label")
        label.wait_for(timeout=WAIT_MS)
        assert label.inner_text() == MARKUP_CITY
        page.evaluate("sid => window.waystationOps.map.focus(sid)", first)
        popup = page.locator("#map-canvas .leaflet-popup-content")
        popup.wait_for(timeout=WAIT_MS)
        assert popup.locator("strong").inner_text() == f"{MARKUP_NAME} 0"
        assert MARKUP_CITY in popup.inner_text()
        page.screenshot(path=str(tmp_path / "ops-markup-map.png"))

        page.click("nav a[href='#fleet']")
        page.wait_for_selector("#fleet-rows tr[data-sid]", timeout=WAIT_MS)
        names = page.locator("#fleet-rows tr[data-sid] th a").all_inner_texts()
        assert sorted(names) == [f"{MARKUP_NAME} {i}" for i in range(3)]
        assert MARKUP_CITY in page.locator("#f-city option").all_inner_texts()
        assert MARKUP_OPERATOR in page.locator("#f-operator option").all_inner_texts()

        page.goto(f"{base}/ops#station/{first}")
        page.wait_for_selector("#station-title", timeout=WAIT_MS)
        assert page.locator("#station-title").inner_text().startswith(f"{MARKUP_NAME} 0")

        for planted in ("#pwn", "#pwn-city", "#pwn-operator"):
            assert page.locator(planted).count() == 0, planted
        assert page.locator("main b, main i, main img").count() == 0
        assert errors == [], errors  # an <img src=x> would also have been a failed load
    finally:
        context.close()
        engine.dispose()


def test_an_admin_sets_the_door_timing_on_the_station_page_and_the_station_applies_it(
    browser: Any, rig: Rig, tmp_path: Path
) -> None:
    """Issue 18.2: the station page shows the desired config against the applied one, the
    door mode now and the hours the door runs; an admin's change reaches the station's agent,
    which applies it and reports it (the page then shows the two versions equal)."""
    create_user(rig.engine, "boss", Role.ADMIN, PASSWORD)
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    try:
        page = context.new_page()
        errors = page_errors(page)
        _login(page, rig.base, "boss")
        page.goto(f"{rig.base}/ops#station/{SID}")
        card = page.locator("#station-config")
        card.locator(".cfg-door-mode", has_text="会员刷码进门").wait_for(timeout=WAIT_MS)
        assert "尚未下发" in card.locator(".cfg-desired").inner_text()
        assert rig.station.agent.config.door.pulse_s != 4
        page.fill("#cfg-form input[name='door.pulse_s']", "4")
        page.click("#cfg-form button[type=submit]")
        wait_for(lambda: rig.station.agent.config.door.pulse_s == 4, 20, "the station applies it")

        def caught_up() -> bool:
            page.reload()
            card.locator(".cfg-desired").wait_for(timeout=WAIT_MS)
            desired = card.locator(".cfg-desired").inner_text()
            applied = card.locator(".cfg-applied").inner_text().strip()
            return applied.isdigit() and f"第 {applied} 版" in desired

        wait_for(caught_up, 30, "the page shows the applied version equal to the desired one")
        # The registry's hours went out with it: the door runs what the map publishes.
        assert "与地图公布的一致" in card.locator(".cfg-schedule").inner_text()
        assert page.locator("#cfg-form input[name='door.pulse_s']").input_value() == "4"
        [entry] = _audit(rig.engine, "config.set")
        assert (entry.username, entry.target) == ("boss", f"station:{SID}")
        page.screenshot(path=str(tmp_path / "ops-station-config.png"), full_page=True)
        assert errors == [], errors
    finally:
        context.close()
