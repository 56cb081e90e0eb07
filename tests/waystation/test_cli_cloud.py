"""`waystation sim fleet --registry-only`, `stations import|export` and `cloud ingest` options."""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

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
    with path.open(encoding="utf-8", newline="") as fh:
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
    assert exported.read_text(encoding="utf-8").splitlines()[0] == HEADER
    key = [tuple(r.items()) for r in rows(exported)]
    assert sorted(key) == sorted(tuple(r.items()) for r in rows(registry))


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
    finally:
        proc.terminate()
        assert proc.wait(20) == 0
