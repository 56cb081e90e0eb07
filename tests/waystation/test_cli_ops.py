"""What operators and deploy pipelines rely on: `--version`, the shared log options (text or
JSON lines, from options or the environment), `cloud migrate [--check]`, and the refusal of a
misspelt `WAYSTATION_*` variable by every command that reads the cloud's settings."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner, Result

from cloud import migrate
from cloud.db import make_engine
from waystation.cli import app
from waystation.mosquitto import free_port

T = TypeVar("T")
WAYSTATION = Path(sys.executable).with_name("waystation")

LONG_RUNNING = [
    ("edge", "run"),
    ("cloud", "serve"),
    ("cloud", "ingest"),
    ("cloud", "maintain"),
    ("cloud", "migrate"),
    ("cloud", "notify", "run"),
    ("sim", "fleet"),
    ("sim", "chaos"),
    ("demo",),
]
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def run(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], env=env)


def json_lines(text: str) -> list[dict[str, object]]:
    """Every line as a JSON object (fails the test on a line that is not one)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_version_prints_the_installed_distribution_version() -> None:
    result = run("--version")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"waystation {metadata.version('waystation')}\n"


@pytest.mark.parametrize("path", LONG_RUNNING, ids=" ".join)
def test_every_long_running_command_takes_the_log_options(path: tuple[str, ...]) -> None:
    result = run(*path, "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for needle in ("--log-level", "--log-format", "WAYSTATION_LOG_LEVEL", "WAYSTATION_LOG_FORMAT"):
        assert needle in result.output


def test_json_logs_from_the_environment_one_object_a_line(tmp_path: Path) -> None:
    # The first run migrates a new database: alembic's INFO lines, in JSON, on stderr.
    result = run(
        "cloud", "maintain", "--db", f"sqlite:///{tmp_path / 'm.db'}",
        env={"WAYSTATION_LOG_FORMAT": "JSON", "WAYSTATION_LOG_LEVEL": "info"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = json_lines(result.stderr)
    assert any(line["logger"] == "alembic.runtime.migration" for line in lines), lines
    for line in lines:
        assert {"ts", "level", "logger", "msg"} <= set(line)
        assert RFC3339_UTC.match(str(line["ts"])), line
        assert line["level"] == "INFO"
    assert "rolled up" in result.stdout  # what the command reports stays plain text


def test_the_option_wins_over_the_environment_and_text_is_the_default(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'm.db'}"
    quiet = run("cloud", "maintain", "--db", db, "--log-level", "warning",
                env={"WAYSTATION_LOG_LEVEL": "DEBUG"})  # fmt: skip
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == ""  # the migrations' INFO lines are below WARNING
    text = run("cloud", "maintain", "--db", f"sqlite:///{tmp_path / 'n.db'}")
    assert text.exit_code == 0, text.output
    assert re.search(
        r"^\S+ \S+ INFO alembic\.runtime\.migration: Running upgrade", text.stderr, re.M
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [({"WAYSTATION_LOG_FORMAT": "xml"}, "WAYSTATION_LOG_FORMAT"),
     ({"WAYSTATION_LOG_LEVEL": "loud"}, "WAYSTATION_LOG_LEVEL")],
)  # fmt: skip
def test_a_bad_log_setting_is_a_usage_error(
    tmp_path: Path, env: dict[str, str], named: str
) -> None:
    result = run("cloud", "maintain", "--db", f"sqlite:///{tmp_path / 'x.db'}", env=env)
    assert result.exit_code == 2
    assert named in result.stderr
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("command", [("cloud", "ingest"), ("cloud", "maintain")], ids=" ".join)
def test_a_misspelt_variable_stops_the_command_in_one_line(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    # Story: `cloud serve` refused WAYSTATION_BATCH_MAXX, but ingest silently ran without it.
    result = run(*command, "--db", f"sqlite:///{tmp_path / 'x.db'}",
                 env={"WAYSTATION_BATCH_MAXX": "200"})  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == (
        "error: WAYSTATION_BATCH_MAXX is not a Waystation setting: "
        "did you mean WAYSTATION_BATCH_MAX?\n"
    )
    assert not (tmp_path / "x.db").exists()  # refused before touching the database


@pytest.mark.empty_db
def test_migrate_check_reports_and_migrate_upgrades(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        migrate.upgrade(engine, "0006")
        behind = run("cloud", "migrate", "--check", "--db", db_url)
        assert behind.exit_code == 1, behind.output
        assert f"database at 0006, head is {migrate.head()}" in behind.stdout
        assert migrate.current(engine) == "0006"  # --check changed nothing

        upgraded = run("cloud", "migrate", "--db", db_url, "--log-level", "error")
        assert upgraded.exit_code == 0, upgraded.output
        assert upgraded.stdout == f"upgraded 0006 → {migrate.head()}\n"
        assert migrate.current(engine) == migrate.head()

        again = run("cloud", "migrate", "--check", "--db", db_url)
        assert again.exit_code == 0, again.output
        assert again.stdout == f"at head {migrate.head()}\n"
    finally:
        engine.dispose()


@pytest.mark.empty_db
def test_migrate_check_on_an_empty_database_creates_nothing(db_url: str) -> None:
    result = run("cloud", "migrate", "--check", "--db", db_url)
    assert result.exit_code == 1, result.output
    assert "head is" in result.stdout
    if db_url.startswith("sqlite"):
        assert "does not exist" in result.stdout
        assert not Path(db_url.removeprefix("sqlite:///")).exists()
        return
    assert "no revision" in result.stdout
    engine = make_engine(db_url)
    try:
        assert inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_migrate_without_a_database_is_one_line_and_exit_2() -> None:
    result = run("cloud", "migrate", "--check", "--db",
                 "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=3")  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr.startswith("error: OperationalError: ")
    assert result.stderr.count("\n") == 1


def test_cloud_serve_logs_the_app_and_uvicorn_as_json_lines(tmp_path: Path) -> None:
    # Story: uvicorn's log config kept the root logger at WARNING: `cloud.*` INFO lines vanished.
    port = free_port()
    err = tmp_path / "serve.err"
    env = os.environ | {"WAYSTATION_LOG_FORMAT": "json"}
    with err.open("wb") as sink:
        proc = subprocess.Popen(
            [str(WAYSTATION), "cloud", "serve", "--port", str(port), "--log-level", "Info",
             "--db", f"sqlite:///{tmp_path / 's.db'}"],
            stdout=subprocess.DEVNULL, stderr=sink, env=env,
        )  # fmt: skip
    try:
        ready = wait_for(lambda: _readyz(port), 60)
        assert ready == (200, "ok")
        lines = wait_for(lambda: _logged(err, "uvicorn.access", "/readyz"), 10)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal it caught
    by_logger = {line["logger"]: line for line in lines}
    app_line = by_logger["cloud.main"]  # the app's own INFO line
    assert app_line["level"] == "INFO"
    assert str(app_line["msg"]).startswith(
        f"schema at {migrate.head()}; nearby index of 0 stations"
    )
    assert "uvicorn.error" in by_logger  # the server's own lines, same format
    assert "alembic.runtime.plugins" not in by_logger  # its set-up chatter stays out at INFO
    for line in lines:
        assert RFC3339_UTC.match(str(line["ts"])), line


def _readyz(port: int) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return r.status, json.loads(r.read())["status"]
    except OSError:
        return None


def _logged(path: Path, logger: str, needle: str) -> list[dict[str, object]] | None:
    """Every JSON line written so far, once one from `logger` contains `needle`."""
    lines = json_lines(path.read_text(encoding="utf-8"))
    found = any(line["logger"] == logger and needle in str(line["msg"]) for line in lines)
    return lines if found else None


def wait_for(probe: Callable[[], T | None], timeout_s: float) -> T:
    deadline = time.monotonic() + timeout_s
    while (value := probe()) is None:
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return value
