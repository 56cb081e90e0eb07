"""`waystation edge verify|scan|run`: the installer's tools and the station agent process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
import segno
from paho.mqtt.enums import CallbackAPIVersion
from typer.testing import CliRunner

from edge.config import load_config
from firmware_sim.scenes import render_empty, render_phone_qr
from firmware_sim.union import SimUnion
from firmware_sim.wallet import Wallet
from protocol import topics
from protocol.credential import VerifyPolicy
from tests.support.wait import wait_for
from waystation.cli import app
from waystation.mosquitto import MosquittoProcess

WAYSTATION = Path(sys.executable).with_name("waystation")
WINDOW_S = VerifyPolicy().window_s


@pytest.fixture
def union() -> SimUnion:
    return SimUnion.create(11)


@pytest.fixture
def wallet(union: SimUnion) -> Wallet:
    return union.enroll("member-1")


def verify(trust: Path, text: str, *extra: str) -> tuple[int, dict]:
    result = CliRunner().invoke(app, ["edge", "verify", "--trust", str(trust), *extra, text])
    return result.exit_code, json.loads(result.stdout)


# --- edge verify ------------------------------------------------------------------------------


def test_verify_grants_a_fresh_presentation(
    union: SimUnion, wallet: Wallet, tmp_path: Path
) -> None:
    trust = union.write_trust_dir(tmp_path / "trust")
    code, out = verify(trust, wallet.present(int(time.time())))
    assert code == 0
    assert out["granted"] is True
    assert out["reason"] == "granted"
    assert out["serial"] == wallet.serial
    assert out["trust_version"] == union.trust.version


def test_verify_refuses_garbage_as_malformed(union: SimUnion, tmp_path: Path) -> None:
    trust = union.write_trust_dir(tmp_path / "trust")
    code, out = verify(trust, "not a member code")
    assert code == 1
    assert (out["granted"], out["reason"]) == (False, "malformed")


def test_verify_refuses_a_revoked_member(union: SimUnion, wallet: Wallet, tmp_path: Path) -> None:
    union.revoke(wallet.serial)
    trust = union.write_trust_dir(tmp_path / "trust")
    code, out = verify(trust, wallet.present(int(time.time())))
    assert code == 1
    assert (out["granted"], out["reason"]) == (False, "revoked")
    assert out["revocation_version"] == union.revocations.version


@pytest.mark.parametrize(
    ("offset_s", "tz", "fmt", "reason"),
    [
        pytest.param(-4 * WINDOW_S, UTC, "%Y-%m-%dT%H:%M:%S%z", "stale_presentation", id="past"),
        pytest.param(4 * WINDOW_S, UTC, "%Y-%m-%dT%H:%M:%S%z", "stale_presentation", id="future"),
        pytest.param(WINDOW_S // 3, UTC, "%Y-%m-%dT%H:%M:%S", "granted", id="naive-is-utc"),
        pytest.param(
            WINDOW_S // 3, timezone(timedelta(hours=8)), "%Y-%m-%dT%H:%M:%S%z", "granted",
            id="beijing-offset",
        ),
    ],
)  # fmt: skip
def test_verify_decides_at_the_given_time(
    union: SimUnion,
    wallet: Wallet,
    tmp_path: Path,
    offset_s: int,
    tz: timezone,
    fmt: str,
    reason: str,
) -> None:
    trust = union.write_trust_dir(tmp_path / "trust")
    # An hour ago: `now` would call it stale, so a grant proves --at was used.
    t = int(time.time()) - 3600
    at = datetime.fromtimestamp(t + offset_s, UTC).astimezone(tz).strftime(fmt)
    code, out = verify(trust, wallet.present(t), "--at", at, "--window", str(WINDOW_S))
    assert out["reason"] == reason
    assert code == (0 if reason == "granted" else 1)


def test_verify_with_a_missing_trust_dir_is_a_usage_error(wallet: Wallet, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["edge", "verify", "--trust", str(tmp_path / "nope"), wallet.present(0)]
    )
    assert result.exit_code == 2
    assert "--trust" in result.output


# --- edge scan --------------------------------------------------------------------------------


def write_qr_png(path: Path, text: str, seed: int) -> Path:
    assert cv2.imwrite(str(path), render_phone_qr(text, rng=np.random.default_rng(seed)))
    return path


def scan(*paths: Path) -> tuple[int, list[dict]]:
    result = CliRunner().invoke(app, ["edge", "scan", "--json", *map(str, paths)])
    return result.exit_code, [json.loads(line) for line in result.stdout.splitlines()]


def test_scan_reports_every_image_and_fails_on_a_miss(union: SimUnion, tmp_path: Path) -> None:
    now = int(time.time())
    texts = {}
    for seed, name in enumerate(("a.png", "b.png")):
        text = union.enroll(name).present(now)
        texts[str(write_qr_png(tmp_path / name, text, seed))] = text
    blank = tmp_path / "blank.png"
    assert cv2.imwrite(str(blank), render_empty(rng=np.random.default_rng(3)))
    (tmp_path / "notes.txt").write_text("not an image", encoding="utf-8")

    code, lines = scan(tmp_path)

    assert code == 1
    assert sorted(line["path"] for line in lines) == sorted([*texts, str(blank)])
    for line in lines:
        assert line["text"] == texts.get(line["path"])  # None for the empty doorway
        assert isinstance(line["ms"], int | float)
        assert line["ms"] >= 0
        assert line["step"] == ("zxing" if line["text"] else None)
        assert line["texts"] == ([line["text"]] if line["text"] else [])


def test_scan_decodes_the_member_code_and_succeeds_when_all_read(
    union: SimUnion, tmp_path: Path
) -> None:
    now = int(time.time())
    texts = {f"m{i}.png": union.enroll(f"m{i}").present(now) for i in range(3)}
    for i, (name, text) in enumerate(texts.items()):
        write_qr_png(tmp_path / name, text, seed=10 + i)

    code, lines = scan(tmp_path)

    assert code == 0
    assert {Path(line["path"]).name: line["text"] for line in lines} == texts


def test_scan_reads_a_video_frame_by_frame(union: SimUnion, tmp_path: Path) -> None:
    text = union.enroll("v").present(int(time.time()))
    frames = [render_empty(rng=np.random.default_rng(1)), render_phone_qr(text)]
    path = tmp_path / "door.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (640, 480))
    for frame in frames:
        writer.write(frame)
    writer.release()

    code, lines = scan(path)

    assert code == 0  # a video passes when any frame reads
    assert [line["path"] for line in lines] == [f"{path}#0", f"{path}#1"]
    assert [line["text"] for line in lines] == [None, text]


def test_scan_reads_far_phones_pyzbar_misses(union: SimUnion, tmp_path: Path) -> None:
    """Story: the installer's self-test used pyzbar alone and failed phones the door reads."""
    from pyzbar import pyzbar

    text = union.enroll("far").present(1_772_366_400)  # the scan does not verify
    missed = []
    for seed in range(6):  # ~1.7 px a module; the certificate signature varies run to run
        frame = render_phone_qr(
            text, code_px=110, blur=0.6, noise=3, rng=np.random.default_rng(seed)
        )
        if not pyzbar.decode(frame):
            missed.append(tmp_path / f"far{seed}.png")
            assert cv2.imwrite(str(missed[-1]), frame)
    assert len(missed) >= 3

    code, lines = scan(*missed)

    assert code == 0
    assert [line["text"] for line in lines] == [text] * len(missed)


