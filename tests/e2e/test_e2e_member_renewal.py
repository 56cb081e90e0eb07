"""The member page keeps a phone working by itself, in real headless Chromium: a certificate
near expiry renews as soon as the phone is back online (after warning, offline, that it is
about to expire), and a phone whose clock is minutes off still opens the door after one
online contact. Codes are judged by the station's own decision (`edge.access.decide`).

Time is moved for the whole world at once: the cloud's clock (`create_app(clock=…)`), the
page's (Playwright's `page.clock`) and the station's (`SimClock`).

Story: certificates died after 28 days with nothing to renew them, and a phone whose clock
was 35 s off was denied at every door.
"""

from __future__ import annotations

import re
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials import members as M  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import Passphrase
from cloud.credentials.models import CertificateRow
from cloud.db import init_db, make_engine, session
from cloud.main import create_app
from cloud.settings import Settings
from edge.access.decide import AccessDecider, DoorAction, Verdict
from edge.access.schedule import DoorMode, DoorSchedule
from edge.access.timeguard import TimeGuard
from edge.access.verify import AccessVerifier
from firmware_sim.clock import SimClock
from protocol.credential import Reason, VerifyPolicy
from protocol.trust import RevocationList, TrustList
from tests.support.wait import wait_for

pytestmark = pytest.mark.integration
WAIT_MS = 10_000  # a page step (enrol, reload, renew) takes well under a second
DAYS_LATER = timedelta(days=25)  # a 28-day certificate then has 3 days left


@dataclass
class WorldClock:
    """The cloud's clock: the real time moved by `shift`."""

    shift: timedelta = field(default_factory=timedelta)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _cloud(tmp_path: Path, serve: Any, clock: WorldClock) -> tuple[str, str, str]:
    """A live cloud with an issuer and member `m-e2e`: (base URL, enrolment code, db URL)."""
    db_url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(db_url)
    init_db(engine)
    vault = I.KeyVault(Passphrase("e2e renewal passphrase"))
    now = datetime.now(UTC)
    with session(engine) as s:
        I.create_issuer(s, vault, kid="e2e-1", now=now)
        M.upsert_member(s, member_id="m-e2e", branch="sz-bao-an")
        s.flush()
        code = M.new_enrol_code(s, member_id="m-e2e", now=now)
    engine.dispose()
    app = create_app(Settings(db=db_url), clock=clock)
    app.state.credentials = CredentialContext(CredentialSettings(), vault)
    return serve(app), code, db_url


def _door(base: str, text: str, shift: timedelta = timedelta(0)) -> Verdict:
    """What a station holding the cloud's current lists decides, its clock `shift` ahead."""
    with urllib.request.urlopen(f"{base}/api/v1/trust/keys") as res:  # noqa: S310
        trust = TrustList.model_validate_json(res.read())
    with urllib.request.urlopen(f"{base}/api/v1/trust/revocations") as res:  # noqa: S310
        revocations = RevocationList.model_validate_json(res.read())
    clock = SimClock(datetime.now(UTC) + shift, running=True)
    verifier = AccessVerifier(
        anchor=None, policy=VerifyPolicy(window_s=30), trust=trust, revocations=revocations
    )
    decider = AccessDecider(
        verifier=verifier,
        time_guard=TimeGuard(clock, None, probe=lambda: True),
        schedule=DoorSchedule(free=None, members="24/7", timezone="UTC"),
        max_entries=100,
    )
    return decider.decide(text, DoorMode.MEMBERS)


