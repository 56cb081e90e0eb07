"""`waystation members import`: a union's member list into the registry, on SQLite and
PostgreSQL, as the union office runs it; the codes it hands out enrol through the member
page's API."""

from __future__ import annotations

import csv
import io
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import Session, select
from typer.testing import CliRunner

from cloud.auth.models import AuditEntry
from cloud.credentials import printing
from cloud.credentials.context import CredentialContext, CredentialSettings
from cloud.credentials.issuer import KeyVault
from cloud.credentials.keys import PASSPHRASE_ENV, Passphrase
from cloud.credentials.kit import Kit
from cloud.credentials.models import MemberRow
from cloud.db import make_engine
from cloud.main import create_app
from cloud.settings import Settings
from firmware_sim.wallet import enrollment_request, new_device_key
from protocol.credential import Flag, parse_certificate
from protocol.trust import unb64u
from waystation.cli import app

from .conftest import NOW, PASSPHRASE

BASE = "https://ws.example.org"
AT = NOW.isoformat()
# The PostgreSQL paths (batch insert and update, rollback) run in the first two tests; the
# rest is dialect-free and runs on SQLite only, to keep the suite fast.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
ROWS = 1000  # enough to cross the batch and look-up paths; the 300,000 are the benchmark's


class _Clock:
    def __call__(self):  # type: ignore[no-untyped-def]
        return NOW

    def now(self):  # type: ignore[no-untyped-def]
        return NOW

    def monotonic(self) -> float:
        return 0.0


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv(PASSPHRASE_ENV, PASSPHRASE)
    return CliRunner()


@pytest.fixture
def issuer_db(cli: CliRunner, kit: Kit, db_url: str) -> str:
    """A database holding the union's issuer (the kit handed over with `import-kit`)."""
    res = cli.invoke(app, ["members", "import-kit", "--dir", str(kit.directory), "--db", db_url])
    assert res.exit_code == 0, res.output
    return db_url


@pytest.fixture
def api(issuer_db: str) -> Iterator[TestClient]:
    """The cloud API on that database, at NOW."""
    application = create_app(Settings(db=issuer_db), clock=_Clock())
    vault = KeyVault(Passphrase(PASSPHRASE))
    application.state.credentials = CredentialContext(CredentialSettings(), vault, None)
    with TestClient(application) as client:
        yield client


def _roster(path: Path, rows: int = ROWS, *, header: str = "member_id,branch,staff,mother_baby",
            extra: dict[int, str] | None = None, encoding: str = "utf-8") -> Path:  # fmt: skip
    lines = [header]
    for i in range(rows):
        lines.append(f"U{i:07d},东城,{'1' if i % 10 == 0 else '0'},{'是' if i % 7 == 0 else ''}")
    for line, text in (extra or {}).items():
        lines[line - 1] = text  # `line` as an editor shows it: the header is line 1
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def _import(cli: CliRunner, *args: str, code: int = 0) -> dict:
    res = cli.invoke(app, ["members", "import", *args, "--at", AT])
    assert res.exit_code == code, res.output
    return json.loads(res.stdout) if code == 0 else {"stderr": res.stderr}


def _members(db_url: str) -> dict[str, MemberRow]:
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            return {m.member_id: m for m in s.exec(select(MemberRow))}
    finally:
        engine.dispose()


def _audits(db_url: str, action: str) -> list[AuditEntry]:
    engine = make_engine(db_url)
    try:
        with Session(engine) as s:
            return list(s.exec(select(AuditEntry).where(AuditEntry.action == action)))
    finally:
        engine.dispose()


def _enrol(api: TestClient, member: str, code: str) -> bytes:
    body = enrollment_request(member, code, new_device_key())
    res = api.post("/api/v1/members/enroll", json=body)
    assert res.status_code == 200, res.text
    return unb64u(res.json()["certificate"])