def test_scan_prints_every_code_of_a_photo_that_holds_several(tmp_path: Path) -> None:
    """A poster photographed with two codes on it: both texts, the first as `text`."""
    sheet = np.full((400, 700), 255, np.uint8)
    for i, text in enumerate(("驿站 A", "驿站 B")):
        qr = segno.make(text, encoding="utf-8", micro=False)
        path = tmp_path / f"{i}.png"
        qr.save(path, scale=6, border=4)
        code_img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        h, w = code_img.shape
        sheet[40 : 40 + h, 40 + 340 * i : 40 + 340 * i + w] = code_img
    poster = tmp_path / "poster.png"
    assert cv2.imwrite(str(poster), sheet)

    code, lines = scan(poster)

    assert code == 0
    assert sorted(lines[0]["texts"]) == ["驿站 A", "驿站 B"]
    assert lines[0]["text"] == lines[0]["texts"][0]
    plain = CliRunner().invoke(app, ["edge", "scan", str(poster)])
    assert "驿站 A" in plain.stdout
    assert "驿站 B" in plain.stdout


# Codes as Japanese and Chinese apps and posters make them: a byte segment in the text's own
# charset, with or without an ECI designator naming it (segno writes both).
CHARSET_CODES = {
    "shift_jis.png": ("駅のトイレはこちら", {"encoding": "shift_jis", "mode": "byte"}),
    "gb18030.png": ("户外劳动者服务站点 驿站", {"encoding": "gb18030", "mode": "byte"}),
    "gbk_short.png": ("驿站", {"encoding": "gbk", "mode": "byte"}),
    "eci_gb18030.png": ("驿站 饮水 充电", {"encoding": "gb18030", "mode": "byte", "eci": True}),
    "eci_shift_jis.png": ("こんにちは", {"encoding": "shift_jis", "mode": "byte", "eci": True}),
    "eci_utf8.png": ("Grüße aus dem 驿站", {"encoding": "utf-8", "eci": True}),
    "latin1.png": ("Café Situação", {"encoding": "latin-1"}),
}


