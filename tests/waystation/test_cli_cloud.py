"""`waystation sim fleet --registry-only`, `stations import|export` and `cloud ingest` options
(its metrics and `/healthz` port)."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select
from typer.testing import CliRunner, Result

from protocol.registry import AMENITIES, CSV_COLUMNS
from tests.support.wait import wait_for
from waystation.cli import app
from waystation.mosquitto import free_port

HEADER = "id,name,lat,lon,amenities,opening_hours,operator,address,city"


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args])


def write_registry(path: Path, *, stations: int = 5, seed: int = 3) -> Path:
    result = run(
        "sim", "fleet", "--stations", str(stations), "--seed", str(seed),
        "--registry", path, "--registry-only",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return path


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:  # exports start with a BOM
        return list(csv.DictReader(fh))


def counts(output: str) -> dict[str, int]:
    """`5 stations: 5 created, 0 updated, 0 unchanged` → {"created": 5, …}."""
    return {word: int(n) for n, word in re.findall(r"(\d+) (created|updated|unchanged)", output)}


def test_registry_only_writes_the_csv_deterministically(tmp_path: Path) -> None:
    first = write_registry(tmp_path / "a.csv")
    again = write_registry(tmp_path / "b.csv")
    other = write_registry(tmp_path / "c.csv", seed=4)

    lines = first.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER == ",".join(CSV_COLUMNS)
    assert len(rows(first)) == 5
    assert len({r["id"] for r in rows(first)}) == 5
    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_import_creates_then_reports_unchanged(tmp_path: Path, db_url: str) -> None:
    registry = write_registry(tmp_path / "registry.csv")

    first = run("stations", "import", registry, "--db", db_url)
    second = run("stations", "import", registry, "--db", db_url)

    assert first.exit_code == 0, first.output
    assert counts(first.stdout) == {"created": 5, "updated": 0, "unchanged": 0}
    assert second.exit_code == 0, second.output
    assert counts(second.stdout) == {"created": 0, "updated": 0, "unchanged": 5}


def test_import_reports_an_edited_row_as_updated(tmp_path: Path, db_url: str) -> None:
    registry = write_registry(tmp_path / "registry.csv")
    assert run("stations", "import", registry, "--db", db_url).exit_code == 0
    edited = rows(registry)
    edited[1]["name"] += " (renovated)"
    with registry.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(edited)

    result = run("stations", "import", registry, "--db", db_url)

    assert result.exit_code == 0, result.output
    assert counts(result.stdout) == {"created": 0, "updated": 1, "unchanged": 4}


def test_export_round_trips_the_import(tmp_path: Path, db_url: str) -> None:
    registry = write_registry(tmp_path / "registry.csv", stations=12, seed=9)
    assert run("stations", "import", registry, "--db", db_url).exit_code == 0

    result = run("stations", "export", tmp_path / "out.csv", "--db", db_url)

    assert result.exit_code == 0, result.output
    assert "12 stations" in result.stdout
    exported = tmp_path / "out.csv"
    optional = ",capacity,entrance_hint,contact_phone"
    assert exported.read_text(encoding="utf-8-sig").splitlines()[0] == HEADER + optional
    key = [tuple(r.items()) for r in rows(exported)]
    blank = {"capacity": "", "entrance_hint": "", "contact_phone": ""}
    assert sorted(key) == sorted(tuple((r | blank).items()) for r in rows(registry))


def test_a_bad_file_names_every_bad_line_and_imports_nothing(tmp_path: Path, db_url: str) -> None:
    good = rows(write_registry(tmp_path / "registry.csv"))
    good[1]["lat"] = "north"  # file line 3 (line 1 is the header)
    good[2]["amenities"] = f"{good[2]['amenities']};sauna"  # file line 4
    assert "sauna" not in AMENITIES
    bad = tmp_path / "bad.csv"
    with bad.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(good)

    result = run("stations", "import", bad, "--db", db_url)

    assert result.exit_code == 1
    assert "line 3" in result.stderr
    assert "line 4" in result.stderr
    assert "sauna" in result.stderr
    for line in ("line 2", "line 5", "line 6"):
        assert line not in result.stderr
    exported = run("stations", "export", tmp_path / "after.csv", "--db", db_url)
    assert exported.exit_code == 0, exported.output
    assert rows(tmp_path / "after.csv") == []  # the three good rows were not imported either


def test_cloud_ingest_refuses_an_unknown_protocol(tmp_path: Path) -> None:
    result = run("cloud", "ingest", "--protocol", "4", "--db", f"sqlite:///{tmp_path / 'x.db'}")
    assert result.exit_code == 2
    assert "--protocol" in result.stderr
    assert "5 or 311" in result.stderr
    assert not (tmp_path / "x.db").exists()  # refused before touching the database


def test_geojson_export_and_import_round_trip(tmp_path: Path, db_url: str) -> None:
    registry = write_registry(tmp_path / "registry.csv", stations=7, seed=5)
    assert run("stations", "import", registry, "--db", db_url).exit_code == 0
    exported = run("stations", "export", tmp_path / "map.geojson", "--db", db_url)
    assert exported.exit_code == 0, exported.output
    assert "7 stations" in exported.stdout
    other = f"sqlite:///{tmp_path / 'other.db'}"
    first = run("stations", "import", tmp_path / "map.geojson", "--db", other)
    assert first.exit_code == 0, first.output
    assert counts(first.stdout) == {"created": 7, "updated": 0, "unchanged": 0}
    again = run("stations", "import", registry, "--db", other)
    assert counts(again.stdout) == {"created": 0, "updated": 0, "unchanged": 7}


def test_a_bad_geojson_feature_is_refused_by_line(tmp_path: Path, db_url: str) -> None:
    bad = tmp_path / "bad.geojson"
    bad.write_text(
        '{"type": "FeatureCollection", "features": [\n'
        '{"type": "Feature", "id": "st-1", "geometry": {"type": "Point", "coordinates": [121, 31]},'
        ' "properties": {"name": "ok"}},\n'
        '{"type": "Feature", "id": "st-2", "geometry": {"type": "Point", "coordinates": [200, 31]},'
        ' "properties": {"name": "bad lon"}}\n]}\n',
        encoding="utf-8",
    )
    result = run("stations", "import", bad, "--db", db_url)
    assert result.exit_code == 1
    assert "line 3" in result.stderr
    assert "lon" in result.stderr
    assert "line 2" not in result.stderr


def test_cloud_maintain_rolls_up_and_purges(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'm.db'}"
    result = run("cloud", "maintain", "--db", db, "--telemetry-days", "7")
    assert result.exit_code == 0, result.output
    assert "rolled up 0 hours and 0 days" in result.stdout
    assert "0 telemetry" in result.stdout
    refused = run(
        "cloud", "maintain", "--db", db, "--rollup-hours", "2400", "--footfall-days", "30"
    )
    assert refused.exit_code == 2
    assert "--rollup-hours" in refused.stderr


def test_cloud_maintain_drops_union_app_nonces_past_their_window(tmp_path: Path) -> None:
    # A union-app client that stops calling left its spent nonces behind for good.
    from datetime import timedelta

    from cloud.clock import utcnow
    from cloud.credentials.apiclients import ApiNonceRow
    from cloud.db import init_db, make_engine
    from cloud.transaction import session

    db = f"sqlite:///{tmp_path / 'n.db'}"
    engine = make_engine(db)
    try:
        init_db(engine)
        now = utcnow()
        with session(engine) as s:
            s.add(
                ApiNonceRow(
                    client_id="app", nonce="old-nonce-0001", expires_at=now - timedelta(minutes=10)
                )
            )
            s.add(
                ApiNonceRow(
                    client_id="app", nonce="new-nonce-0001", expires_at=now + timedelta(minutes=4)
                )
            )
        result = run("cloud", "maintain", "--db", db)
        assert result.exit_code == 0, result.output
        assert "1 api_nonce" in result.stdout
        with session(engine) as s:
            left = [row.nonce for row in s.exec(select(ApiNonceRow))]
        assert left == ["new-nonce-0001"]
    finally:
        engine.dispose()


def test_cloud_ingest_serves_prometheus_metrics(tmp_path: Path, mosquitto: Any) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("waystation")), "cloud", "ingest",
         "--broker", mosquitto.url, "--db", f"sqlite:///{tmp_path / 'i.db'}",
         "--metrics-port", str(port), "--metrics-addr", "127.0.0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:

        def connected_metrics() -> str:
            """The metrics page once it says the ingest is connected, else ""."""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as r:
                    text = r.read().decode()
            except OSError:
                return ""
            return text if "waystation_ingest_connected 1.0" in text else ""

        text = wait_for(connected_metrics, 30, "ingest connected on /metrics", interval_s=0.2)
        assert "waystation_ingest_batch_seconds_bucket" in text
        assert "waystation_ingest_lag_seconds" in text
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz") as r:
            health = json.loads(r.read())
        assert r.status == 200
        assert health["status"] == "ok"
        assert health["connected"] is True
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def test_cloud_serve_prints_urls_that_answer(tmp_path: Path) -> None:
    # Story: `cloud serve` printed `…/nearby?lat=…&lon=…`, which nobody could open as is.
    db = f"sqlite:///{tmp_path / 's.db'}"
    assert run("stations", "import", write_registry(tmp_path / "r.csv"), "--db", db).exit_code == 0
    port = free_port()
    out = tmp_path / "serve.out"
    with out.open("w") as fh:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("waystation")), "cloud", "serve",
             "--port", str(port), "--db", db, "--no-access-log"],
            stdout=fh, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip
    try:

        def healthy() -> bool:
            assert proc.poll() is None, out.read_text()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5):
                    return True
            except OSError:
                return False

        wait_for(healthy, 30, what=lambda: out.read_text(), interval_s=0.2)
        ours = [line.split() for line in out.read_text().splitlines()]
        printed = {w[0]: w[1] for w in ours if w and w[0] in ("Finder:", "Nearby:", "API:")}
        base = f"http://127.0.0.1:{port}"
        assert printed["Finder:"] == f"{base}/"
        assert printed["Nearby:"].startswith(f"{base}/api/v1/stations/nearby?lat=")
        answers = {}
        for url in printed.values():
            assert url.startswith(f"{base}/")
            with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 (http, checked above)
                answers[url] = (r.status, r.read())
        assert all(status == 200 for status, _ in answers.values())
        nearby = json.loads(answers[printed["Nearby:"]][1])
        assert len(nearby["stations"]) >= 1  # around the first station: it is listed
    finally:
        proc.terminate()
        proc.wait(20)


# A union's sheet as it is kept: Chinese headers in its own order, a row number, a capacity,
# amenities as the finder labels them with Chinese separators, a trailing empty column.
UNION_SHEET = (
    "序号,站点编号,站点名称,纬度（WGS-84）,经度,服务设施,开放时间,运营单位,地址,城市,容量,\r\n"
    "1,sz-0101,福田驿站,22.5431,114.0579,饮用水、母婴室，充电,24/7,深圳市总工会,深南大道1号,深圳,12,\r\n"
    '2,sz-0102,"南山驿站（科技园）",22.5400,113.9500,water|toilet；空调,'
    "Mo-Su 08:00-20:00,,科技园南区,深圳,,\r\n"
)


@pytest.mark.parametrize(
    ("encoding", "bom", "read_as"),
    [
        pytest.param("gbk", b"", "GBK/GB18030", id="gbk"),
        pytest.param("utf-8", b"\xef\xbb\xbf", "UTF-8 with BOM", id="utf8-bom"),
        pytest.param("utf-8", b"", "UTF-8", id="utf8"),
    ],
)
def test_a_chinese_sheet_imports_in_every_excel_encoding(
    tmp_path: Path, encoding: str, bom: bytes, read_as: str
) -> None:
    db = f"sqlite:///{tmp_path / 'z.db'}"
    sheet = tmp_path / "驿站.csv"
    sheet.write_bytes(bom + UNION_SHEET.encode(encoding))

    result = run("stations", "import", sheet, "--db", db)

    assert result.exit_code == 0, result.output
    assert counts(result.stdout) == {"created": 2, "updated": 0, "unchanged": 0}
    assert f"read as {read_as}" in result.stdout
    out = tmp_path / "out.csv"
    assert run("stations", "export", out, "--db", db).exit_code == 0
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel shows UTF-8 only with a BOM
    got = {r["id"]: r for r in rows(out)}
    assert got["sz-0101"]["name"] == "福田驿站"
    assert got["sz-0101"]["amenities"] == "water;charging;mother_baby"
    assert got["sz-0101"]["capacity"] == "12"
    assert got["sz-0102"]["name"] == "南山驿站（科技园）"
    assert got["sz-0102"]["amenities"] == "water;toilet;air_conditioning"
    assert got["sz-0102"]["capacity"] == ""
    assert got["sz-0102"]["address"] == "科技园南区"
    again = run("stations", "import", out, "--db", db)  # the export reads back unchanged
    assert counts(again.stdout) == {"created": 0, "updated": 0, "unchanged": 2}


def test_a_bad_chinese_sheet_names_line_and_column_and_imports_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'z.db'}"
    bad = UNION_SHEET.replace("22.5400", "北纬22度").replace("空调", "桑拿")
    sheet = tmp_path / "bad.csv"
    sheet.write_bytes(bad.encode("gbk"))

    result = run("stations", "import", sheet, "--db", db)

    assert result.exit_code == 1
    errors = result.stderr.splitlines()[1:]
    assert len(errors) == 2, result.stderr
    assert errors[0].startswith("line 3: lat (纬度（WGS-84）): ")
    assert errors[1].startswith("line 3: amenities (服务设施): ")
    assert "桑拿" in errors[1]
    assert "mother_baby (母婴室)" in errors[1]  # the known names, as the finder labels them
    assert "Traceback" not in result.output
    exported = run("stations", "export", tmp_path / "after.csv", "--db", db)
    assert exported.exit_code == 0, exported.output
    assert rows(tmp_path / "after.csv") == []  # line 2 was good, and was not imported either


@pytest.mark.parametrize(
    ("args", "says"),
    [
        pytest.param(("export", "nosuchdir/out.csv"), "folder nosuchdir does not exist", id="dir"),
        pytest.param(("export", "out.xlsx"), "name it out.csv", id="xlsx-out"),
        pytest.param(("import", "stations.xlsx"), "CSV UTF-8", id="xlsx-in"),
    ],
)
def test_files_that_cannot_work_are_refused_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, str], says: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stations.xlsx").write_bytes(b"PK\x03\x04 a zip, as every .xlsx is")
    db = f"sqlite:///{tmp_path / 'z.db'}"

    result = run("stations", *args, "--db", db)

    assert result.exit_code == 1
    assert says in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 2  # the count line and the reason
    assert not (tmp_path / "out.xlsx").exists()
    assert not (tmp_path / "nosuchdir").exists()
