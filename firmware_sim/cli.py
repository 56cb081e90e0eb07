"""`waystation sim …`: simulated stations against a real broker."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Simulated station hardware and fleets.", no_args_is_help=True)


@app.command()
def fleet(
    stations: Annotated[int, typer.Option(min=1, max=20_000, help="number of stations")] = 20,
    broker: Annotated[str, typer.Option(help="mqtt://host:port of the broker")] = (
        "mqtt://127.0.0.1:1883"
    ),
    seed: Annotated[int, typer.Option(help="same seed, same stations, keys and traffic")] = 1,
    city: Annotated[str, typer.Option(help="shenzhen, beijing, shanghai or hangzhou")] = "shenzhen",
    registry: Annotated[
        Path | None,
        typer.Option(help="first write the stations' registry CSV here (for `stations import`)"),
    ] = None,
    registry_only: Annotated[
        bool, typer.Option(help="write the registry and exit without running")
    ] = False,
    protocol: Annotated[int, typer.Option(help="MQTT protocol: 5 or 311")] = 5,
    visit_interval: Annotated[
        float, typer.Option(min=0.1, help="mean seconds between visits at one station")
    ] = 20.0,
    telemetry_interval: Annotated[float, typer.Option(min=0.5, help="heartbeat period, s")] = 30.0,
    workdir: Annotated[Path, typer.Option(help="station journals and trust dirs")] = Path(
        "waystation-fleet"
    ),
    for_: Annotated[
        float | None, typer.Option("--for", min=1, help="stop after this many seconds")
    ] = None,
) -> None:
    """Run N simulated stations (real agents on mock pins) whose workers scan member codes."""
    from firmware_sim.fleet import make_records, write_registry_csv
    from protocol.broker import BrokerUrl

    if protocol not in (5, 311):
        raise typer.BadParameter("--protocol must be 5 or 311")
    try:
        BrokerUrl.parse(broker)
        records = make_records(stations, seed=seed, city=city)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if registry is not None:
        write_registry_csv(records, registry)
        typer.echo(f"registry of {len(records)} stations written to {registry}")
    if registry_only:
        return

    from firmware_sim.fleet import Fleet
    from firmware_sim.union import SimUnion
    from waystation.runtime import wait_for_signal

    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    sim = Fleet(
        records,
        SimUnion.create(seed),
        broker_url=broker,
        workdir=workdir,
        mqtt_protocol=protocol,
        visit_interval_s=visit_interval,
        telemetry_interval_s=telemetry_interval,
        seed=seed,
    )
    sim.start()
    typer.echo(f"{stations} stations running against {BrokerUrl.parse(broker)}; Ctrl-C stops")
    stop = threading.Event()
    started = time.monotonic()
    try:
        wait_for_signal(stop, for_)
    finally:
        sim.stop(clean=True)
    s = sim.stats
    typer.echo(
        f"ran {time.monotonic() - started:.0f} s: visits {s.visits}, granted {s.granted}, "
        f"denied {s.denied}, unread {s.unread}, errors {s.errors}"
    )


@app.command("footfall-video")
def footfall_video(
    out: Annotated[Path, typer.Argument(help="video file to write (.avi: MJPG, .mp4: mp4v)")],
    scene: Annotated[
        str, typer.Option(help="singles, groups, turn_backs, lights, faults or mixed")
    ] = "mixed",
    seed: Annotated[int, typer.Option(help="same seed, same video")] = 1,
    events: Annotated[int, typer.Option(min=1, max=10_000, help="arrivals (a group is one)")] = 24,
    width: Annotated[int, typer.Option(help="frame width; height is 3/4 of it")] = 320,
) -> None:
    """Render an overhead footfall scene to a video file and print its ground truth and the
    `waystation edge count` arguments for it."""
    import json

    from firmware_sim.overhead import make_scene, write_video

    if width < 80 or width % 4:
        raise typer.BadParameter("--width must be a multiple of 4, at least 80")
    try:
        sim = make_scene(scene, seed, events=events, size=(width, width * 3 // 4))
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    frames = write_video(sim, out)
    line = ",".join(f"{v:g}" for v in sim.line)
    inside = ",".join(f"{v:g}" for v in sim.inside)
    truth = sim.truth
    typer.echo(
        json.dumps(
            {
                "path": str(out),
                "scene": scene,
                "seed": seed,
                "frames": frames,
                "entries": truth.entries,
                "exits": truth.exits,
                "line": line,
                "inside": inside,
            }
        )
    )