def test_scan_prints_the_true_text_of_shift_jis_gb18030_and_eci_codes(tmp_path: Path) -> None:
    """Story: real photographs of Shift-JIS and GB18030 codes printed as mojibake."""
    for name, (text, how) in CHARSET_CODES.items():
        segno.make(text, micro=False, **how).save(tmp_path / name, scale=5, border=4)

    code, lines = scan(tmp_path)

    assert code == 0
    printed = {Path(line["path"]).name: line["text"] for line in lines}
    assert printed == {name: text for name, (text, _) in CHARSET_CODES.items()}
    plain = CliRunner().invoke(app, ["edge", "scan", str(tmp_path / "gb18030.png")])
    assert "户外劳动者服务站点 驿站" in plain.stdout


def test_scan_prints_a_phone_code_in_gb18030(tmp_path: Path) -> None:
    """The same through a door camera: the phone, the light and the JPEG stream."""
    text = "驿站：凭会员码入内"
    qr = segno.make(text, encoding="gb18030", mode="byte", micro=False)
    path = tmp_path / "phone.jpg"
    frame = render_phone_qr(qr, jpeg_quality=80, rng=np.random.default_rng(2))
    assert cv2.imwrite(str(path), frame)

    code, lines = scan(path)

    assert (code, [line["text"] for line in lines]) == (0, [text])


# --- edge run ---------------------------------------------------------------------------------


class Subscriber:
    """A test-side MQTT client recording every message on one topic filter."""

    def __init__(self, broker: MosquittoProcess, topic_filter: str) -> None:
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        assert self._subscribed.wait(10), "test subscriber did not subscribe"

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append(msg)

    def payloads(self) -> list[tuple[dict, bool]]:
        with self._lock:
            return [(json.loads(m.payload), bool(m.retain)) for m in self.messages]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def subscribe(mosquitto: MosquittoProcess) -> Iterator[Callable[[str], Subscriber]]:
    opened: list[Subscriber] = []

    def open_(topic_filter: str) -> Subscriber:
        opened.append(Subscriber(mosquitto, topic_filter))
        return opened[-1]

    yield open_
    for sub in opened:
        sub.close()