def _enrolled_page(browser: Any, base: str, code: str, locale: str) -> tuple[Any, Any]:
    context = browser.new_context(locale=locale, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.clock.install()  # runs from the real time; set_system_time moves the phone's clock
    page.goto(f"{base}/member/#member=m-e2e&code={code}")
    page.click("button[type=submit]")
    _shown(page)
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")  # reopens offline
    return context, page


def _shown(page: Any) -> tuple[str, int, str]:
    """The code on screen, its signing time and the certificate serial behind it."""
    out = page.locator("#code-text")
    expect(out).to_have_attribute("data-t", re.compile(r"^\d+$"), timeout=WAIT_MS)
    return (
        out.evaluate("e => e.value"),
        int(out.get_attribute("data-t")),
        out.get_attribute("data-serial"),
    )


def test_a_certificate_three_days_from_expiry_renews_when_the_phone_is_back_online(
    browser: Any, serve: Any, tmp_path: Path
) -> None:
    clock = WorldClock()
    base, code, db_url = _cloud(tmp_path, serve, clock)
    context, page = _enrolled_page(browser, base, code, "zh-CN")
    try:
        _, _, first_serial = _shown(page)
        expect(page.locator("#notice")).to_be_hidden()
        # Installable: Chromium finds nothing missing (manifest, icons, service worker) but
        # that a test context is incognito, where nothing installs.
        cdp = context.new_cdp_session(page)
        assert cdp.send("Page.getAppManifest")["errors"] == []
        errors = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
        assert [e["errorId"] for e in errors] == ["in-incognito"]
        cdp.detach()  # a second session left attached keeps the page offline after set_offline

        # 25 days on, the phone offline all along: the page says, in Chinese, what to do.
        context.set_offline(True)
        clock.shift = DAYS_LATER
        page.clock.set_system_time(datetime.now(UTC) + DAYS_LATER)
        page.reload()
        notice = page.locator("#notice")
        expect(notice).to_contain_text("3 天后", timeout=WAIT_MS)
        expect(notice).to_contain_text("请连接网络")
        assert _shown(page)[2] == first_serial

        # Back online: the wallet renews by itself, and the new certificate opens the door.
        context.set_offline(False)
        out = page.locator("#code-text")
        expect(out).not_to_have_attribute("data-serial", first_serial, timeout=WAIT_MS)
        expect(notice).to_contain_text("已自动续期")
        text, _, serial = _shown(page)
        verdict = _door(base, text, DAYS_LATER)
        assert verdict.decision.reason is Reason.GRANTED, verdict.decision
        assert verdict.decision.serial == serial
        assert verdict.action is DoorAction.PULSE
        until = (datetime.now(UTC) + DAYS_LATER).date() + timedelta(days=28)
        expect(page.locator("#valid-until")).to_have_text(until.isoformat())
        engine = make_engine(db_url)
        with session(engine) as s:
            row = s.get(CertificateRow, serial)
            assert row is not None
            assert row.renewed_from == first_serial
        engine.dispose()
    finally:
        context.close()


def test_a_phone_clock_ten_minutes_slow_opens_the_door_after_one_online_contact(
    browser: Any, serve: Any, tmp_path: Path
) -> None:
    base, code, _ = _cloud(tmp_path, serve, WorldClock())
    context, page = _enrolled_page(browser, base, code, "en-US")
    try:
        expect(page.locator("h1")).to_have_text("My member code")  # the browser's language
        page.click("#lang-switch")
        expect(page.locator("h1")).to_have_text("我的会员码")

        # The phone's clock goes 10 minutes slow while it is offline: its codes are stale.
        context.set_offline(True)
        page.clock.set_system_time(datetime.now(UTC) - timedelta(minutes=10))
        page.reload()
        slow, _, _ = _shown(page)
        assert _door(base, slow).decision.reason is Reason.STALE_PRESENTATION

        # One online contact: the page learns the server's time and draws corrected codes.
        context.set_offline(False)

        def on_time() -> str | None:
            text, t, _ = _shown(page)
            return text if abs(t - time.time()) <= 30 else None

        text = wait_for(on_time, WAIT_MS / 1000, "a code signed on the server's time", 0.1)
        assert _door(base, text).decision.reason is Reason.GRANTED

        # The correction is kept with the wallet: offline and reopened, still on time.
        context.set_offline(True)
        page.reload()
        again, _, _ = _shown(page)
        assert _door(base, again).decision.reason is Reason.GRANTED
    finally:
        context.close()
