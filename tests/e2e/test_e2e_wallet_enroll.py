"""The reference wallet (`firmware_sim.wallet`) enrols over real HTTP against a live cloud."""

from __future__ import annotations

import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud.credentials import issuer as I  # noqa: N812
from cloud.credentials import members as M  # noqa: N812
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.keys import Passphrase
from cloud.db import init_db, make_engine, session
from cloud.main import create_app
from cloud.settings import Settings
from firmware_sim.wallet import EnrollError, RenewError, Wallet
from protocol.credential import Reason, verify
from protocol.trust import TrustList

pytestmark = pytest.mark.integration


def test_wallet_enrols_over_http_then_presents_offline(serve: Any, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(db_url)
    init_db(engine)
    vault = I.KeyVault(Passphrase("wallet e2e passphrase"))
    now = datetime.now(UTC)
    with session(engine) as s:
        I.create_issuer(s, vault, kid="w-1", now=now)
        M.upsert_member(s, member_id="m-w")
        s.flush()
        code = M.new_enrol_code(s, member_id="m-w", now=now)
    engine.dispose()
    app = create_app(Settings(db=db_url))
    app.state.credentials = CredentialContext(CredentialSettings(), vault)
    base = serve(app)

    with pytest.raises(EnrollError, match="403"):
        Wallet.enroll(base, "m-w", "WRONGCODE9")
    wallet = Wallet.enroll(base, "m-w", code)
    wallet.save(tmp_path / "wallet.json")
    with pytest.raises(EnrollError, match="403"):
        Wallet.enroll(base, "m-w", code)  # spent
    with urllib.request.urlopen(f"{base}/api/v1/trust/keys") as res:  # noqa: S310
        trust = TrustList.model_validate_json(res.read())
    text = Wallet.load(tmp_path / "wallet.json").present(int(time.time()))
    decision = verify(text, issuers=trust.issuers(), revoked=frozenset(), now=datetime.now(UTC))
    assert decision.reason is Reason.GRANTED
    assert decision.serial == wallet.serial
    with pytest.raises(EnrollError, match="not reachable"):
        Wallet.enroll("http://127.0.0.1:1", "m-w", code)


def test_wallet_renews_over_http_until_the_member_is_revoked(serve: Any, tmp_path: Path) -> None:
    """Story: certificates died after 28 days with nothing to renew them."""
    db_url = f"sqlite:///{tmp_path / 'cloud.db'}"
    engine = make_engine(db_url)
    init_db(engine)
    vault = I.KeyVault(Passphrase("wallet e2e passphrase"))
    now = datetime.now(UTC)
    with session(engine) as s:
        I.create_issuer(s, vault, kid="w-1", now=now)
        M.upsert_member(s, member_id="m-w")
        s.flush()
        code = M.new_enrol_code(s, member_id="m-w", now=now)
    shift = {"by": timedelta(0)}
    app = create_app(Settings(db=db_url), clock=lambda: datetime.now(UTC) + shift["by"])
    app.state.credentials = CredentialContext(CredentialSettings(), vault)
    base = serve(app)
    wallet = Wallet.enroll(base, "m-w", code)

    shift["by"] = timedelta(days=25)  # 3 days left
    renewed = wallet.renew(base)
    assert renewed.serial != wallet.serial
    assert renewed.cert.valid_until == (now + shift["by"]).date() + timedelta(days=28)
    with urllib.request.urlopen(f"{base}/api/v1/trust/keys") as res:  # noqa: S310
        trust = TrustList.model_validate_json(res.read())
    at = datetime.now(UTC) + shift["by"]
    decision = verify(
        renewed.present(int(at.timestamp())), issuers=trust.issuers(), revoked=frozenset(), now=at
    )
    assert decision.reason is Reason.GRANTED

    with session(engine) as s:
        M.revoke(s, vault, now=at, member_id="m-w")
    engine.dispose()
    with pytest.raises(RenewError, match="revoked") as refused:
        renewed.renew(base)
    assert (refused.value.status, refused.value.reason) == (403, "revoked")