def write_video(path: Path, text: str, frames: int = 20) -> Path:
    frame = render_phone_qr(text, rng=np.random.default_rng(5))
    height, width = frame.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (width, height))
    assert writer.isOpened(), "OpenCV cannot write MJPG .avi here"
    try:
        for _ in range(frames):
            writer.write(frame)
    finally:
        writer.release()
    return path


def journal_reasons(path: Path) -> list[str]:
    """Reasons of the access events in an agent's journal (read-only, agent still running)."""
    if not path.exists():
        return []
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1) as db:
            rows = db.execute("SELECT payload FROM outbox WHERE kind = 'events'").fetchall()
    except sqlite3.OperationalError:  # table not created yet
        return []
    events = [json.loads(payload) for (payload,) in rows]
    return [e["reason"] for e in events if e.get("type") == "access"]


def test_edge_run_admits_a_member_from_video_and_stops_cleanly_on_sigterm(
    union: SimUnion,
    wallet: Wallet,
    mosquitto: MosquittoProcess,
    subscribe: Callable[[str], Subscriber],
    tmp_path: Path,
) -> None:
    sid = "sz-cli-0001"
    trust = union.write_trust_dir(tmp_path / "trust")
    video = write_video(tmp_path / "door.avi", wallet.present(int(time.time())))
    journal = tmp_path / "journal" / "journal.db"
    config = tmp_path / "station.toml"
    config.write_text(
        f'station_id = "{sid}"\n'
        f'journal_path = "{journal}"\n'
        "telemetry_interval_s = 1\n"
        f'[mqtt]\nbroker = "{mosquitto.url}"\nprotocol = 5\n'
        f'[camera]\nsource = "{video}"\n'
        f'[access]\ntrust_dir = "{trust}"\n',
        encoding="utf-8",
    )
    assert load_config(config).camera.source == str(video)  # the file says what we mean
    events = subscribe(topics.events(sid))
    log_path = tmp_path / "agent.log"

    def granted_on_mqtt() -> bool:
        return any(p.get("type") == "access" and p["granted"] for p, _ in events.payloads())

    # Stand in for systemd: the unit is Type=notify with WatchdogSec (provision station).
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(tmp_path / "notify"))
    notify.settimeout(0.1)
    env = os.environ | {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "1000000"}
    notes: list[bytes] = []

    def drain_notes() -> list[bytes]:
        with contextlib.suppress(TimeoutError):
            while True:
                notes.append(notify.recv(64))
        return notes

    with log_path.open("wb") as log, notify:
        proc = subprocess.Popen(
            [str(WAYSTATION), "edge", "run", "--config", str(config), "--simulate-hardware"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
            env=env,
        )
        try:
            wait_for(
                lambda: granted_on_mqtt() or "granted" in journal_reasons(journal),
                30,
                what=lambda: f"a grant; agent log:\n{log_path.read_text(errors='replace')}",
            )
            assert proc.poll() is None, log_path.read_text(errors="replace")
            wait_for(
                lambda: b"WATCHDOG=1" in drain_notes(), 5, what=lambda: f"WATCHDOG=1 in {notes}"
            )
            assert notes[0] == b"READY=1"
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(10)
            wait_for(
                lambda: b"STOPPING=1" in drain_notes(), 3, what=lambda: f"STOPPING=1 in {notes}"
            )
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    agent_log = log_path.read_text(errors="replace")
    assert code == 0, agent_log
    assert "granted" in journal_reasons(journal), "the grant went through the journal"

    state = subscribe(topics.state(sid))
    wait_for(state.payloads, 5, "a retained state on the broker")
    payload, retained = state.payloads()[-1]
    assert retained
    assert payload["status"] == "offline"


def test_edge_run_refuses_a_config_with_an_unknown_key(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    config.write_text('station_id = "sz-0001"\n[door]\nrelay_pn = 4\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["edge", "run", "--config", str(config)])
    assert result.exit_code == 2
    assert "relay_pn" in result.stderr
