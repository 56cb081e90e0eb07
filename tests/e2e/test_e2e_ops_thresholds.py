"""Sensor alarm thresholds from the Chinese ops dashboard, in real headless Chromium.

Story (issue 18): a station whose fridge keeps medicine must alarm above 5 °C, not the
fleet's 8 °C. An admin sets it on the station page's config card in zh-CN; the card then
shows the station's own limit while another station shows the default (the monitor's use of
it: tests/cloud/alarms/test_thresholds.py); the bulk page sets a threshold for a city
(preview, then apply). Every view is checked for English left on the Chinese page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import Engine

from cloud.alarms import thresholds
from cloud.auth import Role, create_user, passwords
from cloud.db import init_db, make_engine
from cloud.ingest.ingestor import Ingestor
from cloud.main import create_app
from cloud.settings import Settings
from cloud.stations.registry import upsert
from protocol import topics
from protocol.messages import StatePayload, TelemetryPayload
from protocol.registry import StationRecord
from tests.e2e.test_e2e_ops_chinese import untranslated
from tests.support.ops_browser import log_in, page_errors

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
WAIT_MS = 15_000


@dataclass
class Site:
    base: str
    engine: Engine


@pytest.fixture
def site(serve: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    """Two online stations in 深圳 with a fridge at 6 °C; an admin account."""
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    records = [
        StationRecord(
            id=sid,
            name=f"驿站 {sid}",
            lat=22.5431 + i / 1000,
            lon=114.0579,
            amenities="water",
            opening_hours="24/7",
            address=f"深圳市 {sid} 路 1 号",
            city="深圳",
            operator="深圳市总工会",
        )
        for i, sid in enumerate(("sz-t1", "sz-t2"))
    ]
    upsert(engine, records)
    ingestor = Ingestor(engine)
    now = datetime.now(UTC)
    for r in records:
        birth = StatePayload(sid=r.id, status="online", sess=1, ts=now)
        ingestor.handle(topics.state(r.id), birth.to_bytes())
        beat = TelemetryPayload(sid=r.id, uptime_s=60, ts=now, sensors={"fridge_c": 6.0})
        ingestor.handle(topics.telemetry(r.id), beat.to_bytes())
    ingestor.flush()
    create_user(engine, "boss", Role.ADMIN, PASSWORD)
    settings = Settings(
        db=url, cookie_secure=False, index_refresh_s=0, live_state_ttl_s=0,
        rate_limit_burst=1_000, monitor_interval_s=0,
    )  # fmt: skip
    try:
        yield Site(serve(create_app(settings)), engine)
    finally:
        engine.dispose()


def test_an_admin_sets_a_fridge_threshold_in_the_chinese_dashboard(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1600}, locale="en-US")
    try:
        page = context.new_page()
        errors = page_errors(page)
        found: dict[str, list[str]] = {}

        def check(view: str) -> None:
            page.screenshot(path=str(tmp_path / f"thresholds-{view}.png"), full_page=True)
            if left := untranslated(page):
                found[view] = left

        log_in(page, site.base, "boss", PASSWORD, live=False)
        page.goto(f"{site.base}/ops#station/sz-t1")
        row = page.locator("#thr-table tr[data-rule=fridge_warm]")
        row.wait_for(timeout=WAIT_MS)
        assert row.get_attribute("data-own") == "0"
        assert row.locator(".thr-raise_above").inner_text() == "8 °C"
        assert row.locator(".thr-source").inner_text() == "默认"
        check("station-default")

        page.fill("#thr-form input[name='fridge_warm.raise_above']", "5")
        page.fill("#thr-form input[name='fridge_warm.clear_below']", "4")
        page.click("#thr-form button[type=submit]")
        page.wait_for_selector(
            "#thr-table tr[data-rule=fridge_warm][data-own='1']", timeout=WAIT_MS
        )
        row = page.locator("#thr-table tr[data-rule=fridge_warm]")
        assert row.locator(".thr-raise_above").inner_text() == "5 °C"
        assert row.locator(".thr-clear_below").inner_text() == "4 °C"
        assert row.locator(".thr-source").inner_text().startswith("本站设定")
        check("station-own")
        with site.engine.connect() as conn:
            stored = thresholds.load(conn)
        assert stored[("sz-t1", "fridge_warm")]["raise_above"] == 5.0
        assert ("sz-t2", "fridge_warm") not in stored

        # The other station still shows the default.
        page.goto(f"{site.base}/ops#station/sz-t2")
        page.wait_for_selector(
            "#thr-table tr[data-rule=fridge_warm][data-own='0']", timeout=WAIT_MS
        )

        # The bulk page: the disk threshold for every 深圳 station, previewed then applied.
        page.click("nav a[href='#bulkconfig']")
        page.wait_for_selector(
            "#bulk-form select[name=city] option[value='深圳']", state="attached"
        )
        page.select_option("#bulk-form select[name=city]", "深圳")
        page.select_option("#bulk-form select[name='thr.rule']", "disk_full")
        page.fill("#bulk-form input[name='thr.raise_above']", "95")
        page.click("#bulk-preview-button")
        page.wait_for_selector("#bulk-matched[data-matched='2']", timeout=WAIT_MS)
        check("bulk-preview")
        page.once("dialog", lambda d: d.accept())
        page.click("#bulk-apply")
        page.wait_for_selector("#bulk-matched:has-text('阈值已保存')", timeout=WAIT_MS)
        with site.engine.connect() as conn:
            stored = thresholds.load(conn)
        assert {sid for sid, rule in stored if rule == "disk_full"} == {"sz-t1", "sz-t2"}
        assert stored[("sz-t1", "fridge_warm")]["raise_above"] == 5.0  # kept

        assert found == {}, "\n".join(f"{view}: {left}" for view, left in found.items())
        assert errors == [], errors
    finally:
        context.close()