def test_import_creates_members_and_codes_that_enrol_and_a_rerun_changes_nothing(
    cli: CliRunner, issuer_db: str, api: TestClient, tmp_path: Path
) -> None:
    roster, codes = _roster(tmp_path / "members.csv"), tmp_path / "codes.csv"
    out = _import(cli, str(roster), "--db", issuer_db, "--codes-out", str(codes),
                  "--base-url", BASE)  # fmt: skip
    assert (out["created"], out["updated"], out["unchanged"], out["codes"]) == (ROWS, 0, 0, ROWS)
    assert out["changed"]
    assert stat.S_IMODE(codes.stat().st_mode) == 0o600  # a file of secrets
    raw = codes.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens it with Chinese intact
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == ROWS
    first = rows[0]
    assert first["enrol_link"] == f"{BASE}/member/#member={first['member_id']}&code={first['code']}"
    members = _members(issuer_db)
    assert len(members) == ROWS
    assert members["U0000000"].flags == Flag.STAFF | Flag.MOTHER_BABY
    assert members["U0000001"].flags == Flag.NONE
    assert members["U0000000"].branch == "东城"
    [entry] = _audits(issuer_db, "member.import")
    assert entry.username.startswith("cli:")
    assert entry.detail["created"] == ROWS
    assert entry.detail["codes"] == ROWS
    assert "code" not in json.dumps(entry.detail).replace('"codes"', "").replace("code_days", "")

    # The code a union office hands out enrols a phone through the member page's API, and
    # the certificate carries the member's flags from the file.
    cert = parse_certificate(_enrol(api, first["member_id"], first["code"]))
    assert cert.flags == Flag.STAFF | Flag.MOTHER_BABY
    body = enrollment_request(first["member_id"], first["code"], new_device_key())
    again = api.post("/api/v1/members/enroll", json=body)
    assert again.status_code == 403  # one-time

    before = codes.read_bytes()
    res = cli.invoke(app, ["members", "import", str(roster), "--db", issuer_db,
                           "--codes-out", str(codes), "--base-url", BASE, "--at", AT])  # fmt: skip
    assert res.exit_code == 0, res.output
    rerun = json.loads(res.stdout)
    assert (rerun["created"], rerun["updated"], rerun["unchanged"]) == (0, 0, ROWS)
    assert rerun["codes"] == 0
    assert not rerun["changed"]
    assert "nothing changed" in res.stderr
    assert codes.read_bytes() == before  # the codes already handed out are not lost
    assert len(_audits(issuer_db, "member.import")) == 2  # every admin action is audited


def test_a_changed_row_is_updated_and_lost_codes_can_be_issued_again(
    cli: CliRunner, issuer_db: str, api: TestClient, tmp_path: Path
) -> None:
    roster = _roster(tmp_path / "a.csv", 20)
    _import(cli, str(roster), "--db", issuer_db, "--no-codes")
    changed = _roster(tmp_path / "b.csv", 20, extra={2: "U0000000,西城,0,0"})
    out = _import(cli, str(changed), "--db", issuer_db, "--no-codes")
    assert (out["created"], out["updated"], out["unchanged"], out["codes"]) == (0, 1, 19, 0)
    assert _members(issuer_db)["U0000000"].branch == "西城"
    codes = tmp_path / "again.csv"
    out = _import(cli, str(changed), "--db", issuer_db, "--reissue-codes",
                  "--codes-out", str(codes), "--base-url", BASE)  # fmt: skip
    assert out["codes"] == 20
    row = next(csv.DictReader(io.StringIO(codes.read_text("utf-8-sig"))))
    _enrol(api, row["member_id"], row["code"])
    # An enrolled member gets no new code: the paper is only for those still without a phone.
    out = _import(cli, str(changed), "--db", issuer_db, "--reissue-codes",
                  "--codes-out", str(tmp_path / "third.csv"), "--base-url", BASE)  # fmt: skip
    assert out["codes"] == 19


@SQLITE_ONLY
def test_bad_lines_are_named_by_line_and_field_and_nothing_is_imported(
    cli: CliRunner, issuer_db: str, tmp_path: Path
) -> None:
    roster = _roster(
        tmp_path / "members.csv",
        extra={
            500: "U0000498,东城,maybe,",
            700: "13812345678,东城,0,0",
            800: "11010519491231002X,东城,0,0",
            900: "U0000001,东城,0,0",
        },
    )
    codes = tmp_path / "codes.csv"
    out = _import(cli, str(roster), "--db", issuer_db, "--codes-out", str(codes),
                  "--base-url", BASE, code=2)  # fmt: skip
    err = out["stderr"]
    assert "4 problem(s), nothing imported" in err
    assert "line 500, staff: 'maybe' is not yes/no" in err
    assert "line 700, member_id: looks like a mobile phone number" in err
    assert "line 800, member_id: looks like an ID-card number" in err
    assert "line 900, member_id: U0000001 is already on line 3" in err
    assert "Traceback" not in err
    assert _members(issuer_db) == {}
    assert not codes.exists()


