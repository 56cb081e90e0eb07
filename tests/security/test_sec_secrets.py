"""Secrets stay out of the repository, the logs and the wire.

- the tracked files hold no private keys or live-looking tokens;
- `waystation cloud ingest` logs its broker without the password, connected or refused;
- settings and broker URLs print without passwords (tracebacks, debug logs);
- what a station sends (state, meta, telemetry, events, footfall) has no field for one.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import BaseModel

from cloud.settings import Settings, hide_password
from protocol import messages
from protocol.broker import BrokerUrl
from tests.support.wait import wait_for
from waystation.mosquitto import MosquittoProcess

ROOT = Path(__file__).resolve().parents[2]
WAYSTATION = str(Path(sys.executable).with_name("waystation"))
SECRET = "Sup3r-secret-pw"

# High-confidence shapes of real secrets (not the word "password" in docs and tests).
SECRET_PATTERNS = {
    "private key": re.compile(
        rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"
    ),
    "ops API token": re.compile(rb"\bwst_[A-Za-z0-9_-]{30,}"),
    "AWS key": re.compile(rb"\bAKIA[0-9A-Z]{16}\b"),
    "GitHub token": re.compile(rb"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(rb"\bxox[abpr]-[A-Za-z0-9-]{10,}"),
}


SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()


def test_repository_holds_no_secrets() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout  # CI runs in a git checkout: no git here is a failure, not a skip
    # This file holds the patterns and fake samples that must match them.
    files = [ROOT / name for name in listed.decode().split("\0") if name and name != SELF]
    assert len(files) > 100
    found = []
    for path in files:
        if not path.is_file():
            continue  # deleted in the working tree
        data = path.read_bytes()
        found += [f"{path.relative_to(ROOT)}: {what}" for what, rx in SECRET_PATTERNS.items()
                  if rx.search(data)]  # fmt: skip
    assert not found, found


def test_patterns_would_catch_a_secret() -> None:
    """The scan above is only worth something if its patterns match real secrets."""
    samples = [
        b"-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE",
        b"token: wst_" + b"A" * 43,
        b"AKIAIOSFODNN7EXAMPLE",
    ]
    for sample in samples:
        assert any(rx.search(sample) for rx in SECRET_PATTERNS.values()), sample


def test_settings_and_urls_print_without_passwords() -> None:
    settings = Settings(
        broker=f"mqtt://cloud:{SECRET}@mqtt.example.org:8883",
        db=f"postgresql+psycopg://waystation:{SECRET}@db.example.org/waystation",
    )
    for text in (
        repr(settings),
        str(settings),
        repr(settings.broker_url),
        str(settings.broker_url),
    ):
        assert SECRET not in text
    assert "mqtt://cloud:***@mqtt.example.org:8883" in repr(settings)
    assert settings.broker_url.password == SECRET  # still usable, only never printed
    assert hide_password(f"mqtts://u:p@ss:{SECRET}@h:1/") == "mqtts://u:***@h:1/"
    assert hide_password("sqlite:///waystation.db") == "sqlite:///waystation.db"
    assert SECRET not in repr(BrokerUrl.parse(f"mqtt://st-1:{SECRET}@h"))


def test_station_payloads_have_no_secret_fields() -> None:
    """Telemetry and the rest carry declared fields only (`to_bytes` dumps the model), and
    none of them is for a password, token or key."""
    edge_to_cloud: list[type[BaseModel]] = [
        messages.StatePayload,
        messages.MetaPayload,
        messages.TelemetryPayload,
        messages.AccessEvent,
        messages.DoorEvent,
        messages.AlarmEvent,
        messages.FootfallPayload,
        messages.CmdResultPayload,
    ]
    secretish = re.compile(r"pass|secret|token|private|credential|key", re.IGNORECASE)
    for model in edge_to_cloud:
        named = [f for f in model.model_fields if secretish.search(f)]
        if model is messages.AccessEvent:  # which code format was shown, not the code
            assert named == ["credential"]
            assert str(model.model_fields["credential"].annotation) == (
                "typing.Optional[typing.Literal['ws1', 'ws2']]"
            )
            continue
        assert not named, (model.__name__, named)
    telemetry = messages.TelemetryPayload(sid="st-001", uptime_s=1, sensors={"fridge_c": 4.0})
    sensors = messages.TelemetryPayload.model_fields["sensors"].annotation
    assert sensors == dict[messages.Name, float]  # names (no control characters) to numbers
    assert b"password" not in telemetry.to_bytes()


@pytest.mark.integration
def test_cloud_ingest_logs_hide_the_broker_password(
    secure_mosquitto: Callable[[dict[str, str]], MosquittoProcess], tmp_path: Path
) -> None:
    broker = secure_mosquitto({"cloud": SECRET})
    db = f"sqlite:///{tmp_path / 'ingest.db'}"
    # the right password: runs until stopped
    good = _ingest(f"mqtt://cloud:{SECRET}@127.0.0.1:{broker.port}", db)
    output = _read_until(good, "connected, subscribed")
    good.send_signal(signal.SIGTERM)
    output += good.communicate(timeout=30)[0]
    assert f"connecting to mqtt://cloud@127.0.0.1:{broker.port}" in output
    assert "connected, subscribed" in output
    assert SECRET not in output
    # a wrong one: refused, says why, still without the password
    wrong = SECRET[::-1]
    bad = _ingest(f"mqtt://cloud:{wrong}@127.0.0.1:{broker.port}", db)
    output = _read_until(bad, "broker refused")
    output += bad.communicate(timeout=30)[0]  # a refused login ends the process by itself
    assert bad.returncode == 2  # "ingest stopped: …" and exit 2 for a refused login
    assert "broker refused" in output
    assert wrong not in output


def test_a_sigterm_while_cloud_ingest_starts_stops_it_cleanly(
    secure_mosquitto: Callable[[dict[str, str]], MosquittoProcess], tmp_path: Path
) -> None:
    """systemd's stop can come while ingest is still starting its monitor and notifier
    process: the signal handler was installed only after those, so such a SIGTERM killed the
    process outright (-15, nothing flushed or closed) instead of stopping it (exit 0)."""
    broker = secure_mosquitto({"cloud": SECRET})
    proc = _ingest(
        f"mqtt://cloud:{SECRET}@127.0.0.1:{broker.port}", f"sqlite:///{tmp_path / 'i.db'}"
    )
    _read_until(proc, "connecting to")  # the worker has started; the rest is starting
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=30)
    assert proc.returncode == 0


def _ingest(broker: str, db: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [WAYSTATION, "cloud", "ingest", "--broker", broker, "--db", db],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _read_until(proc: subprocess.Popen[str], needle: str, timeout_s: float = 30.0) -> str:
    """The process's output up to the first line containing `needle` (or the timeout)."""
    assert proc.stdout is not None
    lines: list[str] = []
    found = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if needle in line:
                found.set()
                return

    threading.Thread(target=pump, daemon=True).start()
    wait_for(
        lambda: found.is_set() or proc.poll() is not None,
        timeout_s,
        what=lambda: f"{needle!r} in the output:\n{''.join(lines)}",
        interval_s=0.05,
    )
    assert found.is_set(), "".join(lines)
    return "".join(lines)
