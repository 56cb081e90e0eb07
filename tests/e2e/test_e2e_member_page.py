"""The member page in real headless Chromium: enrol with WebCrypto, show a code that a station
accepts, keep signing with no network, reopen offline, and never expose the private key.

The server is the real cloud app under uvicorn on a loopback port; the QR is read back from a
screenshot with the door's own decoder (pyzbar) and judged by `protocol.credential.verify`,
as a station would. Every request the server receives is recorded, to check that the one-time
enrolment code never travels in a URL (it belongs in the link's fragment).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials import members as M  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import Passphrase
from cloud.db import init_db, make_engine, session
from cloud.main import create_app
from cloud.settings import Settings
from edge.access.replay import ReplayCache
from edge.camera.qr import decode
from protocol.credential import Reason, verify
from protocol.trust import TrustList

pytestmark = pytest.mark.integration
CODE_TIMEOUT_MS = 15_000
Asgi = Callable[[Any, Any, Any], Awaitable[None]]


def _recording(app: Any) -> tuple[Asgi, list[str]]:
    """The app behind a spy that keeps every HTTP request's target (path?query) as received."""
    targets: list[str] = []

    async def spy(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            targets.append(f"{scope['path']}?{scope['query_string'].decode('latin-1')}")
        await app(scope, receive, send)

    return spy, targets


def _issuer(db_url: str) -> tuple[Any, str, TrustList]:
    """An issuer in a fresh database, one member and their enrolment code."""
    engine = make_engine(db_url)
    init_db(engine)
    vault = I.KeyVault(Passphrase("e2e test passphrase"))
    now = datetime.now(UTC)
    with session(engine) as s:
        trust = I.create_issuer(s, vault, kid="e2e-1", now=now)
        M.upsert_member(s, member_id="m-e2e", branch="sz-bao-an")
        s.flush()
        code = M.new_enrol_code(s, member_id="m-e2e", now=now)
    engine.dispose()
    return vault, code, trust


def _station_says(text: str, trust: TrustList, replay: ReplayCache | None = None) -> Reason:
    return verify(
        text, issuers=trust.issuers(), revoked=frozenset(), now=datetime.now(UTC), replay=replay
    ).reason


# Waits use locator assertions, not `wait_for_function`: the page's CSP (script-src 'self')
# forbids the string evaluation that polling a JavaScript predicate needs.


def expect(locator: Any) -> Any:
    """playwright's `expect`, imported late: without playwright the `browser` fixture already
    skipped (or, in CI, failed) the test."""
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _shown(page: Any) -> tuple[str, int]:
    """The code on screen and its signing time (`data-t` is set right after the value)."""
    out = page.locator("#code-text")
    expect(out).to_have_attribute("data-t", re.compile(r"^\d+$"), timeout=CODE_TIMEOUT_MS)
    text = out.evaluate("e => e.value")
    assert text.startswith("WS1:"), text
    return text, int(out.get_attribute("data-t"))


def _next_code(page: Any, after_t: int) -> tuple[str, int]:
    out = page.locator("#code-text")
    expect(out).not_to_have_attribute("data-t", str(after_t), timeout=CODE_TIMEOUT_MS)
    return _shown(page)


def test_member_page_enrols_and_shows_codes_a_station_accepts_even_offline(
    browser: Any, serve: Any, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'cloud.db'}"
    vault, code, trust = _issuer(db_url)
    app = create_app(Settings(db=db_url))
    app.state.credentials = CredentialContext(CredentialSettings(), vault)
    spy, targets = _recording(app)
    base = serve(spy)

    context = browser.new_context(
        locale="zh-CN", viewport={"width": 390, "height": 844}, device_scale_factor=2
    )
    try:
        page = context.new_page()
        page.goto(f"{base}/member/#member=m-e2e&code={code}")
        page.wait_for_selector("#enrol-form", state="visible")
        assert page.url == f"{base}/member/"  # the one-time code is wiped from the address bar
        assert page.input_value("#member") == "m-e2e"
        assert page.input_value("#code") == code
        page.click("button[type=submit]")
        text, t = _shown(page)
        # The code went in the enrolment POST's body only, never in a request line.
        assert "/api/v1/members/enroll?" in targets
        assert not [target for target in targets if code in target], targets

        # A station accepts the code once; the same code again is a replay.
        replay = ReplayCache(monotonic=time.monotonic, floor=time.time)
        assert _station_says(text, trust, replay) is Reason.GRANTED
        assert _station_says(text, trust, replay) is Reason.REPLAYED
        assert abs(t - datetime.now(UTC).timestamp()) < 30

        # What the camera sees: the canvas as pixels, decoded by the door's decoder.
        png = page.locator("#qr").screenshot()
        frame = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
        seen = decode(frame)
        assert seen
        assert seen[0].startswith("WS1:")
        assert _station_says(seen[0], trust) is Reason.GRANTED

        # The private key is non-extractable: the page itself cannot export it.
        exported = page.evaluate(
            """async () => {
                const db = await new Promise(r => { const q = indexedDB.open('waystation-member');
                                                    q.onsuccess = () => r(q.result); });
                const w = await new Promise(r => { const q = db.transaction('wallet')
                    .objectStore('wallet').get('device'); q.onsuccess = () => r(q.result); });
                try { await crypto.subtle.exportKey('pkcs8', w.keys.privateKey); }
                catch (e) { return e.name + ' extractable=' + w.keys.privateKey.extractable; }
                return 'exported';
            }"""
        )
        assert exported == "InvalidAccessError extractable=false"

        # No network: the page keeps signing fresh codes by itself.
        page.evaluate("navigator.serviceWorker.ready.then(() => true)")
        context.set_offline(True)
        offline_text, _offline_t = _next_code(page, t)
        assert offline_text != text
        assert _station_says(offline_text, trust) is Reason.GRANTED

        # Reopened with no network (service worker cache + IndexedDB): still a valid code.
        page.reload()
        reopened, _ = _shown(page)
        assert _station_says(reopened, trust) is Reason.GRANTED
        page.screenshot(path=str(tmp_path / "member-page.png"), full_page=True)
    finally:
        context.close()


def test_an_old_query_link_is_moved_into_the_fragment_and_a_wrong_code_is_refused(
    browser: Any, serve: Any, tmp_path: Path
) -> None:
    """Story: member links carried the one-time code in the query string, so it reached the
    server and its access log, and stayed in the browser's history. An old link now reaches
    the server once and is redirected to the fragment form; the page wipes the address bar."""
    db_url = f"sqlite:///{tmp_path / 'cloud.db'}"
    vault, _code, _trust = _issuer(db_url)
    app = create_app(Settings(db=db_url))
    app.state.credentials = CredentialContext(CredentialSettings(), vault)
    spy, targets = _recording(app)
    base = serve(spy)
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        old_link = f"{base}/member/?member=m-e2e&code=WRONGCODE2"
        response = page.goto(old_link)
        assert response.request.redirected_from is not None  # the server moved it ...
        assert response.request.redirected_from.url == old_link
        assert response.url == f"{base}/member/"  # ... to a request without the code
        page.wait_for_selector("#enrol-form", state="visible")
        assert page.url == f"{base}/member/"
        assert page.input_value("#code") == "WRONGCODE2"  # carried over by the fragment
        # Entirely in Chinese: no Latin letters on the page but the switch to English.
        assert page.title() == "我的会员码"
        shown = page.locator("main").inner_text().replace("English", "")
        assert not re.search(r"[A-Za-z]", shown), shown
        page.click("button[type=submit]")
        expect(page.locator("#enrol-error")).not_to_be_empty(timeout=CODE_TIMEOUT_MS)
        error = page.locator("#enrol-error").inner_text()
        assert error.startswith("会员号或注册码不对")  # the page's words first ...
        assert "enrolment code" in error  # ... then the server's own reason
        assert page.locator("#card").is_hidden()
        # Only the old link's own request carried the code; the redirect target did not.
        assert [t for t in targets if "WRONGCODE2" in t] == [
            "/member/?member=m-e2e&code=WRONGCODE2"
        ]
    finally:
        context.close()
