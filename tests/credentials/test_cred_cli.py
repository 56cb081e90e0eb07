"""`waystation members …` as an admin runs it, checked by `waystation edge verify --trust D`."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from sqlmodel import Session
from typer.testing import CliRunner

from cloud.auth.models import AuditEntry
from cloud.credentials.keys import PASSPHRASE_ENV
from cloud.db import make_engine
from edge.camera.qr import decode
from firmware_sim.wallet import Wallet
from protocol.topics import TRUST_KEYS, TRUST_REVOCATIONS
from waystation.cli import app
from waystation.mosquitto import MosquittoProcess

PASS = "cli test passphrase, long"


@pytest.fixture
def run(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    return CliRunner()


def _json(runner: CliRunner, *args: str, code: int = 0) -> dict:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return json.loads(result.stdout) if code == 0 else {"output": result.output}


def _verify(runner: CliRunner, kit: Path, text: str, *extra: str) -> dict:
    result = runner.invoke(app, ["edge", "verify", "--trust", str(kit), *extra, text])
    return json.loads(result.stdout)


def test_init_enroll_present_verify_revoke(run: CliRunner, tmp_path: Path) -> None:
    kit, wallet = tmp_path / "kit", tmp_path / "w.json"
    made = _json(run, "members", "init-issuer", "--dir", str(kit), "--kid", "u-26")
    assert made["encrypted"]
    assert made["trust_version"] == 1
    enrolled = _json(
        run, "members", "enroll", "--dir", str(kit), "--member", "m-7", "--wallet", str(wallet),
        "--valid-days", "10",
    )  # fmt: skip
    assert enrolled["kid"] == "u-26"
    assert len(enrolled["serial"]) == 24
    png = tmp_path / "code.png"
    result = run.invoke(app, ["members", "present", "--wallet", str(wallet), "--png", str(png)])
    text = result.stdout.strip()
    assert text.startswith("WS1:")
    assert decode(cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)) == [text]
    out = _verify(run, kit, text)
    assert out["granted"]
    assert out["serial"] == enrolled["serial"]

    revoked = _json(run, "members", "revoke", "--dir", str(kit), "--member", "m-7")
    assert revoked == {"revoked": [enrolled["serial"]], "revocation_version": 2, "listed": 1}
    fresh = run.invoke(app, ["members", "present", "--wallet", str(wallet)]).stdout.strip()
    assert _verify(run, kit, fresh)["reason"] == "revoked"


def test_present_at_a_given_time_and_ws2(run: CliRunner, tmp_path: Path) -> None:
    kit, wallet = tmp_path / "kit", tmp_path / "w.json"
    _json(run, "members", "init-issuer", "--dir", str(kit), "--kid", "u-26")
    _json(
        run, "members", "enroll", "--dir", str(kit), "--member", "m-1", "--wallet", str(wallet),
        "--token-days", "1",
    )  # fmt: skip
    at = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
    old = run.invoke(app, ["members", "present", "--wallet", str(wallet), "--at", at])
    assert _verify(run, kit, old.stdout.strip())["reason"] == "stale_presentation"
    assert _verify(run, kit, old.stdout.strip(), "--at", at)["granted"]
    ws2 = run.invoke(app, ["members", "present", "--wallet", str(wallet), "--format", "ws2"])
    text = ws2.stdout.strip()
    assert text.startswith("WS2:")
    assert _verify(run, kit, text)["credential"] == "ws2"
    assert _verify(run, kit, text)["granted"]
    late = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S")
    none = run.invoke(app, ["members", "present", "--wallet", str(wallet), "--format", "ws2",
                            "--at", late])  # fmt: skip
    assert none.exit_code == 2
    assert "no WS2 token" in none.output


def test_rotate_then_both_keys_verify_and_retire_cuts_the_old(
    run: CliRunner, tmp_path: Path
) -> None:
    kit, w1, w2 = tmp_path / "kit", tmp_path / "1.json", tmp_path / "2.json"
    _json(run, "members", "init-issuer", "--dir", str(kit), "--kid", "k1")
    _json(run, "members", "enroll", "--dir", str(kit), "--member", "m", "--wallet", str(w1))
    rotated = _json(run, "members", "rotate", "--dir", str(kit), "--kid", "k2", "--overlap-days",
                    "30")  # fmt: skip
    assert rotated["trust_version"] == 2
    assert "k1" in rotated["older_keys_until"]
    _json(run, "members", "enroll", "--dir", str(kit), "--member", "m", "--wallet", str(w2))
    assert Wallet.load(w2).cert.kid == "k2"
    now = int(time.time())
    assert _verify(run, kit, Wallet.load(w1).present(now))["granted"]
    assert _verify(run, kit, Wallet.load(w2).present(now))["granted"]
    retired = _json(run, "members", "retire", "--dir", str(kit), "--kid", "k1")
    assert retired["keys"] == ["k2"]
    assert retired["trust_version"] == 3
    assert _verify(run, kit, Wallet.load(w1).present(now + 1))["reason"] == "unknown_issuer"
    listed = _json(run, "members", "list", "--dir", str(kit))
    assert [k["kid"] for k in listed["keys"]] == ["k1", "k2"]
    assert len(listed["certificates"]) == 2


def test_refusals_are_one_line_errors(
    run: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit = tmp_path / "kit"
    monkeypatch.delenv(PASSPHRASE_ENV)
    out = _json(run, "members", "init-issuer", "--dir", str(kit), "--kid", "k1", code=2)
    assert "refusing to write unencrypted" in out["output"]
    _json(run, "members", "init-issuer", "--dir", str(kit), "--kid", "k1",
          "--insecure-no-passphrase")  # fmt: skip
    again = _json(run, "members", "init-issuer", "--dir", str(kit), "--kid", "k1",
                  "--insecure-no-passphrase", code=2)  # fmt: skip
    assert "already holds" in again["output"]
    both = _json(run, "members", "revoke", "--dir", str(kit), code=2)
    assert "exactly one" in both["output"]
    missing = _json(run, "members", "revoke", "--dir", str(kit), "--serial", "ab" * 12, code=2)
    assert "no certificate" in missing["output"]
    bad_member = _json(run, "members", "enroll", "--dir", str(kit), "--member", "a b",
                       "--wallet", str(tmp_path / "w"), code=2)  # fmt: skip
    assert "--member" in bad_member["output"]
    passfile = tmp_path / "pass"
    passfile.write_text("a passphrase from a file\n")
    ok = _json(run, "members", "init-issuer", "--dir", str(tmp_path / "k2"), "--kid", "k1",
               "--passphrase-file", str(passfile))  # fmt: skip
    assert ok["encrypted"]


@pytest.mark.integration
def test_publish_the_kit_and_hand_it_to_the_cloud(
    run: CliRunner, tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    kit, wallet, db = tmp_path / "kit", tmp_path / "w.json", f"sqlite:///{tmp_path / 'c.db'}"
    _json(run, "members", "init-issuer", "--dir", str(kit), "--kid", "k1")
    _json(run, "members", "enroll", "--dir", str(kit), "--member", "m", "--wallet", str(wallet))
    _json(run, "members", "revoke", "--dir", str(kit), "--member", "m")
    broker = f"mqtt://127.0.0.1:{mosquitto.port}"
    assert _json(run, "members", "publish", "--dir", str(kit), "--broker", broker) == {
        "trust_version": 1,
        "revocation_version": 2,
    }
    retained = _retained(mosquitto.port)
    assert json.loads(retained[TRUST_REVOCATIONS])["version"] == 2
    assert json.loads(retained[TRUST_KEYS])["keys"][0]["kid"] == "k1"

    assert _json(run, "members", "import-kit", "--dir", str(kit), "--db", db) == {
        "keys": 1,
        "certificates": 1,
    }
    assert _audited(db) == [("issuer.import_kit", "kit:kit")]  # as cli:<login>
    again = _json(run, "members", "import-kit", "--dir", str(kit), "--db", db, code=2)
    assert "already has an issuer" in again["output"]
    out = _json(run, "members", "publish-db", "--db", db, "--broker", broker)
    assert out == {"trust_version": 1, "revocation_version": 2}
    down = _json(run, "members", "publish", "--dir", str(kit), "--broker",
                 "mqtt://127.0.0.1:1", code=2)  # fmt: skip
    assert "not reachable" in down["output"]


def _audited(db: str) -> list[tuple[str, str]]:
    """(action, target) of every audit row, for rows made by a shell user (`cli:<login>`)."""
    engine = make_engine(db)
    try:
        with Session(engine) as s:
            rows = s.execute(select(AuditEntry)).scalars().all()
            return [(r.action, r.target) for r in rows if r.username.startswith("cli:")]
    finally:
        engine.dispose()


def _retained(port: int) -> dict[str, bytes]:
    got: dict[str, bytes] = {}
    done = threading.Event()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2)

    def on_message(_c: Any, _u: Any, message: mqtt.MQTTMessage) -> None:
        got[message.topic] = message.payload
        if len(got) == 2:
            done.set()

    sub.on_message = on_message
    sub.on_connect = lambda c, *_: c.subscribe("ws/v1/trust/#", qos=1)
    sub.connect("127.0.0.1", port)
    sub.loop_start()
    try:
        assert done.wait(10), f"retained lists not received: {sorted(got)}"
    finally:
        sub.disconnect()
        sub.loop_stop()
    return got
