"""`waystation demo`: the whole system in one process, for a first look.

An in-process MQTT broker, the cloud (ingest + API) on SQLite, and N simulated stations
around a real city whose simulated workers scan member codes at the door. Everything runs in
threads of this process, so Ctrl-C (or `--for`) stops all of it and leaves nothing running;
the data stays in `--workdir` for a look afterwards (and a re-run continues from it).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from waystation import logs
from waystation.logs import LogFormat, LogFormatOpt, LogLevelOpt

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from cloud.ingest.subscriber import IngestWorker
    from firmware_sim.fleet import Fleet
    from waystation.demo_faults import DemoTimings, FaultPlayer

log = logging.getLogger(__name__)


def _centre(records: list) -> tuple[float, float]:  # type: ignore[type-arg]
    return (
        round(sum(r.lat for r in records) / len(records), 5),
        round(sum(r.lon for r in records) / len(records), 5),
    )


def _status(fleet: Fleet, ingest: IngestWorker) -> str:
    s = fleet.stats
    online = sum(
        1 for st in fleet.stations if st.agent.link is not None and st.agent.link.connected
    )
    stats = ingest.ingestor.stats
    stored = sum(n for (_, result), n in stats.items() if result in ("stored", "duplicate"))
    return (
        f"stations online {online}/{len(fleet.records)} · visits {s.visits} · "
        f"granted {s.granted} · denied {s.denied} · messages stored {stored}"
    )


def _ops_login(engine: Engine) -> tuple[str, str]:
    """A fresh password and API token for the demo's admin account `demo` (made on the first
    run), so the dashboard and the ops API can be tried at once. Local demo only."""
    from sqlmodel import Session

    from cloud.auth import Role, create_user, issue_token
    from cloud.auth.users import UserExistsError, set_password

    password = secrets.token_urlsafe(12)
    try:
        create_user(engine, "demo", Role.ADMIN, password)
    except UserExistsError:
        with Session(engine) as s:
            set_password(s, "demo", password)
            s.commit()
    return password, issue_token(engine, "demo", name="demo run")


def _member_steps(member: str, door: str) -> None:
    """How to walk the member journey, under the member link: its QR for a phone, then the
    steps (a phone needs `--lan`: the page's WebCrypto wants HTTPS off this machine)."""
    import io

    import segno

    qr = io.StringIO()
    segno.make(member, error="l").terminal(out=qr, compact=True)
    typer.echo(qr.getvalue(), nl=False)
    typer.echo(
        "  会员体验 / member journey: 1) 打开 Member 链接，点“注册这台手机” (open Member, enrol);\n"
        "  2) 展开“这台手机”，点“复制会员码文字” (open 'This phone', copy the code as text);\n"
        f"  3) 打开 Door，粘贴并点“刷码开门” (open Door, paste, scan): station {door} decides;\n"
        "  4) 运维看板里该站点的事件 (the ops dashboard shows the access event)."
    )


def _fault_lines(player: FaultPlayer, timings: DemoTimings) -> None:
    """Say which faults the demo plays, when, and that its alarms wait less than real ones."""
    words = {
        "offline": "断电离线 goes offline",
        "fridge_warm": "冷鲜柜升温 fridge warms",
        "door_held_open": "门未关 door held open",
        "camera_down": "摄像头故障 camera dies",
    }
    typer.echo(
        f"Faults (演示故障), every {timings.cycle_s / 60:g} min, each for "
        f"{timings.lasts_s / 60:g} min:"
    )
    for f in player.faults:
        typer.echo(f"  +{f.start_s:>4.0f} s  {f.sid}  {words[f.kind]}  → alarm {f.rule}")
    typer.echo(
        f"  (demo only: offline and warm-fridge alarms after {timings.alarm_after_s:g} s, "
        "not 10 and 15 min; --no-faults for a quiet fleet)"
    )


def _watch(fleet: Fleet, ingest: IngestWorker, stop: threading.Event, for_: float | None) -> None:
    """Show live counters until `stop` or `for_` seconds: one redrawn line on a terminal,
    a line every 5 s otherwise (logs, pipes)."""
    from rich.console import Console
    from rich.live import Live

    console = Console()
    deadline = None if for_ is None else time.monotonic() + for_

    def remaining(step: float) -> float:
        return step if deadline is None else max(0.0, min(step, deadline - time.monotonic()))

    if console.is_terminal:
        with Live(_status(fleet, ingest), console=console, refresh_per_second=2) as live:
            while not stop.wait(remaining(0.5)):
                if deadline is not None and time.monotonic() >= deadline:
                    break
                live.update(_status(fleet, ingest))
        return
    while not stop.wait(remaining(5.0)):
        if deadline is not None and time.monotonic() >= deadline:
            break
        typer.echo(f"  {_status(fleet, ingest)}")


def demo(
    stations: Annotated[int, typer.Option(min=1, max=500, help="simulated stations")] = 20,
    port: Annotated[int, typer.Option(min=1, max=65535, help="HTTP port of the API")] = 8000,
    for_: Annotated[
        float | None, typer.Option("--for", min=1, help="stop after this many seconds")
    ] = None,
    city: Annotated[str, typer.Option(help="shenzhen, beijing, shanghai or hangzhou")] = "shenzhen",
    seed: Annotated[int, typer.Option(help="seed of the simulated fleet")] = 1,
    visit_interval: Annotated[
        float, typer.Option(min=0.5, help="mean seconds between visits at one station")
    ] = 10.0,
    workdir: Annotated[
        Path, typer.Option(help="where the demo keeps its database and station journals")
    ] = Path("waystation-demo"),
    faults: Annotated[
        bool,
        typer.Option(
            help="play a few faults on a schedule (offline, warm fridge, door held open, "
            "dead camera) so the dashboard's alarms have something to show",
        ),
    ] = True,
    lan: Annotated[
        bool,
        typer.Option(
            "--lan",
            help="serve HTTPS on this machine's LAN address (self-signed), for real phones",
        ),
    ] = False,
    log_level: LogLevelOpt = None,
    log_format: LogFormatOpt = LogFormat.TEXT,
) -> None:
    """Run broker, cloud and a simulated fleet in one process; print the URLs to open."""
    import uvicorn

    from cloud.alarms.monitor import start_monitor
    from cloud.alarms.rules import THRESHOLDS
    from cloud.db import init_db, make_engine
    from cloud.ingest.subscriber import IngestWorker
    from cloud.main import create_app
    from cloud.settings import Settings
    from cloud.stations.registry import import_csv
    from firmware_sim.cities import make_records, write_registry_csv
    from firmware_sim.fleet import Fleet, FleetConfig
    from waystation.demo_faults import DemoTimings, FaultPlayer, demo_thresholds
    from waystation.demo_member import DOOR_PATH, demo_issuer, door_router, member_link
    from waystation.embedded_broker import EmbeddedBroker
    from waystation.lan_tls import lan_address, self_signed
    from waystation.mosquitto import free_port
    from waystation.runtime import stop_on_signals
    from waystation.urls import base_url, start_lines

    # WARNING by default: INFO lines would scroll the live status line away
    log_config = logs.setup(log_level, log_format, default=logging.WARNING)
    workdir.mkdir(parents=True, exist_ok=True)
    records = make_records(stations, seed=seed, city=city)
    registry = write_registry_csv(records, workdir / "registry.csv")

    host, tls = "127.0.0.1", dict[str, str]()
    if lan:  # WebCrypto needs a secure context: HTTPS off this machine
        host = lan_address()
        cert, key = self_signed(workdir, host)
        tls = {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    broker = EmbeddedBroker(free_port()).start()
    settings = Settings(
        db=f"sqlite:///{(workdir / 'cloud.db').resolve()}",
        broker=broker.url,
        mqtt_protocol=311,  # amqtt has no MQTT 5, hence no shared subscriptions either
        share_group=None,
        heartbeat_grace_intervals=3,
        cookie_secure=lan,  # plain http on 127.0.0.1, or HTTPS with --lan
    )
    engine = make_engine(settings.db)
    init_db(engine)
    import_csv(engine, registry)
    ingest = IngestWorker(engine, settings)
    credentials, union = demo_issuer(engine, seed)
    app = create_app(settings, engine=engine)
    app.state.credentials = credentials
    server = uvicorn.Server(
        uvicorn.Config(app, host="0.0.0.0" if lan else host, port=port, **tls,  # noqa: S104
                       lifespan="on", **logs.uvicorn_options(log_config),
                       **settings.proxy_options)
    )  # fmt: skip
    api = threading.Thread(target=server.run, name="api", daemon=True)
    fleet = Fleet(
        records,
        union,
        FleetConfig(
            broker_url=broker.url,
            workdir=workdir / "stations",
            mqtt_protocol=311,
            visit_interval_s=visit_interval,
            telemetry_interval_s=10.0,
            seed=seed,
            footfall=True,  # simulated door beams: footfall intervals reach the cloud
        ),
    )
    door = records[0]  # the station the demo's door page stands for
    app.include_router(door_router(fleet, door))
    stop = stop_on_signals(threading.Event())
    ops_password, ops_token = _ops_login(engine)
    monitor = None
    player: FaultPlayer | None = None
    timings = DemoTimings()
    rules = demo_thresholds(timings.alarm_after_s) if faults else THRESHOLDS
    try:
        ingest.start()
        # A monitor before ingest subscribes finds the cloud blind: a false first alarm.
        ingest.subscribed.wait(10)
        worker = (ingest.client_id, ingest.subscribed.is_set)
        monitor = start_monitor(engine, settings, stop, worker=worker, thresholds=rules)
        api.start()
        deadline = time.monotonic() + 10
        while not server.started and api.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not server.started:
            raise typer.BadParameter(
                f"could not serve on {host}:{port} (in use?)", param_hint="--port"
            )
        fleet.start()
        if faults:
            player = FaultPlayer(fleet, timings, stop).start()
        lat, lon = _centre(records)
        base = base_url(host, port).replace("http:", "https:") if lan else base_url(host, port)
        typer.echo(f"Waystation demo: {stations} simulated stations in {city}, data in {workdir}/")
        for line in start_lines(base, (lat, lon)):
            typer.echo(line)
        typer.echo(f"Dashboard: {base}/ops  (user demo, password {ops_password})")
        typer.echo(f"Ops:    {base}/api/v1/ops/fleet  (header: Authorization: Bearer {ops_token})")
        member = member_link(engine, base)
        typer.echo(f"Member: {member}")
        typer.echo(f"Door:   {base}{DOOR_PATH}  (station {door.id})")
        _member_steps(member, door.id)
        if lan:
            typer.echo(
                "  手机：扫上面的二维码，接受一次证书警告 (a phone: scan the QR above and "
                "accept the certificate warning once; the certificate is self-signed)."
            )
        if player is not None:
            _fault_lines(player, timings)
        typer.echo("Ctrl-C to stop." if for_ is None else f"Stopping after {for_:g} s.")
        _watch(fleet, ingest, stop, for_)
    finally:
        stop.set()
        if player is not None:
            player.join(5)
        fleet.stop(clean=True)
        ingest.stop()
        if monitor is not None:
            monitor.join(5)
        server.should_exit = True
        api.join(10)
        engine.dispose()
        broker.stop()
    typer.echo("Stopped; nothing left running.")
