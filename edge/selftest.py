"""The installer's self-test at the door: each check of a station's parts, as results.

`waystation edge selftest` (waystation/cli/edge.py) runs these with the agent stopped (the
camera, the pins and the station's broker login are the agent's while it runs) and prints one
line per check. Every check reuses the agent's own parts: the camera source and the decoder
cascade, the gpiozero relay and door inputs, the trust store, the station's MQTT client. A
check never raises: whatever goes wrong becomes a FAIL with the reason in its detail.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import paho.mqtt.client as mqtt

from edge.access.trustfiles import TrustStore
from edge.camera.cascade import CascadeDecoder
from edge.camera.health import is_usable
from edge.camera.qr import to_gray
from edge.camera.sizing import code_sizes
from edge.config import EdgeConfig
from edge.hw.door_inputs import GpioDoorInputs
from edge.link.mqtt import BAD_CREDENTIALS, station_client
from edge.ports import FrameSource, Relay
from protocol.trust import LIST_MAX_AGE_H, RevocationList, TrustList
from protocol.trustdir import ANCHOR_FILE, REVOCATIONS_FILE, TRUST_FILE, AnchorError, parse_anchor

Verdict = Literal["PASS", "FAIL", "SKIP"]
IDLE_S = 0.02  # no frame yet: ask again after this long, seconds
MIN_PX_PER_MODULE = 3.0  # the door reads reliably from here (docs/installer.md)


@dataclass(frozen=True, slots=True)
class Check:
    """One check's outcome; `line()` is what the installer reads."""

    name: str
    verdict: Verdict
    detail: str

    @property
    def failed(self) -> bool:
        return self.verdict == "FAIL"

    def line(self) -> str:
        return f"{self.verdict} {self.name}: {self.detail}"


def _pass(name: str, detail: str) -> Check:
    return Check(name, "PASS", detail)


def _fail(name: str, detail: str) -> Check:
    return Check(name, "FAIL", detail)


# --- camera and QR ---------------------------------------------------------------------------


@dataclass
class _Survey:
    """What the frames of one camera run showed."""

    frames: int = 0
    usable: int = 0
    luma: list[float] = field(default_factory=list)
    with_code: int = 0  # frames where a QR was located or read
    decoded: int = 0  # frames the cascade read a code in
    px_per_module: list[float] = field(default_factory=list)
    texts: dict[str, None] = field(default_factory=dict)


def _look(frame: np.ndarray, survey: _Survey, decoder: CascadeDecoder) -> None:
    """One frame: brightness, the codes' sizes, and what the door's cascade reads."""
    gray = to_gray(frame)
    if gray is None or not is_usable(frame):
        return
    survey.usable += 1
    survey.luma.append(float(gray.mean()))
    sizes = code_sizes(gray)
    codes = decoder.read(frame)
    survey.px_per_module += [s.px_per_module for s in sizes]
    if sizes or codes:
        survey.with_code += 1
    if codes:
        survey.decoded += 1
        survey.texts.update(dict.fromkeys(c.text for c in codes))


