"""`waystation edge …`: run a station agent, and the installer's scan and verify tools."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from waystation import logs
from waystation.logs import LogFormat, LogFormatOpt, LogLevelOpt

if TYPE_CHECKING:
    from edge.agent import Agent
    from edge.systemd import Notifier

app = typer.Typer(help="The station agent and its installer tools.", no_args_is_help=True)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}


SIMULATE = typer.Option(
    "--simulate-hardware",
    help="drive simulated GPIO pins (gpiozero mock): for a machine without a Pi's GPIO only; "
    "on a Pi the lock relay would never switch",
)


def _pins(simulate: bool) -> object | None:
    """The pin factory (`edge.hw.pins`), or exit 2 with its one-line fix on stderr."""
    from edge.hw.pins import NoGpioError, pin_factory

    try:
        return pin_factory(simulate=simulate)
    except NoGpioError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def run(
    config: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="station TOML")],
    simulate_hardware: Annotated[bool, SIMULATE] = False,
    log_level: LogLevelOpt = None,
    log_format: LogFormatOpt = LogFormat.TEXT,
) -> None:
    """Run the station agent: camera → decision → door → journal → MQTT, until SIGTERM."""
    from pydantic import ValidationError

    from edge.agent import Agent, Ports
    from edge.camera.capture import make_source
    from edge.config import load_config
    from edge.hw.door_inputs import GpioDoorInputs
    from edge.hw.indicators import gpio_feedback
    from edge.hw.relay import GpioRelay
    from edge.link.mqtt import Link
    from edge.sensors import SensorPoller
    from edge.systemd import Notifier
    from waystation.runtime import wait_for_signal

    logs.setup(log_level, log_format)
    try:
        cfg = load_config(config)
    except ValidationError as exc:
        typer.echo(f"{config}: {exc}", err=True)
        raise typer.Exit(2) from exc
    pins = _pins(simulate_hardware)
    door = GpioRelay(cfg.door, pin_factory=pins)  # type: ignore[arg-type]
    sensors = GpioDoorInputs(cfg.door, pin_factory=pins)  # type: ignore[arg-type]
    source = make_source(cfg.camera.source, width=cfg.camera.width, height=cfg.camera.height)
    probes = SensorPoller([s.build() for s in cfg.sensors])  # off the door loop: 1-Wire is slow
    feedback = None  # none without [feedback]: the door behaves as it always did
    if cfg.feedback.active:  # LEDs and buzzer on the relay's pins, voice through the player
        feedback = gpio_feedback(cfg.feedback, pins)  # type: ignore[arg-type]
    ports = Ports(relay=door, door_inputs=sensors, source=source,  # type: ignore[arg-type]
                  station_sensors=probes.sensors, feedback=feedback)  # fmt: skip
    agent = Agent(cfg, ports, uplink=Link)
    probes.start()
    agent.start()
    metrics = None
    if cfg.metrics_port is not None:
        from edge.metrics import MetricsServer

        metrics = MetricsServer(agent, cfg.metrics_port, cfg.metrics_host)
        try:
            metrics.start()
        except OSError as exc:  # the door matters more than its metrics: say so and go on
            logging.getLogger(__name__).error("metrics port %s: %s", cfg.metrics_port, exc)
            metrics = None
    stop = threading.Event()
    loop = threading.Thread(target=agent.run, args=(stop,), name="door-loop", daemon=True)
    loop.start()
    watchdog = threading.Thread(
        target=feed_watchdog, args=(agent, stop, Notifier()), name="watchdog", daemon=True
    )
    watchdog.start()
    try:
        wait_for_signal(stop)
    finally:
        stop.set()
        loop.join(5)
        if metrics is not None:
            metrics.stop()
        agent.stop(clean=True)
        probes.stop()


def feed_watchdog(agent: Agent, stop: threading.Event, notifier: Notifier) -> None:
    """READY=1 once the door loop turns, then WATCHDOG=1 only while it keeps turning: a loop
    stuck in a driver call stops the feeding and systemd restarts the agent."""
    if not notifier.enabled:
        return
    interval = notifier.watchdog_interval_s or 5.0
    while not stop.wait(0.1) and agent.loop_tick is None:
        pass
    notifier.ready()
    last_seen = agent.loop_tick
    while not stop.wait(interval):
        tick = agent.loop_tick
        if tick is not None and tick != last_seen:
            notifier.watchdog()
            last_seen = tick
    notifier.stopping()


def _inputs(paths: list[Path]) -> list[Path]:
    """Image and video files named, and those found (recursively) in directories named."""
    from edge.camera.capture import VIDEO_SUFFIXES

    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES
            )
        else:
            found.append(path)
    return found


def _frames(path: Path) -> Iterator[tuple[str, object]]:
    """(label, frame) for an image, or for each frame of a video (`path#frame`)."""
    import cv2

    from edge.camera.capture import VIDEO_SUFFIXES, video_frames

    if path.suffix.lower() in VIDEO_SUFFIXES:
        for i, frame in enumerate(video_frames(path)):
            yield f"{path}#{i}", frame
        return
    yield str(path), cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


@app.command()
def scan(
    paths: Annotated[list[Path], typer.Argument(exists=True, help="image files or directories")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Decode QR codes in images or videos with the door's decoder cascade (camera self-test).

    Prints each code's text as it was meant (Shift-JIS, GB18030, an ECI's charset), which for
    a member code is exactly what the door verifies (every code of a photo that holds
    several: `texts` in JSON, `|` between them), and the cascade step that read it (a
    `/2`, `/4` step read a halved copy: the code was too near the lens or out of focus).
    Exit 1 if any image (or every frame of a video) had no readable code.
    """
    from edge.camera.cascade import CascadeDecoder

    decoder = CascadeDecoder()
    misses = 0
    for path in _inputs(paths):
        read_any = False
        for label, frame in _frames(path):
            start = time.perf_counter()
            codes = decoder.read(frame) if frame is not None else []
            ms = round((time.perf_counter() - start) * 1000, 3)
            texts = [code.text for code in codes]  # true texts: charset and ECI honoured
            text = texts[0] if texts else None  # a photo may hold several codes
            read_any |= text is not None
            if not _is_video(path):
                misses += text is None
            step = decoder.last_step  # e.g. zxing_deblur/2: read deblurred on a halved copy
            if as_json:
                line = {"path": label, "text": text, "texts": texts, "ms": ms, "step": step}
                typer.echo(json.dumps(line, ensure_ascii=False))
            else:
                shown = " | ".join(texts) if texts else "(no code)"
                typer.echo(f"{label}: {shown}  [{ms} ms{f', {step}' if step else ''}]")
        if _is_video(path) and not read_any:  # a video passes if any frame read
            misses += 1
    if misses:
        raise typer.Exit(1)


