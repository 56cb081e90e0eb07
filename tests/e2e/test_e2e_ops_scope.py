"""Scoped ops accounts in the real dashboard (headless Chromium, uvicorn, SQLite): an account
limited to one partner sees its scope in the header (Chinese first), only that partner's
stations on the map and in the fleet table, and none of the other partner's alarms; a union
account sees the same dashboard as before, with every station. Screenshots go to tmp_path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import uuid4

import pytest
from argon2 import PasswordHasher, profiles
from sqlmodel import Session

from cloud.api.ops_live import LiveConfig, LiveHub
from cloud.auth import Role, passwords
from cloud.auth.scope import make_scope
from cloud.auth.users import add_user
from cloud.clock import utcnow
from cloud.db import init_db, make_engine
from cloud.ingest.ingestor import Ingestor
from cloud.main import create_app
from cloud.settings import Settings
from cloud.stations.registry import upsert
from firmware_sim.cities import make_records
from protocol import topics
from protocol.messages import AlarmEvent, StatePayload
from tests.support.ops_browser import log_in

pytestmark = pytest.mark.integration
PASSWORD = "correct horse battery"
WAIT_MS = 15_000
A, B = "甲银行", "乙邮政"


@pytest.fixture(autouse=True)
def _cheap_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher.from_parameters(profiles.CHEAPEST))


def _login(page: Any, base: str, username: str) -> None:
    log_in(page, base, username, PASSWORD)


def test_a_partner_account_sees_its_scope_and_only_its_stations(
    browser: Any, serve: Any, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'scope.db'}"
    engine = make_engine(url)
    init_db(engine)
    records = [
        r.model_copy(update={"operator": A if i < 2 else B})
        for i, r in enumerate(make_records(3, seed=5, city="shenzhen"))
    ]
    upsert(engine, records)
    with Session(engine) as s:
        add_user(s, "partner", Role.VIEWER, PASSWORD, now=utcnow(), scope=make_scope([A]))
        add_user(s, "union", Role.VIEWER, PASSWORD, now=utcnow())
        s.commit()
    ing = Ingestor(engine)
    now = utcnow()
    for r in records:
        state = StatePayload(sid=r.id, status="online", sess=1, ts=now)
        ing.handle(topics.state(r.id), state.to_bytes())
    other = records[2].id
    alarm = AlarmEvent(
        sid=other, event_id=uuid4(), seq=1, alarm="camera_down", state="raised", ts=now
    )
    ing.handle(topics.events(other), alarm.to_bytes())
    ing.flush()
    app = create_app(Settings(db=url, cookie_secure=False))
    app.state.ops_live = LiveHub(app.state.ctx.engine, LiveConfig(interval_s=0.3))
    base = serve(app)
    mine = sorted(r.id for r in records[:2])
    try:
        for who, scope_text, expected in (
            ("partner", f"范围：运营方 {A}", mine),
            ("union", "全部站点", sorted(r.id for r in records)),
        ):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
            _login(page, base, who)
            scope = page.locator("#scope")
            assert scope.inner_text().startswith(scope_text)
            page.wait_for_selector("#map-canvas[data-ready=true]", timeout=WAIT_MS)
            on_map = page.evaluate("[...window.waystationOps.map.markers.keys()].sort()")
            assert on_map == expected
            page.screenshot(path=str(tmp_path / f"ops-scope-{who}.png"))
            page.click("nav a[href='#fleet']")
            page.wait_for_selector("#fleet-rows tr[data-sid]", timeout=WAIT_MS)
            rows = page.locator("#fleet-rows tr[data-sid]")
            assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.sid)")) == expected
            with page.expect_response(lambda r: "/api/v1/ops/alarms" in r.url) as loaded:
                page.click("nav a[href='#alarms']")
            listed = {a["station_id"] for a in loaded.value.json()["items"]}
            alarms = page.locator("#alarm-rows tr[data-rule=camera_down]")
            if who == "union":
                assert listed == {other}
                alarms.first.wait_for(timeout=WAIT_MS)
            else:
                assert listed == set()  # the inbox loaded without the other partner's alarm
                page.wait_for_selector("#alarm-empty:not([hidden])", timeout=WAIT_MS)
                assert alarms.count() == 0
            assert errors == [], errors
            context.close()
    finally:
        engine.dispose()


def test_an_admin_sets_a_scope_in_the_dashboard(browser: Any, serve: Any, tmp_path: Path) -> None:
    """The accounts view (admins only) lists every account with its scope and sets one; the
    account sees the new scope at its next request. Other roles get no such view."""
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    engine = make_engine(url)
    init_db(engine)
    upsert(engine, make_records(2, seed=5, city="shenzhen"))
    with Session(engine) as s:
        add_user(s, "root", Role.ADMIN, PASSWORD, now=utcnow())
        add_user(s, "partner", Role.OPERATOR, PASSWORD, now=utcnow())
        s.commit()
    app = create_app(Settings(db=url, cookie_secure=False))
    app.state.ops_live = LiveHub(app.state.ctx.engine, LiveConfig(interval_s=0.3))
    base = serve(app)
    try:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        _login(page, base, "root")
        page.click("#nav-accounts")
        row = page.locator("#account-rows tr[data-user=partner]")
        row.wait_for(timeout=WAIT_MS)
        assert row.locator(".scope-cell").inner_text() == "全部站点"
        assert page.locator("#scope-user option").all_inner_texts() == ["partner"]  # no admins
        page.select_option("#scope-user", "partner")
        page.fill("#scope-operators", f"{A}、{B}")
        page.fill("#scope-cities", "滨州")
        page.click("#scope-form button[type=submit]")
        page.wait_for_selector("#scope-status:has-text('已保存')", timeout=WAIT_MS)
        row.locator(".scope-cell", has_text="城市 滨州").wait_for(timeout=WAIT_MS)
        assert (
            row.locator(".scope-cell")
            .inner_text()
            .startswith(f"范围：运营方 {'、'.join(sorted([A, B]))}，城市 滨州")
        )
        page.screenshot(path=str(tmp_path / "ops-accounts.png"), full_page=True)
        assert errors == [], errors
        context.close()

        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        _login(page, base, "partner")
        assert (
            page.locator("#scope")
            .inner_text()
            .startswith(f"范围：运营方 {'、'.join(sorted([A, B]))}")
        )
        assert page.locator("#nav-accounts").is_hidden()
        context.close()
    finally:
        engine.dispose()