def survey_camera(
    source: FrameSource,
    seconds: float,
    *,
    decoder: CascadeDecoder | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> list[Check]:
    """Read the camera for `seconds`: the `camera` check (fps, mean luma 0-255, exposure if
    the driver reports it) and the `qr` check (pixels per module, whether the door reads it)."""
    decoder = decoder or CascadeDecoder()
    try:
        source.open()
    except Exception as exc:  # OSError from OpenCV, anything from a driver
        source.close()  # a live camera's capture thread starts (to retry) even then
        return [_fail("camera", f"cannot open: {exc}"), _fail("qr", "no camera")]
    survey = _Survey()
    start = monotonic()
    try:
        while (elapsed := monotonic() - start) < seconds:
            frame = source.read()
            if frame is None:
                time.sleep(IDLE_S)
                continue
            survey.frames += 1
            _look(frame, survey, decoder)
        exposure = getattr(source, "exposure", lambda: None)()
    except Exception as exc:
        return [_fail("camera", f"read failed: {exc}"), _fail("qr", "no camera")]
    finally:
        source.close()
    return [_camera_check(survey, elapsed, exposure), _qr_check(survey, seconds)]


def _camera_check(survey: _Survey, elapsed_s: float, exposure: float | None) -> Check:
    if survey.frames == 0:
        return _fail("camera", f"no frame in {elapsed_s:.0f} s (unplugged, or in use?)")
    fps = survey.frames / max(elapsed_s, 1e-6)
    if survey.usable == 0:
        return _fail("camera", f"{fps:.1f} fps but every frame is flat (lens covered, dead sensor)")
    shown = "not reported" if exposure is None else f"{exposure:g}"
    luma = statistics.fmean(survey.luma)
    return _pass("camera", f"{fps:.1f} fps, brightness {luma:.0f}/255, exposure {shown}")


def _qr_check(survey: _Survey, seconds: float) -> Check:
    sizes = survey.px_per_module
    size = f"{statistics.median(sizes):.1f} px/module" if sizes else "size unknown"
    if survey.with_code == 0:
        return _fail("qr", f"no code in view in {seconds:g} s: hold a member code to the camera")
    if survey.decoded == 0:
        hint = "; move it closer" if sizes and statistics.median(sizes) < MIN_PX_PER_MODULE else ""
        return _fail("qr", f"a code in view at {size} but never read{hint}")
    texts = ", ".join(t if len(t) <= 24 else f"{t[:24]}…" for t in survey.texts)
    return _pass("qr", f"read in {survey.decoded} of {survey.with_code} frames, {size} ({texts})")


# --- relay and door inputs -----------------------------------------------------------------


def click_relay(relay: Relay, pulse_s: float, *, pin: int) -> Check:
    """Energise the lock relay once for `pulse_s` and see it switch on and back off."""
    try:
        relay.open()
        try:
            relay.pulse(pulse_s)  # gpiozero switches it on its own thread
            switched_on = _within(1.0, lambda: relay.is_active)
            back_off = _within(pulse_s + 1.0, lambda: not relay.is_active)
        finally:
            relay.close()
    except Exception as exc:  # GPIO busy (the agent runs), no permission (gpio group)
        return _fail("relay", f"BCM {pin}: {exc}")
    if not (switched_on and back_off):
        return _fail("relay", f"BCM {pin} did not switch on and off again")
    return _pass("relay", f"clicked once (BCM {pin}, {pulse_s:g} s): the lock should have sounded")


def _within(seconds: float, condition: Callable[[], bool]) -> bool:
    """Whether `condition` holds within `seconds` (polled every 10 ms)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True


def read_inputs(inputs: GpioDoorInputs) -> Check:
    """The door contact and exit button now, and what they did since `inputs.open()`."""
    if inputs.contact_pin is None and inputs.exit_pin is None:
        return Check("door_inputs", "SKIP", "no contact_pin or exit_pin in [door]")
    try:
        happened = inputs.drain()
        door_open, pressed = inputs.door_open, inputs.exit_pressed
    except Exception as exc:
        return _fail("door_inputs", str(exc))
    parts = []
    if inputs.contact_pin is not None:
        moves = happened.count("opened") + happened.count("closed")
        state = "open" if door_open else "closed"
        parts.append(f"door {state} (BCM {inputs.contact_pin}, moved {moves}× during the test)")
    if inputs.exit_pin is not None:
        state = "pressed" if pressed else "released"
        presses = happened.count("exit")
        parts.append(f"exit button {state} (BCM {inputs.exit_pin}, pressed {presses}×)")
    return _pass("door_inputs", "; ".join(parts))


# --- trust directory -----------------------------------------------------------------------


def _list_check(
    name: str, item: TrustList | RevocationList | None, path: Path, now: datetime
) -> Check:
    if item is None:
        why = "missing" if not path.exists() else "not signed by the anchor (or unreadable)"
        return _fail(name, f"{path}: {why}")
    age_h = (now - item.issued_at).total_seconds() / 3600
    detail = f"v{item.version}, signed, issued {age_h:.1f} h ago"
    if age_h > LIST_MAX_AGE_H:
        return _fail(name, f"{detail}: older than {LIST_MAX_AGE_H:g} h (not receiving lists?)")
    return _pass(name, detail)


def check_trust(trust_dir: Path | None, now: datetime) -> list[Check]:
    """The anchor, and the trust and revocation lists signed by it and fresh."""
    if trust_dir is None:
        return [_fail("trust_anchor", "[access] trust_dir is not set: every member is refused")]
    store = TrustStore(trust_dir)
    anchor_path = trust_dir / ANCHOR_FILE
    try:
        anchor = parse_anchor(anchor_path.read_bytes())
    except FileNotFoundError:
        return [_fail("trust_anchor", f"{anchor_path}: missing: every member is refused")]
    except (OSError, AnchorError) as exc:
        return [_fail("trust_anchor", f"{anchor_path}: {exc}: every member is refused")]
    return [
        _pass("trust_anchor", f"{anchor_path}: P-256 public key"),
        _list_check("trust_list", store.load_trust(anchor), trust_dir / TRUST_FILE, now),
        _list_check(
            "revocations", store.load_revocations(anchor), trust_dir / REVOCATIONS_FILE, now
        ),
    ]


# --- broker login --------------------------------------------------------------------------


def check_broker(config: EdgeConfig, timeout_s: float) -> Check:
    """Log in to the broker as the station and disconnect. A clean session: the agent's own
    session (acks and commands queued for it) is not taken over; it starts afresh at the
    agent's next connect, which resends whatever was not acked."""
    cfg, who = config.mqtt, config.mqtt_username
    where = f"{who} at {cfg.url().host}:{cfg.url().port}"
    try:
        client = station_client(config)
    except (OSError, ValueError) as exc:  # the password file, the CA file
        return _fail("broker", f"{where}: {exc}")
    answered = threading.Event()
    outcome: dict[str, Any] = {}

    def on_connect(_c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        outcome["reason"] = reason
        answered.set()

    client.on_connect = on_connect
    client.connect_timeout = timeout_s
    start = time.monotonic()
    try:
        v5 = cfg.protocol == 5
        client.connect(
            cfg.url().host, cfg.url().port, keepalive=cfg.keepalive_s,
            clean_start=True if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
        )  # fmt: skip
    except (OSError, ValueError) as exc:  # refused, unreachable, TLS
        return _fail("broker", f"{where}: cannot connect: {exc}")
    client.loop_start()
    try:
        if not answered.wait(timeout_s):
            return _fail("broker", f"{where}: no answer in {timeout_s:g} s")
        reason = outcome["reason"]
        if reason.is_failure:
            why = "wrong password or unknown login" if reason.value in BAD_CREDENTIALS else ""
            return _fail("broker", f"{where}: refused ({reason}) {why}".rstrip())
        ms = (time.monotonic() - start) * 1000
        return _pass("broker", f"logged in as {where} in {ms:.0f} ms, disconnected")
    finally:
        client.disconnect()
        client.loop_stop()