def _is_video(path: Path) -> bool:
    from edge.camera.capture import VIDEO_SUFFIXES

    return path.suffix.lower() in VIDEO_SUFFIXES


@app.command()
def verify(
    text: Annotated[str, typer.Argument(help="the scanned QR text (WS1:… or WS2:…)")],
    trust: Annotated[
        Path,
        typer.Option(
            exists=True, file_okay=False, help="dir with anchor.pem, trust.json, revocations.json"
        ),
    ],
    at: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"], help="ISO time, UTC"),
    ] = None,
    window: Annotated[int, typer.Option(min=1, max=3600, help="presentation window, s")] = 30,
) -> None:
    """Decide on one code as the door would; prints JSON, exit 0 if granted, 1 if denied."""
    from edge.access.trustfiles import TrustStore
    from protocol.credential import VerifyPolicy
    from protocol.credential import verify as verify_text

    store = TrustStore(trust)
    anchor = store.load_anchor()
    trust_list = store.load_trust(anchor)
    revocations = store.load_revocations(anchor)
    now = (at or datetime.now(UTC)).replace(tzinfo=(at.tzinfo if at and at.tzinfo else UTC))
    decision = verify_text(
        text,
        issuers=trust_list.issuers() if trust_list else {},
        revoked=revocations.revoked() if revocations else frozenset(),
        now=now,
        policy=VerifyPolicy(window_s=window),
    )
    out = {
        "granted": decision.granted,
        "reason": decision.reason.value,
        "credential": decision.credential,
        "kid": decision.kid,
        "serial": decision.serial,
        "detail": decision.detail,
        "trust_version": trust_list.version if trust_list else None,
        "revocation_version": revocations.version if revocations else None,
    }
    typer.echo(json.dumps(out))
    if not decision.granted:
        raise typer.Exit(1)


