"""`waystation sim …`: simulated stations against a real broker."""

from __future__ import annotations

import logging
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from waystation import logs
from waystation.logs import LogFormat, LogFormatOpt, LogLevelOpt

if TYPE_CHECKING:
    from firmware_sim.fleet import Fleet
    from protocol.registry import StationRecord

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
    password_dir: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            help="log each station in with the password in DIR/<station id>.password (as "
            "`provision stack` writes them); without it stations log in with no password",
        ),
    ] = None,
    protocol: Annotated[int, typer.Option(help="MQTT protocol: 5 or 311")] = 5,
    visits_per_day: Annotated[
        float, typer.Option(min=0.0, help="mean visits per station per (simulated) day")
    ] = 200.0,
    time_scale: Annotated[
        float,
        typer.Option(min=0.01, help="simulated seconds per real second (60: an hour a minute)"),
    ] = 1.0,
    visit_interval: Annotated[
        float | None,
        typer.Option(min=0.1, help="instead of the daily profile: a fixed mean gap per station, s"),
    ] = None,
    telemetry_interval: Annotated[float, typer.Option(min=0.5, help="heartbeat period, s")] = 30.0,
    footfall: Annotated[bool, typer.Option(help="door beams count footfall")] = True,
    render_frames: Annotated[
        bool | None,
        typer.Option(help="render and decode a QR frame per visit (default: only up to 50)"),
    ] = None,
    workdir: Annotated[Path, typer.Option(help="station journals and trust dirs")] = Path(
        "waystation-fleet"
    ),
    for_: Annotated[
        float | None, typer.Option("--for", min=1, help="stop after this many seconds")
    ] = None,
    plain: Annotated[bool, typer.Option(help="a log line every 10 s instead of the live table")] = (
        False
    ),
    log_level: LogLevelOpt = None,
    log_format: LogFormatOpt = LogFormat.TEXT,
) -> None:
    """Run N simulated stations (real agents on mock pins) in one process, one network thread:
    daily traffic (night shifts, meal peaks), doors, scans, footfall; live counters."""
    from firmware_sim.cities import make_records, write_registry_csv
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
    logins = {} if password_dir is None else _station_logins(broker, password_dir, records)

    from firmware_sim.fleet import Fleet, FleetConfig
    from firmware_sim.union import SimUnion
    from waystation.runtime import stop_on_signals

    # per-station chatter, × thousands: WARNING and up unless DEBUG is asked for
    logs.setup(log_level, log_format, quiet=("edge", "firmware_sim.station", "cloud"))
    sim = Fleet(
        records,
        SimUnion.create(seed),
        FleetConfig(
            broker_url=broker,
            workdir=workdir,
            mqtt_protocol=protocol,
            visit_interval_s=visit_interval,
            visits_per_day=visits_per_day,
            time_scale=time_scale,
            telemetry_interval_s=telemetry_interval,
            seed=seed,
            render_frames=stations <= 50 if render_frames is None else render_frames,
            footfall=footfall,
            shared_loop=True,
            broker_url_for=logins,
        ),
    )
    stop = stop_on_signals(threading.Event())
    typer.echo(f"starting {stations} stations against {BrokerUrl.parse(broker)}; Ctrl-C stops")
    started = time.monotonic()
    sim.start()
    try:
        _watch(sim, stop, for_, plain=plain or not sys.stdout.isatty())  # docker logs: lines
    finally:
        typer.echo("stopping (each station publishes `offline`)…")
        sim.stop(clean=True)
    s = sim.stats
    typer.echo(
        f"ran {time.monotonic() - started:.0f} s: visits {s.visits}, granted {s.granted}, "
        f"denied {s.denied}, unread {s.unread}, errors {s.errors}"
    )


def _station_logins(
    broker: str, password_dir: Path, records: list[StationRecord]
) -> dict[str, str]:
    """Each station's broker URL with its own login (the station id) and password, read from
    `password_dir/<sid>.password` (first line); a missing file is one line and exit 2."""
    from protocol.broker import BrokerUrl
    from waystation.cloud_units import broker_url

    base = BrokerUrl.parse(broker)
    urls = {}
    for record in records:
        path = password_dir / f"{record.id}.password"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            typer.echo(f"error: station {record.id}: cannot read {path}: {exc.strerror or exc}",
                       err=True)  # fmt: skip
            raise typer.Exit(2) from exc
        urls[record.id] = broker_url(base, record.id, lines[0].strip() if lines else "")
    return urls


