"""The test vectors in docs/credential.md: current, and every case decided as documented."""

from __future__ import annotations

import importlib.util
import json
import re
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from edge.access.replay import ReplayCache
from protocol.credential import (
    Flag,
    VerifyPolicy,
    load_public,
    parse_certificate,
    verify,
)
from protocol.trust import RevocationList, TrustList, unb64u

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "credential.md"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "credential_vectors", ROOT / "scripts" / "credential_vectors.py"
    )
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _documented() -> dict[str, Any]:
    match = re.search(
        r"<!-- vectors:begin -->\n```json\n(.*?)\n```\n<!-- vectors:end -->",
        DOC.read_text(encoding="utf-8"),
        re.S,
    )
    assert match, "docs/credential.md has no vectors block"
    return json.loads(match.group(1))


def test_documented_vectors_are_what_the_script_makes() -> None:
    """Deterministic signatures: regenerating gives the very same bytes as the docs."""
    assert _script().vectors() == _documented()


def test_documented_lists_and_certificate_parse_under_the_documented_keys() -> None:
    v = _documented()
    anchor = load_public(unb64u(v["keys"]["anchor_public"]))
    trust = TrustList.accept(json.dumps(v["trust_list"]), anchor, None)
    assert trust.keys[0].public_key == v["keys"]["issuer_public"]
    assert RevocationList.accept(json.dumps(v["revocations_v2"]), anchor, 1).version == 2
    cert = parse_certificate(bytes.fromhex(v["certificate_hex"]))
    assert cert.kid == v["keys"]["issuer_kid"]
    assert cert.flags == Flag.MOTHER_BABY
    assert cert.device_public == unb64u(v["keys"]["device_public"])


def _decide(
    v: dict[str, Any], case: dict[str, Any], replay: ReplayCache, clock: dict[str, float]
) -> str:
    anchor = load_public(unb64u(v["keys"]["anchor_public"]))
    trust = TrustList.accept(json.dumps(v["trust_list"]), anchor, None)
    revoked: frozenset[bytes] = frozenset()
    if case.get("revocations"):
        revoked = RevocationList.accept(json.dumps(v[case["revocations"]]), anchor, None).revoked()
    policy = VerifyPolicy(
        window_s=v["policy"]["window_s"],
        skew_s=v["policy"]["skew_s"],
        required=Flag(case.get("required", 0)),
    )
    now = datetime.fromisoformat(case["now"].replace("Z", "+00:00"))
    issuers = trust.issuers() if case.get("trust", "trust_list") else {}
    clock["now"] = now.timestamp()
    decision = verify(
        case["text"], issuers=issuers, revoked=revoked, now=now, policy=policy, replay=replay
    )
    return decision.reason.value


@pytest.mark.parametrize("index", range(len(_documented()["cases"])))
def test_each_documented_case_gets_its_documented_decision(index: int) -> None:
    v = _documented()
    case = v["cases"][index]
    # The station's own time is the case's `now` (vectors only move forward within a case).
    clock = {"now": 0.0}
    replay = ReplayCache(monotonic=lambda: clock["now"], floor=lambda: clock["now"])
    for earlier in case.get("after", []):
        first = next(c for c in v["cases"] if c["name"] == earlier)
        _decide(v, first, replay, clock)
    reason = _decide(v, case, replay, clock)
    expected = case.get("expect_one_of", [case.get("expect")])
    assert reason in expected, f"{case['name']}: {reason}, documented {expected}"
