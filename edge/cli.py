"""`waystation edge …`: run a station agent, and the installer's scan and verify tools."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The station agent and its installer tools.", no_args_is_help=True)

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}


def _pin_factory() -> object | None:
    """gpiozero's own factory on a Pi; mock pins anywhere else, said loudly."""
    from gpiozero import Device
    from gpiozero.exc import BadPinFactory
    from gpiozero.pins.mock import MockFactory

    try:
        Device.ensure_pin_factory()
        return None  # None = gpiozero's default
    except BadPinFactory:
        logging.getLogger(__name__).warning(
            "no GPIO on this machine: the lock relay is SIMULATED (gpiozero mock pins)"
        )
        return MockFactory()


@app.command()
def run(
    config: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="station TOML")],
) -> None:
    """Run the station agent: camera → decision → door → journal → MQTT, until SIGTERM."""
    from pydantic import ValidationError

    from edge.agent import Agent
    from edge.camera.capture import OpenCvSource
    from edge.config import load_config
    from edge.door import Door
    from waystation.runtime import LOG_FORMAT, wait_for_signal

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        cfg = load_config(config)
    except ValidationError as exc:
        typer.echo(f"{config}: {exc}", err=True)
        raise typer.Exit(2) from exc
    door = Door(cfg.door, pin_factory=_pin_factory())  # type: ignore[arg-type]
    source = OpenCvSource(cfg.camera.source, width=cfg.camera.width, height=cfg.camera.height)
    agent = Agent(cfg, relay=door, source=source)
    agent.start()
    stop = threading.Event()
    loop = threading.Thread(target=agent.run, args=(stop,), name="door-loop", daemon=True)
    loop.start()
    try:
        wait_for_signal(stop)
    finally:
        stop.set()
        loop.join(5)
        agent.stop(clean=True)


def _images(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(path)
    return found


@app.command()
def scan(
    paths: Annotated[list[Path], typer.Argument(exists=True, help="image files or directories")],
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Decode QR codes in images with the door's decoder (the installer's camera self-test)."""
    import cv2

    from edge.camera.qr import ZbarDecoder

    decoder = ZbarDecoder()
    misses = 0
    for path in _images(paths):
        frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        start = time.perf_counter()
        texts = decoder.decode(frame) if frame is not None else []
        ms = round((time.perf_counter() - start) * 1000, 3)
        text = texts[0] if texts else None
        misses += text is None
        if as_json:
            typer.echo(json.dumps({"path": str(path), "text": text, "ms": ms}, ensure_ascii=False))
        else:
            typer.echo(f"{path}: {text if text is not None else '(no code)'}  [{ms} ms]")
    if misses:
        raise typer.Exit(1)


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
    from edge.access.store import TrustStore
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