def _watch(sim: Fleet, stop: threading.Event, for_: float | None, *, plain: bool) -> None:
    """Live counters until `stop` or `for_` seconds: a Rich table, or a log line every 10 s."""
    from rich.live import Live
    from rich.table import Table

    deadline = None if for_ is None else time.monotonic() + for_
    last = (time.monotonic(), 0, 0)

    def table() -> Table:
        nonlocal last
        c = sim.counters()
        now = time.monotonic()
        dt = max(now - last[0], 1e-6)
        visits_s, journaled_s = (c.visits - last[1]) / dt, (c.journaled - last[2]) / dt
        last = (now, c.visits, c.journaled)
        loop = sim.loop
        t = Table(title=f"waystation sim fleet — simulated time {c.sim_time:%H:%M} (UTC+8)")
        for col in ("stations", "connected", "visits/s", "journaled", "acked", "backlog",
                    "journaled/s", "errors", "net loop busy"):  # fmt: skip
            t.add_column(col, justify="right")
        busy = f"{loop.stats.busy_s / max(now - sim_started, 1e-6):.0%}" if loop else "-"
        t.add_row(
            str(c.stations), str(c.connected), f"{visits_s:.1f}", str(c.journaled),
            str(c.acked), str(c.backlog), f"{journaled_s:.1f}", str(c.errors), busy,
        )  # fmt: skip
        return t

    sim_started = time.monotonic()
    if plain:
        while not stop.wait(10.0 if deadline is None else min(10.0, deadline - time.monotonic())):
            if deadline is not None and time.monotonic() >= deadline:
                return
            row = table().columns
            typer.echo("  ".join(f"{col.header}={next(iter(col.cells))}" for col in row))
        return
    with Live(table(), refresh_per_second=1) as live:
        while not stop.wait(1.0):
            if deadline is not None and time.monotonic() >= deadline:
                return
            live.update(table())


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


@app.command()
def chaos(
    stations: Annotated[int, typer.Option(min=1, max=20_000, help="number of stations")] = 8,
    minutes: Annotated[float, typer.Option(min=0.2, help="minutes of traffic and faults")] = 1.0,
    broker: Annotated[
        str | None,
        typer.Option(
            help="mqtt://{sid}:PASSWORD@host:port of a running broker ({sid}: each station, "
            "and cloud-ingest-1…K for the ingest workers); default: start our own Mosquitto "
            "(ACL, passwords, persistence), which also allows the broker-restart fault"
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(help="SQLAlchemy URL of the cloud's database; default sqlite in --workdir"),
    ] = None,
    seed: Annotated[int, typer.Option(help="same seed, same stations, traffic and faults")] = 1,
    ingest_workers: Annotated[
        int,
        typer.Option(
            min=0,
            help="`cloud ingest` processes this command owns (and kills and restarts); 0: a "
            "cloud already consumes --broker into --db",
        ),
    ] = 1,
    faults_per_minute: Annotated[float, typer.Option(min=0.0, help="beyond one of each")] = 2.0,
    visit_interval: Annotated[
        float, typer.Option(min=0.05, help="mean seconds between visits at one station")
    ] = 2.0,
    telemetry_interval: Annotated[float, typer.Option(min=0.5, help="heartbeat period, s")] = 5.0,
    settle_timeout: Annotated[
        float, typer.Option(min=5.0, help="seconds the settle may take to drain everything")
    ] = 120.0,
    workdir: Annotated[Path, typer.Option(help="journals, ledgers, broker and logs")] = Path(
        "waystation-chaos"
    ),
    json_: Annotated[
        bool, typer.Option("--json", help="end with one JSON line of the audit's counts")
    ] = False,
    log_level: LogLevelOpt = None,
    log_format: LogFormatOpt = LogFormat.TEXT,
) -> None:
    """Chaos run: N stations with traffic, seeded faults for M minutes, a settle, then the
    audit of every station's ledger against the database. Exit 1 if anything is lost,
    duplicated or mismatched."""
    from rich.console import Console

    from protocol.broker import BrokerUrl
    from waystation.harness.audit import render
    from waystation.harness.chaos import ChaosConfig, ChaosRun

    if broker is not None:
        try:
            BrokerUrl.parse(broker.replace("{sid}", "cloud"))
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
    logs.setup(log_level, log_format, default=logging.WARNING)
    workdir.mkdir(parents=True, exist_ok=True)
    config = ChaosConfig(
        stations=stations,
        minutes=minutes,
        seed=seed,
        db_url=db or f"sqlite:///{workdir.resolve() / 'waystation.db'}",
        broker_url=broker,
        ingest_workers=ingest_workers,
        workdir=workdir,
        visit_interval_s=visit_interval,
        telemetry_interval_s=telemetry_interval,
        faults_per_minute=faults_per_minute,
        settle_timeout_s=settle_timeout,
    )
    out = sys.stderr if json_ else sys.stdout
    console = Console(stderr=json_, width=None if out.isatty() else 160)
    result = ChaosRun(config, progress=console.print).run()
    console.print(f"faults played ({len(result.played)} actions): {', '.join(result.played)}")
    if result.skipped:
        console.print(f"faults skipped (no broker or ingest of ours): {', '.join(result.skipped)}")
    console.print(
        f"{result.visits} visits; settle {result.settled_s} s "
        f"({'drained' if result.drained else 'NOT drained'}); {result.stats}"
    )
    console.print(render(result.report))
    if json_:
        typer.echo(result.report.json_line())
    if not result.report.ok:
        raise typer.Exit(1)