@pytest.mark.parametrize(
    ("header", "said"),
    [
        ("member_id,姓名", "column '姓名': looks like a name"),
        ("member_id,phone", "column 'phone': looks like a phone number"),
        ("member_id,身份证号", "column '身份证号': looks like an ID-card number"),
        ("member_id,notes", "column 'notes': unknown column"),
        ("branch", "no member_id column"),
    ],
)
def test_personal_data_columns_are_refused(
    cli: CliRunner, tmp_path: Path, header: str, said: str
) -> None:
    roster = tmp_path / "m.csv"
    roster.write_text(f"{header}\r\nU1,x\r\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'ws.db'}"
    out = _import(cli, str(roster), "--db", db, "--no-codes", code=2)
    assert said in out["stderr"]


@pytest.mark.parametrize("encoding", ["gbk", "utf-8-sig"])
def test_a_file_saved_by_excel_on_chinese_windows_imports(
    cli: CliRunner, tmp_path: Path, encoding: str
) -> None:
    roster = _roster(tmp_path / "m.csv", 30, header="会员编号,分会,驿站工作人员,母婴室",
                     encoding=encoding)  # fmt: skip
    db = f"sqlite:///{tmp_path / 'ws.db'}"
    out = _import(cli, str(roster), "--db", db, "--no-codes")
    assert out["encoding"] == {"gbk": "GBK/GB18030", "utf-8-sig": "UTF-8 with BOM"}[encoding]
    assert out["created"] == 30
    member = _members(db)["U0000007"]
    assert (member.branch, member.flags) == ("东城", Flag.MOTHER_BABY)


@SQLITE_ONLY
def test_printed_slips_carry_codes_that_enrol(
    cli: CliRunner, issuer_db: str, api: TestClient, tmp_path: Path
) -> None:
    roster = _roster(tmp_path / "m.csv", 10)
    slips, pdf = tmp_path / "slips.png", tmp_path / "slips.pdf"
    out = _import(cli, str(roster), "--db", issuer_db, "--sheets-out", str(slips),
                  "--base-url", BASE)  # fmt: skip
    assert out["sheet_pages"] == 2  # 8 slips a page
    pages = [slips, tmp_path / "slips-002.png"]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in pages)
    page = np.asarray(Image.open(slips).convert("L"))
    links = sorted(b.text for b in zxingcpp.read_barcodes(page))
    assert len(links) == 8
    member, code = (p.split("=")[1] for p in links[0].split("#")[1].split("&"))
    assert member == "U0000000"
    _enrol(api, member, code)

    more = _roster(tmp_path / "more.csv", 12)
    out = _import(cli, str(more), "--db", issuer_db, "--sheets-out", str(pdf), "--base-url", BASE)
    assert (out["created"], out["sheet_pages"]) == (2, 1)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-1.4")
    assert data.rstrip().endswith(b"%%EOF")
    assert data.count(b"/Type /Page ") == 1


@SQLITE_ONLY
def test_no_chinese_font_is_one_line_and_nothing_is_imported(
    cli: CliRunner, issuer_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(printing, "FONT_CANDIDATES", (str(tmp_path / "none.ttc"),))
    roster = _roster(tmp_path / "m.csv", 5)
    out = _import(cli, str(roster), "--db", issuer_db, "--sheets-out", str(tmp_path / "s.pdf"),
                  "--base-url", BASE, code=2)  # fmt: skip
    assert "no Chinese font found" in out["stderr"]
    assert "fonts-wqy-microhei" in out["stderr"]
    assert _members(issuer_db) == {}
    assert not (tmp_path / "s.pdf").exists()


def test_codes_need_somewhere_to_go(cli: CliRunner, tmp_path: Path) -> None:
    roster = _roster(tmp_path / "m.csv", 3)
    db = f"sqlite:///{tmp_path / 'ws.db'}"
    out = _import(cli, str(roster), "--db", db, code=2)
    assert "3 new enrolment codes need a place to go" in out["stderr"]
    assert _members(db) == {}
