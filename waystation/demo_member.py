"""The demo's member journey: the cloud's real issuer, one member link, and a door to try it.

`waystation demo` sets up the cloud's issuer in its SQLite database (first run; later runs
reuse it) and builds the simulated union from that issuer's keys and signed lists, so every
simulated station's trust directory holds the cloud's anchor, trust list and revocation list.
A phone or desktop browser enrolled through the printed member link therefore shows codes the
stations grant with their real decision (`edge.access` via the agent's `scan_text`).

The door (`/demo/door`, demo only, never part of `cloud.main`) is a plain HTML form: paste
the code's text (the member page copies it), and the demo's door station decides it on the
fleet's scheduler thread, between its simulated visits. The access event then travels the
usual way: journal → MQTT → ingest → the ops dashboard and `/api/v1/ops/stations/{id}/events`.

The issuer's keys are sealed with a fixed, public passphrase: this is a local demo's issuer,
never a real one.
"""

from __future__ import annotations

import asyncio
import html
import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials import members as M  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import ANCHOR_KID, Passphrase
from cloud.credentials.models import IssuerKeyRow
from cloud.db import session
from firmware_sim.union import SimUnion
from protocol.credential import Decision
from protocol.trust import RevocationList, TrustList

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from firmware_sim.fleet import Fleet
    from protocol.registry import StationRecord

DEMO_PASSPHRASE = "waystation demo issuer, local only"  # noqa: S105 - public on purpose
DEMO_KID = "demo-1"
DEMO_MEMBER = "demo-member"
DOOR_PATH = "/demo/door"
Lang = Annotated[str, Query(pattern="^(zh|en)$")]  # the door page's language, zh by default
MAX_CODE_CHARS = 2000  # a WS1 code is a few hundred characters


def demo_issuer(engine: Engine, seed: int) -> tuple[CredentialContext, SimUnion]:
    """The cloud's issuer in the demo database (made on the first run) and the simulated union
    that signs with the same keys, so stations trust what the member page shows."""
    vault = I.KeyVault(Passphrase(DEMO_PASSPHRASE))
    now = datetime.now(UTC)
    with session(engine) as s:
        if s.get(IssuerKeyRow, ANCHOR_KID) is None:
            I.create_issuer(s, vault, kid=DEMO_KID, now=now)
            s.commit()
        anchor = vault.key(s.get(IssuerKeyRow, ANCHOR_KID))
        kid, issuer = I.signing_key(s, vault, now)
        trust_row, revoked_row = I.signed_list(s, I.TRUST), I.signed_list(s, I.REVOCATIONS)
        assert trust_row is not None  # both lists are made with the issuer
        assert revoked_row is not None
        trust = TrustList.accept(trust_row.body, anchor.public_key(), None)
        revocations = RevocationList.accept(revoked_row.body, anchor.public_key(), None)
    union = SimUnion(
        anchor, issuer, kid, trust, revocations, random.Random(f"waystation-union-{seed}")
    )
    # publish=None: the stations get the lists in their trust directories at start
    return CredentialContext(CredentialSettings(), vault, publish=None), union


def member_link(engine: Engine, base: str) -> str:
    """The member page with a fresh one-time enrolment code in the fragment (never sent to
    the server in a URL); a new code each run, the previous one stops working."""
    with session(engine) as s:
        M.upsert_member(s, member_id=DEMO_MEMBER, branch="demo")
        s.flush()
        code = M.new_enrol_code(s, member_id=DEMO_MEMBER, now=datetime.now(UTC))
        s.commit()
    return f"{base}/member/#member={quote(DEMO_MEMBER)}&code={quote(code)}"


_WORDS = {
    "zh": {
        "title": "演示门",
        "intro": "把会员码的文字粘贴到这里，然后点“刷码开门”。在会员页展开“这台手机”，"
        "点“复制会员码文字”即可复制。会员码半分钟内有效，同一个码只能用一次。",
        "station": "站点",
        "button": "刷码开门",
        "switch": "English",
        "granted": "已放行：门已打开。",
        "denied": "拒绝",
        "map": "这次刷码会出现在运维看板的站点事件里。",
        "empty": "请先粘贴会员码的文字（最多 2000 个字符）。",
    },
    "en": {
        "title": "Demo door",
        "intro": "Paste the member code's text here, then press “Scan and open”. On the member "
        "page, open “This phone” and press “Copy code as text”. A code is good for about half a "
        "minute, and only once.",
        "station": "Station",
        "button": "Scan and open",
        "switch": "中文",
        "granted": "Granted: the door opened.",
        "denied": "Denied",
        "map": "This scan appears in the station's events on the ops dashboard.",
        "empty": "Paste the member code's text first (at most 2000 characters).",
    },
}


def _page(station: StationRecord, lang: str, answer: str = "", answer_class: str = "") -> str:
    w = _WORDS[lang]
    other = "en" if lang == "zh" else "zh"
    name = html.escape(f"{station.name} ({station.id})")
    said = f'<p id="answer" class="{answer_class}">{html.escape(answer)}</p>' if answer else ""
    return f"""<!doctype html>
<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{w["title"]}</title></head>
<body><main>
<h1>{w["title"]}</h1>
<p><a id="lang-switch" href="{DOOR_PATH}?lang={other}">{w["switch"]}</a></p>
<p>{w["station"]}: <span id="station" data-id="{html.escape(station.id)}">{name}</span></p>
<p>{w["intro"]}</p>
<form method="post" action="{DOOR_PATH}?lang={lang}">
<textarea id="code" name="code" rows="6" cols="60" spellcheck="false" required></textarea>
<p><button type="submit">{w["button"]}</button></p>
</form>
{said}
<p>{w["map"]}</p>
</main></body></html>"""


def _answer(decision: Decision, lang: str) -> tuple[str, str]:
    w = _WORDS[lang]
    if decision.granted:
        return w["granted"], "granted"
    return f"{w['denied']}: {decision.reason.value}", "denied"


def door_router(fleet: Fleet, station: StationRecord) -> APIRouter:
    """`GET /demo/door`: the form; `POST /demo/door`: the station decides the pasted code
    (the fleet's station of that record, looked up when asked: they exist once started)."""
    router = APIRouter(include_in_schema=False)

    @router.get(DOOR_PATH, response_class=HTMLResponse)
    def door_form(lang: Lang = "zh") -> str:
        return _page(station, lang)

    @router.post(DOOR_PATH, response_class=HTMLResponse)
    async def door_scan(request: Request, lang: Lang = "zh") -> HTMLResponse:
        # the form's body by hand: one field, and no multipart parser installed for it
        body = (await request.body()).decode("utf-8", "replace")
        text = "".join(parse_qs(body).get("code", [])).strip()
        if not text or len(text) > MAX_CODE_CHARS:
            return HTMLResponse(_page(station, lang, _WORDS[lang]["empty"], "denied"), 422)
        (sim,) = [s for s in fleet.stations if s.sid == station.id]
        future = fleet.submit(lambda: sim.agent.scan_text(text))
        decision = await asyncio.wrap_future(future)
        assert isinstance(decision, Decision)
        answer, kind = _answer(decision, lang)
        return HTMLResponse(_page(station, lang, answer, kind))

    return router