@app.command()
def count(
    video: Annotated[Path, typer.Argument(help="a recording from the counting camera")],
    line: Annotated[
        str, typer.Option(help="counting line X1,Y1,X2,Y2 in the video's pixels (origin top-left)")
    ],
    inside: Annotated[str, typer.Option(help="X,Y: any point on the station's side of the line")],
    as_json: Annotated[
        bool, typer.Option("--json", help='one object {"entries", "exits", "frames", …}')
    ] = False,
) -> None:
    """Count people crossing the line in a video (camera placement check); exit 2 on bad input.

    An entry is a crossing towards the inside point, an exit the other way.
    """
    from edge.footfall.video import CountError, count_video, make_config

    try:
        result = count_video(video, make_config(line, inside))
    except CountError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    else:
        typer.echo(
            f"{video}: {result.entries} entries, {result.exits} exits "
            f"({result.frames} frames, {result.ms_per_frame} ms/frame)"
        )


@app.command()
def selftest(
    config: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="station TOML")],
    seconds: Annotated[
        float, typer.Option(min=1, max=600, help="how long to read the camera, s")
    ] = 10.0,
    click_relay: Annotated[
        bool | None,
        typer.Option(
            "--click-relay/--no-click-relay",
            help="click the lock relay once; if not given, asked on a terminal (never without)",
        ),
    ] = None,
    broker_timeout: Annotated[
        float, typer.Option(min=1, max=120, help="broker login timeout, s")
    ] = 10.0,
    simulate_hardware: Annotated[bool, SIMULATE] = False,
) -> None:
    """The installer's test at the door, with the agent stopped: camera, QR, inputs, relay,
    trust directory, broker login. One line per check; exit 1 if any failed.

    Hold a member code up to the camera, open and close the door and press the exit button
    while the camera is read.
    """
    import sys

    from pydantic import ValidationError

    from edge.camera.capture import make_source
    from edge.config import load_config
    from edge.hw.door_inputs import GpioDoorInputs
    from edge.hw.relay import GpioRelay
    from edge.selftest import (
        Check,
        check_broker,
        check_trust,
        read_inputs,
        survey_camera,
    )
    from edge.selftest import click_relay as click

    logging.basicConfig(level=logging.CRITICAL)  # each check says what went wrong itself
    try:
        cfg = load_config(config)
    except ValidationError as exc:
        typer.echo(f"{config}: {exc}", err=True)
        raise typer.Exit(2) from exc
    pins = _pins(simulate_hardware)
    checks: list[Check] = []

    def report(*found: Check) -> None:
        checks.extend(found)
        for check in found:
            typer.echo(check.line())

    inputs = GpioDoorInputs(cfg.door, pin_factory=pins)  # type: ignore[arg-type]
    try:
        inputs.open()  # before the camera run: what the door does meanwhile is counted
    except Exception as exc:  # pins busy (the agent runs), no permission (gpio group)
        inputs = None
        report(Check("door_inputs", "FAIL", str(exc)))
    typer.echo(
        f"reading camera {cfg.camera.source!r} for {seconds:g} s: show a member code, "
        "open and close the door, press the exit button",
        err=True,
    )
    source = make_source(cfg.camera.source, width=cfg.camera.width, height=cfg.camera.height)
    report(*survey_camera(source, seconds))  # type: ignore[arg-type]
    if inputs is not None:
        report(read_inputs(inputs))
        inputs.close()
    if click_relay is None:
        click_relay = sys.stdin.isatty() and typer.confirm(
            "Click the lock relay once now?", default=False
        )
    if click_relay:
        relay = GpioRelay(cfg.door, pin_factory=pins)  # type: ignore[arg-type]
        report(click(relay, cfg.door.pulse_s, pin=cfg.door.relay_pin))
    else:
        report(Check("relay", "SKIP", "not clicked (--click-relay, or answer y)"))
    report(*check_trust(cfg.access.trust_dir, datetime.now(UTC)))
    report(check_broker(cfg, broker_timeout))
    if any(check.failed for check in checks):
        raise typer.Exit(1)
