"""The workers' feedback inbox in the Chinese ops dashboard, in real headless Chromium.

Story: workers' reports reached the cloud but ops had no screen for them, and the worker's
ticket page never heard back. Here an operator opens 工友反馈, finds a worker's report (with
a suggestion beside it), assigns it to a colleague, replies and resolves it; the station
page and the fleet table count the open feedback; the worker's ticket page then shows the
reply as text (markup stays characters) and the state 已解决, without the assignee's name.
The inbox is checked for visible English as the other ops views are.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import Engine

from cloud.auth import Role, create_user, passwords
from cloud.db import init_db, make_engine
from cloud.main import create_app
from cloud.settings import Settings
from cloud.stations.registry import import_csv
from firmware_sim.cities import make_records, write_registry_csv
from tests.e2e.test_e2e_ops_chinese import untranslated
from tests.support.ops_browser import log_in, page_errors

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
WAIT_MS = 15_000
REPLY = "已安排维修，<b>明天</b>上午修好。"


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


def _send(url: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST JSON as the finder does; the answer's body (a 201)."""
    request = urllib.request.Request(  # noqa: S310 (loopback)
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        assert answer.status == 201
        return dict(json.loads(answer.read()))


@dataclass
class Site:
    base: str
    engine: Engine
    sids: list[str]
    ticket: str  # the worker's report's
    report_id: int


@pytest.fixture
def site(serve: Any, tmp_path: Path) -> Iterator[Site]:
    """Two stations in Shenzhen, two operators; a worker's report on the first and a
    suggestion near it, sent through the public API as the finder sends them."""
    url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(url)
    init_db(engine)
    records = make_records(2, seed=7, city="shenzhen")
    import_csv(engine, write_registry_csv(records, tmp_path / "registry.csv"))
    create_user(engine, "op", Role.OPERATOR, PASSWORD)
    create_user(engine, "wang", Role.OPERATOR, PASSWORD)
    app = create_app(Settings(db=url, cookie_secure=False, index_refresh_s=0, live_state_ttl_s=0))
    base = serve(app)
    first = records[0]
    report = _send(
        f"{base}/api/v1/reports",
        {"station_id": first.id, "kind": "broken", "text": "充电口坏了\n插不进去"},
    )
    _send(
        f"{base}/api/v1/suggestions",
        {"lat": first.lat + 0.01, "lon": first.lon, "name": "科技园北门"},
    )
    try:
        yield Site(base, engine, [r.id for r in records], report["ticket"], report["id"])
    finally:
        engine.dispose()


def test_assign_reply_resolve_in_chinese_and_the_worker_reads_the_reply(
    browser: Any, site: Site, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="en-US")
    try:
        page = context.new_page()
        errors = page_errors(page)
        log_in(page, site.base, "op", PASSWORD, live=False)

        # The fleet table counts the station's open feedback.
        page.click("nav a[href='#fleet']")
        cell = page.locator(f"#fleet-rows tr[data-sid={site.sids[0]}] td.c-feedback")
        cell.wait_for(timeout=WAIT_MS)
        assert cell.inner_text() == "1"
        assert (
            page.locator(f"#fleet-rows tr[data-sid={site.sids[1]}] td.c-feedback").inner_text()
            == "0"
        )

        page.click("nav a[href='#feedback']")
        report_row = page.locator(
            f"#feedback-rows tr[data-kind=report][data-item='{site.report_id}']"
        )
        report_row.wait_for(timeout=WAIT_MS)
        page.wait_for_selector("#feedback-rows tr[data-kind=suggestion]", timeout=WAIT_MS)
        text = report_row.inner_text()
        assert "设施坏了" in text, text
        assert "充电口坏了" in text, text
        assert "已收到" in text, text
        suggestion = page.locator("#feedback-rows tr[data-kind=suggestion]").inner_text()
        assert "建议设站" in suggestion, suggestion
        assert "科技园北门" in suggestion, suggestion
        assert untranslated(page) == []
        page.screenshot(path=str(tmp_path / "zh-feedback.png"), full_page=True)

        # Open it, assign it to a colleague, reply, resolve.
        report_row.locator("th a").click()
        page.wait_for_selector("#fb-detail-title", timeout=WAIT_MS)
        page.wait_for_selector("#fb-assignee option[value=wang]", state="attached", timeout=WAIT_MS)
        assert "充电口坏了\n插不进去" in page.locator("#feedback-detail").inner_text()
        assert untranslated(page) == []
        page.select_option("#fb-assignee", "wang")
        page.click("#fb-assign-form button[type=submit]")
        page.wait_for_selector("#fb-state[data-state=under_review]", timeout=WAIT_MS)
        assert "wang" in page.locator("#fb-state").inner_text()
        page.fill("#fb-reply", REPLY)
        page.click("#fb-reply-form button[type=submit]")
        page.locator("#fb-result", has_text="回复已发送").wait_for(timeout=WAIT_MS)
        assert page.locator("#fb-reply-now").inner_text() == REPLY  # as text, not markup
        page.click("#feedback-detail button[data-outcome=resolved]")
        page.wait_for_selector("#fb-state[data-state=resolved]", timeout=WAIT_MS)
        assert page.locator("#fb-state").inner_text() == "已解决"
        page.screenshot(path=str(tmp_path / "zh-feedback-resolved.png"), full_page=True)

        # The station page: no open feedback left.
        page.goto(f"{site.base}/ops#station/{site.sids[0]}")
        page.locator("#station-feedback", has_text="没有未处理的工友反馈").wait_for(timeout=WAIT_MS)
        assert untranslated(page) == []
        assert errors == [], errors

        # The worker's ticket page (the finder, in Chinese) shows the reply and the state.
        worker = context.new_page()
        worker.goto(f"{site.base}/?lang=zh#/ticket/{site.ticket}")
        worker.wait_for_selector("#tv-steps li.current", timeout=WAIT_MS)
        assert worker.locator("#tv-steps li.current").inner_text() == "已解决"
        assert worker.locator("#tv-reply").inner_text() == f"运营回复：{REPLY}"
        assert worker.locator("#tv-reply b").count() == 0  # the markup stayed text
        assert "wang" not in worker.locator("#ticket-view").inner_text()
    finally:
        context.close()
