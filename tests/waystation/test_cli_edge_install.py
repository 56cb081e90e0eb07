"""The installer at the door: `edge run` on a machine without GPIO, `edge selftest`, and a
station started before its trust anchor was copied in.

Stories: on a Pi without a GPIO backend `edge run` fell back to mock pins with a WARNING, a
relay that never switched; a station without `anchor.pem` denied everyone while its state
said `online`; and the installer had no one command to check camera, relay, inputs, trust
directory and broker login before leaving.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from firmware_sim.scenes import render_empty, render_phone_qr
from firmware_sim.union import SimUnion
from protocol import topics
from waystation.cli import app
from waystation.mosquitto import MosquittoProcess

WAYSTATION = Path(sys.executable).with_name("waystation")
SID = "sz-0001"
PASSWORD = "station-password-1"


@pytest.fixture
def union() -> SimUnion:
    return SimUnion.create(11)


class Admin:
    """The ops side, logged in as `cloud-admin` (the ACL lets it read every station)."""

    def __init__(self, broker: MosquittoProcess, password: str) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._cond = threading.Condition()
        subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.username_pw_set("cloud-admin", password)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_connect = lambda c, *_: c.subscribe("ws/v1/#", qos=1)
        self.client.connect("127.0.0.1", int(broker.port))
        self.client.loop_start()
        assert subscribed.wait(10), "cloud-admin could not subscribe"

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._cond:
            if msg.payload:
                self.messages.append((msg.topic, json.loads(msg.payload)))
            self._cond.notify_all()

    def wait_for(
        self, predicate: Callable[[str, dict[str, Any]], bool], timeout_s: float
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for topic, data in self.messages:
                    if predicate(topic, data):
                        return data
                left = deadline - time.monotonic()
                assert left > 0, f"nothing matched in {timeout_s} s: {self.messages}"
                self._cond.wait(left)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def frames(directory: Path, text: str | None, count: int = 3) -> Path:
    """A camera's worth of frames: a phone showing `text` at 4 px a module, or the doorway."""
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        rng = np.random.default_rng(i)
        frame = render_phone_qr(text, code_px=260, rng=rng) if text else render_empty(rng=rng)
        cv2.imwrite(str(directory / f"{i:03d}.png"), frame)
    return directory


def station_toml(
    tmp_path: Path, *, broker: str, camera: Path | str, trust: Path, password: str = PASSWORD
) -> Path:
    secret = tmp_path / "station.password"
    secret.write_text(password + "\n", encoding="utf-8")
    config = tmp_path / "station.toml"
    config.write_text(
        f'station_id = "{SID}"\n'
        f'journal_path = "{tmp_path / "data" / "journal.db"}"\n'
        "telemetry_interval_s = 1\n"
        f'[mqtt]\nbroker = "{broker}"\npassword_file = "{secret}"\n'
        "[door]\nrelay_pin = 17\ncontact_pin = 27\nexit_pin = 22\npulse_s = 0.2\n"
        f'[camera]\nsource = "{camera}"\n'
        f'[access]\ntrust_dir = "{trust}"\n',
        encoding="utf-8",
    )
    return config


def selftest(config: Path, *extra: str) -> tuple[int, list[str]]:
    result = CliRunner().invoke(
        app, ["edge", "selftest", "--config", str(config), "--seconds", "1", *extra]
    )
    return result.exit_code, result.stdout.splitlines()


def line(lines: list[str], name: str) -> str:
    [found] = [text for text in lines if text.split(" ", 2)[1:2] == [f"{name}:"]]
    return found


# --- edge run without GPIO -------------------------------------------------------------------


