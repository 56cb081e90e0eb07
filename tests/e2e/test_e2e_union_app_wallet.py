"""A union's own app page embedding the wallet module, end to end in headless Chromium.

The union's backend (here: this test, signing like docs/integration.md) creates the member
and asks the server-to-server API for an enrolment code; the sample host page
(`/samples/wallet/`, which imports `/static/wallet/v1/wallet.js`) enrols the phone's own
WebCrypto key with it and shows a code; a station's own decision (`edge.access.decide`)
grants the code read back from the screen by the door's decoder.
"""

from __future__ import annotations

import json
import re
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from cloud.credentials import apiclients as A  # noqa: N812
from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import Passphrase
from cloud.db import init_db, make_engine, session
from cloud.main import create_app
from cloud.settings import Settings
from edge.access.decide import AccessDecider, DoorAction, Verdict
from edge.access.schedule import DoorMode, DoorSchedule
from edge.access.timeguard import TimeGuard
from edge.access.verify import AccessVerifier
from edge.camera.qr import decode
from firmware_sim.clock import SimClock
from protocol.credential import Flag, Reason, VerifyPolicy, compress_public
from protocol.trust import RevocationList, TrustList, b64u

pytestmark = pytest.mark.integration
WAIT_MS = 15_000


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def _backend(base: str, key: ec.EllipticCurvePrivateKey, method: str, target: str, payload: Any
             ) -> Any:  # fmt: skip
    """The union's backend calling the server-to-server API, signed, over real HTTP."""
    body = b"" if payload is None else json.dumps(payload).encode()
    headers = A.sign_request(
        key, client_id="union-app", method=method, target=target, body=body,
        timestamp=int(time.time()),
    )  # fmt: skip
    headers["Content-Type"] = "application/json"
    req = urllib.request.Request(base + target, data=body or None, headers=headers, method=method)  # noqa: S310
    with urllib.request.urlopen(req) as res:  # noqa: S310 - loopback test server
        return json.loads(res.read())


def _door(base: str, text: str, mode: DoorMode = DoorMode.MEMBERS) -> Verdict:
    """What a station holding the cloud's current lists decides now."""
    with urllib.request.urlopen(f"{base}/api/v1/trust/keys") as res:  # noqa: S310
        trust = TrustList.model_validate_json(res.read())
    with urllib.request.urlopen(f"{base}/api/v1/trust/revocations") as res:  # noqa: S310
        revocations = RevocationList.model_validate_json(res.read())
    verifier = AccessVerifier(
        anchor=None, policy=VerifyPolicy(window_s=30), trust=trust, revocations=revocations
    )
    decider = AccessDecider(
        verifier=verifier,
        time_guard=TimeGuard(SimClock(datetime.now(UTC), running=True), None, probe=lambda: True),
        schedule=DoorSchedule(free=None, members="24/7", timezone="UTC"),
        max_entries=100,
    )
    return decider.decide(text, mode)


def test_a_union_app_page_enrols_with_a_server_issued_code_and_opens_the_door(
    browser: Any, serve: Any, tmp_path: Path
) -> None:
    db_url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(db_url)
    init_db(engine)
    vault = I.KeyVault(Passphrase("union app e2e passphrase"))
    key = ec.generate_private_key(ec.SECP256R1())
    with session(engine) as s:
        I.create_issuer(s, vault, kid="u-1", now=datetime.now(UTC))
        A.add_client(
            s, client_id="union-app", scopes="members,enroll,status", now=datetime.now(UTC),
            public_key=b64u(compress_public(key.public_key())).encode(),
        )  # fmt: skip
    engine.dispose()
    app = create_app(Settings(db=db_url))
    app.state.credentials = CredentialContext(CredentialSettings(), vault)
    base = serve(app)

    member = _backend(base, key, "PUT", "/api/v1/app/members/jn-30021", {"staff": True})
    assert member["staff"] is True
    issued = _backend(base, key, "POST", "/api/v1/app/members/jn-30021/enrol-code", None)

    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base}/samples/wallet/#member=jn-30021&code={issued['code']}")
        out = page.locator("#code")
        expect(out).to_have_attribute("data-t", re.compile(r"^\d+$"), timeout=WAIT_MS)
        assert page.url == f"{base}/samples/wallet/"  # the one-time code left the address bar
        expect(page.locator("#events")).to_contain_text("已注册")
        expect(page.locator("#state")).to_contain_text("jn-30021")
        text = out.evaluate("e => e.value")
        assert text.startswith("WS1:")

        verdict = _door(base, text)
        assert verdict.decision.reason is Reason.GRANTED, verdict.decision
        assert verdict.decision.serial == out.get_attribute("data-serial")
        assert verdict.decision.flags & Flag.STAFF  # the flag the backend set
        assert verdict.action is DoorAction.PULSE

        # What the door camera sees: the canvas, read by the door's decoder.
        expect(out).not_to_have_attribute("data-t", str(int(out.get_attribute("data-t"))),
                                          timeout=WAIT_MS)  # fmt: skip
        png = page.locator("#qr").screenshot()
        seen = decode(cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE))
        assert seen
        assert _door(base, seen[0]).decision.reason is Reason.GRANTED

        # The backend sees the device; a reload keeps the wallet (IndexedDB), no new enrolment.
        status = _backend(base, key, "GET", "/api/v1/app/members/jn-30021", None)
        assert [d["serial"] for d in status["devices"]] == [out.get_attribute("data-serial")]
        page.reload()
        expect(out).to_have_attribute("data-t", re.compile(r"^\d+$"), timeout=WAIT_MS)
        assert out.get_attribute("data-serial") == status["devices"][0]["serial"]
        assert errors == []
        page.screenshot(path=str(tmp_path / "union-app-sample.png"), full_page=True)
    finally:
        context.close()


