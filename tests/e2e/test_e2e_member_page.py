"""The member page in real headless Chromium: enrol with WebCrypto, show a code that a station
accepts, keep signing with no network, reopen offline, and never expose the private key.

The server is the real cloud app under uvicorn on a loopback port; the QR is read back from a
screenshot with the door's own decoder (pyzbar) and judged by `protocol.credential.verify`,
as a station would.
"""

from __future__ import annotations

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
from edge.camera.qr import decode
from protocol.credential import Reason, ReplayCache, verify
from protocol.trust import TrustList

pytestmark = pytest.mark.integration
CODE_TIMEOUT_MS = 15_000


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


def _shown(page: Any) -> tuple[str, int]:
    page.wait_for_function(
        "document.getElementById('code-text').value.startsWith('WS1:')", timeout=CODE_TIMEOUT_MS
    )
    out = page.locator("#code-text")
    return out.evaluate("e => e.value"), int(out.get_attribute("data-t"))


def _next_code(page: Any, after_t: int) -> tuple[str, int]:
    page.wait_for_function(
        f"Number(document.getElementById('code-text').dataset.t) > {after_t}",
        timeout=CODE_TIMEOUT_MS,
    )
    return _shown(page)


def test_member_page_enrols_and_shows_codes_a_station_accepts_even_offline(
    browser: Any, serve: Any, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'cloud.db'}"
    vault, code, trust = _issuer(db_url)
    app = create_app(Settings(db=db_url))
    app.state.credentials = CredentialContext(CredentialSettings(admin_token=None), vault)
    base = serve(app)

    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    try:
        page = context.new_page()
        page.goto(f"{base}/member/?member=m-e2e&code={code}")
        page.wait_for_selector("#enrol-form", state="visible")
        assert "code=" not in page.url  # the one-time code is wiped from the address bar
        page.click("button[type=submit]")
        text, t = _shown(page)

        # A station accepts the code once; the same code again is a replay.
        replay = ReplayCache(horizon_s=120)
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


def test_member_page_refuses_a_wrong_code_and_shows_why(
    browser: Any, serve: Any, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'cloud.db'}"
    vault, _code, _trust = _issuer(db_url)
    app = create_app(Settings(db=db_url))
    app.state.credentials = CredentialContext(CredentialSettings(admin_token=None), vault)
    base = serve(app)
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{base}/member/?member=m-e2e&code=WRONGCODE2")
        page.click("button[type=submit]")
        page.wait_for_function("document.getElementById('enrol-error').textContent.length > 0")
        assert "enrolment code" in page.locator("#enrol-error").inner_text()
        assert page.locator("#card").is_hidden()
    finally:
        context.close()