@pytest.mark.parametrize("factory_env", [None, "mock"], ids=["no-backend", "mock-by-env"])
def test_edge_run_refuses_simulated_pins_unless_asked(
    tmp_path: Path, union: SimUnion, factory_env: str | None
) -> None:
    trust = union.write_trust_dir(tmp_path / "trust")
    config = station_toml(tmp_path, broker="mqtt://127.0.0.1:1", camera=tmp_path, trust=trust)
    env = {k: v for k, v in os.environ.items() if k != "GPIOZERO_PIN_FACTORY"}
    if factory_env is not None:
        env["GPIOZERO_PIN_FACTORY"] = factory_env
    proc = subprocess.Popen(
        [str(WAYSTATION), "edge", "run", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        _out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("edge run went on without GPIO: a relay that never switches")
    assert proc.returncode == 2
    [error] = [text for text in err.splitlines() if text.startswith("error:")]
    assert "lgpio" in error
    assert "python3-lgpio" in error
    assert "--simulate-hardware" in error
    assert "Traceback" not in err
    assert not (tmp_path / "data" / "journal.db").exists()  # refused before anything started


# --- a station started without its trust anchor ----------------------------------------------


def test_a_station_without_anchor_is_degraded_until_the_anchor_is_copied_in(
    tmp_path: Path,
    union: SimUnion,
    secure_mosquitto: Callable[[dict[str, str]], MosquittoProcess],
) -> None:
    broker = secure_mosquitto({SID: PASSWORD, "cloud-admin": "admin-pw"})
    trust = tmp_path / "trust"
    trust.mkdir()
    config = station_toml(
        tmp_path, broker=broker.url, camera=frames(tmp_path / "cam", None), trust=trust
    )
    watcher = Admin(broker, "admin-pw")
    log = (tmp_path / "agent.log").open("wb")
    proc = subprocess.Popen(
        [str(WAYSTATION), "edge", "run", "--config", str(config), "--simulate-hardware"],
        stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
    )  # fmt: skip
    try:
        state, events = topics.state(SID), topics.events(SID)
        degraded = watcher.wait_for(lambda t, d: t == state and d["status"] == "degraded", 20)
        assert "trust anchor" in degraded["reason"]
        watcher.wait_for(
            lambda t, d: t == events and d.get("alarm") == "no_trust_anchor"
            and d["state"] == "raised",
            10,
        )  # fmt: skip
        union.write_trust_dir(trust)  # the installer copies the kit in; the agent runs on
        watcher.wait_for(
            lambda t, d: t == events and d.get("alarm") == "no_trust_anchor"
            and d["state"] == "cleared",
            10,
        )  # fmt: skip
        online = watcher.wait_for(lambda t, d: t == state and d["status"] == "online", 10)
        assert online.get("reason") is None
    finally:
        proc.terminate()
        proc.wait(15)
        log.close()
        watcher.close()


# --- edge selftest ---------------------------------------------------------------------------


def test_selftest_passes_at_a_working_door(
    tmp_path: Path,
    union: SimUnion,
    secure_mosquitto: Callable[[dict[str, str]], MosquittoProcess],
) -> None:
    broker = secure_mosquitto({SID: PASSWORD})
    code = union.enroll("m-1").present(int(time.time()))
    config = station_toml(
        tmp_path, broker=broker.url, camera=frames(tmp_path / "cam", code),
        trust=union.write_trust_dir(tmp_path / "trust"),
    )  # fmt: skip
    exit_code, lines = selftest(config, "--simulate-hardware", "--click-relay")
    assert exit_code == 0, lines
    assert [text.split(" ", 2)[:2] for text in lines] == [
        ["PASS", "camera:"], ["PASS", "qr:"], ["PASS", "door_inputs:"], ["PASS", "relay:"],
        ["PASS", "trust_anchor:"], ["PASS", "trust_list:"], ["PASS", "revocations:"],
        ["PASS", "broker:"],
    ]  # fmt: skip
    assert "brightness" in line(lines, "camera")
    assert "fps" in line(lines, "camera")
    qr = line(lines, "qr")
    assert "4.0 px/module" in qr
    assert "read in 3 of 3 frames" in qr
    assert code[:24] in qr
    assert "BCM 27" in line(lines, "door_inputs")
    assert "BCM 22" in line(lines, "door_inputs")
    assert f"logged in as {SID}" in line(lines, "broker")


def test_selftest_names_each_failure_and_never_clicks_unasked(
    tmp_path: Path, secure_mosquitto: Callable[[dict[str, str]], MosquittoProcess]
) -> None:
    broker = secure_mosquitto({SID: PASSWORD})
    old = SimUnion.create(5, now=datetime.now(UTC) - timedelta(hours=30))
    config = station_toml(
        tmp_path, broker=broker.url, camera=frames(tmp_path / "cam", None),
        trust=old.write_trust_dir(tmp_path / "trust"), password="not-the-password",
    )  # fmt: skip
    exit_code, lines = selftest(config, "--simulate-hardware")  # stdin is no terminal: no prompt
    assert exit_code == 1
    assert line(lines, "camera").startswith("PASS")
    assert line(lines, "qr").startswith("FAIL qr: no code in view")
    assert line(lines, "relay").startswith("SKIP relay: not clicked")
    assert line(lines, "trust_anchor").startswith("PASS")
    assert "older than 24 h" in line(lines, "trust_list")
    assert line(lines, "revocations").startswith("FAIL")
    assert line(lines, "broker").startswith(f"FAIL broker: {SID} at")
    assert "wrong password" in line(lines, "broker")


@pytest.mark.parametrize(
    ("anchor", "why"), [(None, "missing"), (b"not a key\n", "not a PEM public key")]
)
def test_selftest_without_camera_anchor_or_broker(
    tmp_path: Path, anchor: bytes | None, why: str
) -> None:
    trust = tmp_path / "trust"
    trust.mkdir()
    if anchor is not None:
        (trust / "anchor.pem").write_bytes(anchor)
    config = station_toml(
        tmp_path, broker="mqtt://127.0.0.1:1", camera=tmp_path / "missing.avi", trust=trust
    )
    exit_code, lines = selftest(config, "--simulate-hardware", "--broker-timeout", "3")
    assert exit_code == 1
    assert line(lines, "camera").startswith("FAIL camera: cannot open")
    assert line(lines, "trust_anchor") == (
        f"FAIL trust_anchor: {trust / 'anchor.pem'}: {why}: every member is refused"
    )
    assert line(lines, "broker").startswith(f"FAIL broker: {SID} at 127.0.0.1:1: cannot connect")
    assert all(text.split(" ", 1)[0] in {"PASS", "FAIL", "SKIP"} for text in lines), lines


def test_selftest_refuses_simulated_pins_unless_asked(tmp_path: Path, union: SimUnion) -> None:
    config = station_toml(
        tmp_path, broker="mqtt://127.0.0.1:1", camera=tmp_path,
        trust=union.write_trust_dir(tmp_path / "trust"),
    )  # fmt: skip
    result = CliRunner().invoke(app, ["edge", "selftest", "--config", str(config)])
    assert result.exit_code == 2
    assert "--simulate-hardware" in result.stderr
    assert result.stdout == ""
    assert json.dumps(result.stderr).count("\\n") == 1  # one line
