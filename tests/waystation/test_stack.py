"""`waystation provision stack`, `--env-file` and `sim fleet --password-dir`: the pieces the
compose stack's broker logins are made of (the stack itself: tests/docker/test_compose_broker.py).

Story: compose re-runs its one-shot setup on every `up`; a setup that made new passwords each
time would leave running containers with stale ones, and one that refused to run again
would stop the stack from starting a second time.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from protocol.broker import BrokerUrl
from waystation.cli import app
from waystation.cloud_units import env_line, read_env_file
from waystation.provision import ProvisionError, users_in
from waystation.stack import HEALTH_FILE, StackReport, provision_stack, registry_ids


def write_registry(path: Path, ids: list[str], *, header: str = "id", bom: bool = False) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([header, "name"])
        writer.writerows([sid, f"站 {sid}"] for sid in ids)
    return path


def run(tmp_path: Path, ids: list[str]) -> tuple[dict[str, str], StackReport]:
    report = provision_stack(
        tmp_path / "broker", tmp_path / "secrets", tmp_path / "stations", station_ids=ids,
        broker_host="mosquitto", persistence_dir=tmp_path / "data",
    )  # fmt: skip
    files = {
        p.relative_to(tmp_path).as_posix(): p.read_text()
        for d in ("secrets", "stations")
        for p in sorted((tmp_path / d).iterdir())
    }
    files[HEALTH_FILE] = (tmp_path / "broker" / HEALTH_FILE).read_text()
    return files, report


def test_a_rerun_keeps_every_password_and_adds_only_what_is_missing(
    tmp_path: Path, need_mosquitto: None
) -> None:
    first, report = run(tmp_path, ["sz-0001", "sz-0002"])
    assert sorted(report.created) == [
        "cloud-api", "cloud-health", "cloud-ingest-1", "cloud-ingest-2", "sz-0001", "sz-0002",
    ]  # fmt: skip
    api = BrokerUrl.parse(read_env_file(tmp_path / "secrets" / "api.env")["WAYSTATION_BROKER"])
    assert (api.username, api.host, api.port) == ("cloud-api", "mosquitto", 1883)
    again, report = run(tmp_path, ["sz-0001", "sz-0002", "sz-0003"])
    assert report.created == ["sz-0003"]
    assert {k: v for k, v in again.items() if k in first} == first
    (tmp_path / "secrets" / "ingest-2.env").unlink()  # a lost file: that login gets a new one
    third, report = run(tmp_path, ["sz-0001", "sz-0002", "sz-0003"])
    assert report.created == ["cloud-ingest-2"]
    assert third["secrets/ingest-2.env"] != first["secrets/ingest-2.env"]
    assert {"cloud-trust", "cloud-health", "sz-0003"} <= users_in(tmp_path / "broker" / "passwd")
    assert "allow_anonymous false" in (tmp_path / "broker" / "mosquitto.conf").read_text()


def test_registry_ids_read_excel_csv_and_refuse_cloud_names(tmp_path: Path) -> None:
    ids = registry_ids(write_registry(tmp_path / "a.csv", ["sz-0001"], header="编号", bom=True))
    assert ids == ["sz-0001"]
    with pytest.raises(ProvisionError, match="cloud logins"):
        registry_ids(write_registry(tmp_path / "b.csv", ["cloud-api"]))
    with pytest.raises(ProvisionError, match="no station id column"):
        registry_ids(write_registry(tmp_path / "c.csv", ["sz-0001"], header="station"))


def test_env_files_read_back_what_env_line_writes(tmp_path: Path) -> None:
    values = {"A": "mqtt://u:p%40@h:1883", "B": 'with "quotes" and \\ and spaces', "C": ""}
    path = tmp_path / "x.env"
    path.write_text("# comment\n\n" + "".join(env_line(k, v) for k, v in values.items()))
    assert read_env_file(path) == values
    path.write_text("not a line\n")
    with pytest.raises(ValueError, match=r"x\.env:1"):
        read_env_file(path)


def test_the_root_env_file_option_sets_the_environment_before_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`cloud migrate --check` exits 1 on a database behind head: it must have read the
    database from the file (an unset WAYSTATION_DB would mean the default, a different one)."""
    monkeypatch.delenv("WAYSTATION_DB", raising=False)
    db = tmp_path / "from-file.db"
    env = tmp_path / "cloud.env"
    env.write_text(env_line("WAYSTATION_DB", f"sqlite:///{db}"))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["--env-file", str(env), "cloud", "migrate"])
    assert result.exit_code == 0, result.output
    assert db.exists()
    assert os.environ["WAYSTATION_DB"] == f"sqlite:///{db}"
    env.write_text("oops\n")
    # Relative (we are in tmp_path): the error box wraps at the terminal's width, and a long
    # temporary path would be cut short under pytest-xdist's narrower one.
    result = CliRunner().invoke(app, ["--env-file", "cloud.env", "cloud", "migrate"])
    assert result.exit_code == 2
    assert "cloud.env:1" in result.output


def test_sim_fleet_without_a_stations_password_file_stops_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "pw").mkdir()
    result = CliRunner().invoke(
        app, ["sim", "fleet", "--stations", "2", "--password-dir", str(tmp_path / "pw"),
              "--workdir", str(tmp_path / "fleet")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert ".password" in result.output
    assert "Traceback" not in result.output
