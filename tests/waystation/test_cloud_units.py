"""`waystation provision cloud`: systemd units an operator installs as they are (issue 16.10).

The units are checked by systemd's own parser, and the ingest unit's command line, with its
environment files read as systemd reads them, is run for real against a broker provisioned
and started as documented: worker 1 must log in with its own login and report it on the
metrics port its file names.
"""

from __future__ import annotations

import json
import shlex
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from protocol.broker import BrokerUrl
from waystation.cli import app
from waystation.cloud_units import broker_url
from waystation.mosquitto import MosquittoProcess, free_port
from waystation.provision import provision_broker, users_in

WAYSTATION = str(Path(sys.executable).with_name("waystation"))


@pytest.fixture
def admin_dir() -> Iterator[Path]:
    """Like /etc/mosquitto: world-traversable, so a broker started as root (which drops to
    the `mosquitto` user) can read its files; pytest's own tmp dirs are 0700."""
    path = Path(tempfile.mkdtemp(prefix="waystation-cloud-units-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def env_file(path: Path) -> dict[str, str]:
    """NAME=value lines as systemd reads them (comments skipped, one level of quotes)."""
    values = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, value = line.partition("=")
        values[name] = shlex.split(value)[0] if value.startswith('"') else value
    return values


def exec_start(unit: Path, env: dict[str, str]) -> list[str]:
    """The unit's ExecStart as argv, continuation lines joined and ${VAR} substituted."""
    text = unit.read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    return [
        env[word[2:-1]] if word.startswith("${") else word
        for word in shlex.split(line.removeprefix("ExecStart="))
    ]


def test_units_pass_systemd_and_worker_1_logs_in_as_itself(
    tmp_path: Path, admin_dir: Path, need_mosquitto: None, systemd_analyze: str
) -> None:
    kit = admin_dir / "broker"
    port = free_port()
    provision_broker(kit, port=port, persistence_dir=admin_dir / "data")
    out = tmp_path / "out"
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    result = CliRunner().invoke(app, [
        "provision", "cloud", "--broker-dir", str(kit), "--out", str(out), "--db", db,
        "--exe", WAYSTATION, "--ingest-workers", "3",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "waystation-ingest@3" in result.output
    assert "cloud-ingest-3" in users_in(kit / "passwd")  # a login of its own, in the ACL too
    assert "user cloud-ingest-3" in (kit / "acl").read_text()
    for env in out.glob("*.env"):
        assert stat.S_IMODE(env.stat().st_mode) == 0o600, env
        assert "cloud-ingest-2" not in env.read_text() or env.name == "ingest-2.env"

    # systemd's own parser: keys, sections, an executable ExecStart (the template as @1)
    shutil.copy(out / "waystation-ingest@.service", out / "waystation-ingest@1.service")
    units = ["waystation-api.service", "waystation-ingest@1.service",
             "waystation-maintain.service", "waystation-maintain.timer"]  # fmt: skip
    check = subprocess.run([systemd_analyze, "verify", *units], cwd=out,
                           capture_output=True, text=True, check=False)  # fmt: skip
    assert check.returncode == 0, check.stderr

    env = env_file(out / "cloud.env") | env_file(out / "ingest-1.env")
    assert env["WAYSTATION_DB"] == db
    assert BrokerUrl.parse(env["WAYSTATION_BROKER"]).username == "cloud-ingest-1"
    argv = exec_start(out / "waystation-ingest@1.service", env)
    metrics = int(argv[argv.index("--metrics-port") + 1])
    broker = MosquittoProcess(tmp_path / "mosquitto", port=port, conf_file=kit / "mosquitto.conf")
    broker.start()  # `mosquitto -c D/mosquitto.conf`, the generated file as it is
    worker = subprocess.Popen(argv, env={"PATH": "/usr/bin:/bin", **env}, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        health = wait_healthy(f"http://127.0.0.1:{metrics}/healthz", worker)
        assert health["connected"] is True  # subscribed with the password only its file holds
    finally:
        worker.terminate()
        worker.communicate(timeout=20)  # closes the stderr pipe too
        broker.stop()


def wait_healthy(url: str, worker: subprocess.Popen[bytes], timeout_s: float = 20) -> dict:
    """The first 200 from `url`; fails with the worker's stderr if it exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            assert worker.stderr is not None
            pytest.fail(f"ingest exited {worker.returncode}: {worker.stderr.read().decode()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - http only
                return json.loads(response.read())
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"{url} never answered 200")


def test_broker_url_quotes_the_password_and_brackets_ipv6() -> None:
    url = broker_url(BrokerUrl.parse("mqtts://[::1]:8883"), "cloud-api", "p@ss:w/rd")
    parsed = BrokerUrl.parse(url)
    assert (parsed.host, parsed.port, parsed.tls) == ("::1", 8883, True)
    assert (parsed.username, parsed.password) == ("cloud-api", "p@ss:w/rd")


def test_a_directory_that_is_no_broker_is_one_clear_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["provision", "cloud", "--broker-dir", str(tmp_path),
                                      "--out", str(tmp_path / "out")])  # fmt: skip
    assert result.exit_code == 1
    assert "not a provisioned broker dir" in result.output
    assert not (tmp_path / "out").exists()