def _union_host_page() -> Any:
    """The union's own H5 page on its own origin; it imports the module from the service
    named in its query (`?cloud=…`), as a union page would from its configuration."""
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    html = """<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>工会App</title>
<canvas id="qr" width="300" height="300"></canvas><output id="code"></output><p id="state"></p>
<script type="module">
const cloud = new URLSearchParams(location.search).get("cloud");
const link = new URLSearchParams(location.hash.slice(1));
history.replaceState(null, "", location.pathname);
try {
  const { createWallet, drawCode, memoryStorage } =
    await import(cloud + "/static/wallet/v1/wallet.js");
  const wallet = await createWallet({ base: cloud, storage: memoryStorage() });
  await wallet.enroll(link.get("code"), link.get("member"));
  const code = await wallet.currentCode();
  drawCode(document.getElementById("qr"), code.text);
  const out = document.getElementById("code");
  out.value = code.text;
  out.dataset.serial = code.serial;
  out.dataset.t = String(code.t);
} catch (err) {
  document.getElementById("state").textContent = "failed: " + (err.detail || err.message);
}
</script></html>"""
    host = FastAPI()

    @host.get("/")
    def page() -> HTMLResponse:
        return HTMLResponse(html)

    return host


def test_a_union_page_on_its_own_origin_embeds_the_wallet_when_listed(
    browser: Any, serve: Any, tmp_path: Path
) -> None:
    """Story: a union's H5 page lives on the union's domain; the module and the wallet's
    routes answered only their own origin, so embedding needed a reverse proxy."""
    db_url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(db_url)
    init_db(engine)
    vault = I.KeyVault(Passphrase("union app e2e passphrase"))
    key = ec.generate_private_key(ec.SECP256R1())
    with session(engine) as s:
        I.create_issuer(s, vault, kid="u-1", now=datetime.now(UTC))
        A.add_client(
            s, client_id="union-app", scopes="members,enroll", now=datetime.now(UTC),
            public_key=b64u(compress_public(key.public_key())).encode(),
        )  # fmt: skip
    engine.dispose()
    union = serve(_union_host_page())
    clouds = {}
    for name, origins in (("closed", ""), ("listed", union)):
        app = create_app(Settings(db=db_url, wallet_origins=origins))
        app.state.credentials = CredentialContext(CredentialSettings(), vault)
        clouds[name] = serve(app)
    cloud = clouds["listed"]
    _backend(cloud, key, "PUT", "/api/v1/app/members/jn-7", {})
    context = browser.new_context(locale="zh-CN")
    try:
        page = context.new_page()
        # Not listed: the browser refuses the module (no CORS answer); nothing enrols.
        code = _backend(cloud, key, "POST", "/api/v1/app/members/jn-7/enrol-code", None)["code"]
        page.goto(f"{union}/?cloud={clouds['closed']}#member=jn-7&code={code}")
        expect(page.locator("#state")).to_contain_text("failed", timeout=WAIT_MS)
        status = _backend(cloud, key, "PUT", "/api/v1/app/members/jn-7", {})
        assert status["member_id"] == "jn-7"

        # Listed: the page on the union's origin enrols and shows a code the door grants.
        page.goto(f"{union}/?cloud={cloud}#member=jn-7&code={code}")
        out = page.locator("#code")
        expect(out).to_have_attribute("data-t", re.compile(r"^\d+$"), timeout=WAIT_MS)
        verdict = _door(cloud, out.evaluate("e => e.value"))
        assert verdict.decision.reason is Reason.GRANTED, verdict.decision
        assert verdict.decision.serial == out.get_attribute("data-serial")
    finally:
        context.close()
