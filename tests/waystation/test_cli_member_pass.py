"""`waystation members pass`: a printed day pass for a worker without a smartphone, read off
the printed page and decided on by `waystation edge verify` as a station would."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from PIL import Image
from sqlmodel import Session
from typer.testing import CliRunner

from cloud.credentials import members as M  # noqa: N812
from cloud.credentials.issuer import KeyVault
from cloud.credentials.keys import PASSPHRASE_ENV, Passphrase
from cloud.db import make_engine
from protocol.credential import Flag, Token, claimed_time, parse_text
from waystation.cli import app

PASS = "pass test passphrase, long"


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv(PASSPHRASE_ENV, PASS)
    return CliRunner()


def _ok(cli: CliRunner, *args: str) -> dict:
    res = cli.invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.fixture
def union(cli: CliRunner, tmp_path: Path) -> tuple[Path, str]:
    """A kit handed to a database that holds three members (one of them station staff)."""
    kit, db = tmp_path / "kit", f"sqlite:///{tmp_path / 'ws.db'}"
    _ok(cli, "members", "init-issuer", "--dir", str(kit), "--kid", "u-1")
    _ok(cli, "members", "import-kit", "--dir", str(kit), "--db", db)
    roster = tmp_path / "m.csv"
    roster.write_text("member_id,staff\nW1,1\nW2,0\nW3,0\n", encoding="utf-8")
    _ok(cli, "members", "import", str(roster), "--db", db, "--no-codes")
    return kit, db


def _verify(cli: CliRunner, kit: Path, text: str, at: datetime) -> dict:
    res = cli.invoke(app, ["edge", "verify", "--trust", str(kit), "--at", at.isoformat(), text])
    return json.loads(res.stdout)


def test_a_printed_day_pass_opens_the_door_in_its_window_only(
    cli: CliRunner, union: tuple[Path, str], tmp_path: Path
) -> None:
    kit, db = union
    out = tmp_path / "pass.png"
    made = _ok(cli, "members", "pass", "--member", "W1", "--days", "1", "--out", str(out),
               "--db", db)  # fmt: skip
    assert made["codes"] == 288  # a day of 5-minute windows
    assert made["window_min"] == 5
    assert made["flags"] == Flag.STAFF
    pages = [Path(p) for p in made["pages_out"]]
    assert len(pages) == made["pages"] >= 6  # 4 cards of an hour each per A4 page
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in pages)

    # The second page is four full hours: 48 codes, every one readable off the page.
    page = np.asarray(Image.open(pages[1]).convert("L"))
    texts = [b.text for b in zxingcpp.read_barcodes(page)]
    assert len(texts) == 48
    tokens = {t: parse_text(t) for t in texts}
    assert all(isinstance(t, Token) for t in tokens.values())
    text = sorted(texts, key=lambda t: claimed_time(tokens[t]))[5]  # the page's 6th window
    token = tokens[text]
    assert isinstance(token, Token)
    assert token.serial.hex() == made["serial"]
    assert token.flags == Flag.STAFF
    start = datetime.fromtimestamp(token.window_start * 60, UTC)
    inside = _verify(cli, kit, text, start + timedelta(minutes=2))
    assert inside["granted"], inside
    assert inside["credential"] == "ws2"
    for outside in (start - timedelta(seconds=1), start + timedelta(minutes=5)):
        assert _verify(cli, kit, text, outside)["reason"] == "stale_presentation"


def test_revoking_the_member_revokes_their_pass(
    cli: CliRunner, union: tuple[Path, str], tmp_path: Path
) -> None:
    _, db = union
    made = _ok(cli, "members", "pass", "--member", "W2", "--days", "1", "--window", "60",
               "--out", str(tmp_path / "week.pdf"), "--db", db)  # fmt: skip
    assert made["codes"] == 24
    assert (tmp_path / "week.pdf").read_bytes().startswith(b"%PDF")
    engine = make_engine(db)
    try:
        with Session(engine) as s:
            vault = KeyVault(Passphrase(PASS))
            newly, listed = M.revoke(s, vault, now=datetime.now(UTC), member_id="W2")
            s.commit()
    finally:
        engine.dispose()
    assert newly == [made["serial"]]
    assert made["serial"] in listed.serials


REFUSALS = [
    (["--member", "W1", "--days", "3"], "a pass is for 1 or 7 days"),
    (["--member", "W1", "--window", "7"], "window must be one of"),
    (["--member", "nobody"], "no member 'nobody'"),
    (["--member", "W1", "--station", "nowhere"], "no station 'nowhere'"),
]


def test_a_pass_that_cannot_be_made_is_one_line_and_no_file(
    cli: CliRunner, union: tuple[Path, str], tmp_path: Path
) -> None:
    _, db = union
    out = tmp_path / "p.pdf"
    for args, said in REFUSALS:
        res = cli.invoke(app, ["members", "pass", *args, "--out", str(out), "--db", db])
        assert res.exit_code == 2, res.output
        assert said in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
        assert not out.exists()
