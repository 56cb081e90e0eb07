"""`waystation cloud …`: the two cloud halves (API server, ingest workers) and maintenance.

Heavy imports happen inside commands so `waystation --help` stays fast and an edge-only
install can still show the help.
"""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from waystation import logs
from waystation.cli.notify import app as notify_app
from waystation.cli.options import DbOpt, cloud_settings
from waystation.cli.users import app as users_app
from waystation.logs import LogFormat, LogFormatOpt, LogLevelOpt

app = typer.Typer(
    help="Run the cloud: the API server and MQTT ingest workers.", no_args_is_help=True
)
app.add_typer(users_app, name="users")
app.add_typer(notify_app, name="notify")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    db: DbOpt = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="processes (each holds its own nearby index)")
    ] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request")] = True,
    forwarded_allow_ips: Annotated[
        str | None,
        typer.Option(
            help="reverse proxies (addresses or networks, comma-separated) whose "
            "X-Forwarded-For is believed; default $WAYSTATION_FORWARDED_ALLOW_IPS or none"
        ),
    ] = None,
    log_level: LogLevelOpt = None,
    log_format: LogFormatOpt = LogFormat.TEXT,
) -> None:
    """Serve the public and ops HTTP API (stateless: run as many replicas as you like).

    `/healthz` answers while the database does; `/readyz` once the schema is at head and the
    nearby index is loaded too (route traffic to a replica only then)."""
    import os

    import uvicorn

    from cloud.main import create_app
    from waystation.urls import base_url, start_lines

    settings = cloud_settings(db=db, forwarded_allow_ips=forwarded_allow_ips)
    log_config = logs.setup(log_level, log_format)
    for line in start_lines(base_url(host, port), _first_station(settings.db)):
        typer.echo(line)
    common = {
        "host": host,
        "port": port,
        **logs.uvicorn_options(log_config),
        "access_log": access_log,
        "http": http_protocol(),
        **settings.proxy_options,  # forwarding headers only from the configured proxies
    }
    if workers == 1:
        uvicorn.run(create_app(settings, freeze_gc=True), **common)  # type: ignore[arg-type]
        return
    os.environ["WAYSTATION_DB"] = settings.db  # the workers build their settings from env
    os.environ["WAYSTATION_FORWARDED_ALLOW_IPS"] = settings.forwarded_allow_ips
    if not hasattr(socket, "SO_REUSEPORT"):
        uvicorn.run("cloud.main:create_app_from_env", factory=True, workers=workers, **common)  # type: ignore[arg-type]
        return
    _serve_reuseport(host, port, workers, access_log, log_config)


def _first_station(db: str) -> tuple[float, float] | None:
    """Where the registry's first station is (lat, lon), for a nearby URL that lists it;
    None for an empty or not yet migrated database (the server migrates it on start)."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlmodel import Session, col, select

    from cloud.db import make_engine
    from cloud.models import Station

    engine = make_engine(db)
    try:
        with Session(engine) as s:
            first = s.exec(select(Station).order_by(col(Station.id)).limit(1)).first()
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()
    return None if first is None else (first.lat, first.lon)


def _serve_reuseport(
    host: str, port: int, workers: int, access_log: bool, log_config: dict[str, Any]
) -> None:
    """`workers` uvicorn processes, each with its own SO_REUSEPORT socket on host:port.

    Why not uvicorn's `--workers`: there all processes accept from one shared socket, and
    with keep-alive clients (a proxy, a load generator) the first process to wake takes most
    connections: measured with 32 connections, one worker at 98 % CPU and the other idle.
    With SO_REUSEPORT the kernel spreads connections over the sockets. The supervisor stops
    every worker when one dies or on SIGTERM/SIGINT (restarting is systemd's or compose's job).
    """
    import multiprocessing
    import signal

    from waystation.runtime import stop_on_signals

    mp = multiprocessing.get_context("spawn")
    procs = [
        mp.Process(target=_reuseport_worker, args=(host, port, access_log, log_config), daemon=True)
        for _ in range(workers)
    ]
    stop = stop_on_signals(threading.Event())
    for p in procs:
        p.start()
    while not stop.is_set() and all(p.is_alive() for p in procs):
        stop.wait(0.5)
    for p in procs:
        p.terminate()  # uvicorn shuts down gracefully on SIGTERM
    for p in procs:
        p.join(30)
    failed = [p.exitcode for p in procs if p.exitcode not in (0, -signal.SIGTERM)]
    if failed and not stop.is_set():
        raise typer.Exit(1)


def http_protocol() -> type | str:
    """uvicorn's httptools protocol sending each response in one write (`cloud.httpcork`),
    or uvicorn's own choice when httptools is not installed."""
    try:
        from cloud.httpcork import CorkedHttpToolsProtocol
    except ImportError:
        return "auto"
    return CorkedHttpToolsProtocol


def _reuseport_worker(host: str, port: int, access_log: bool, log_config: dict[str, Any]) -> None:
    import uvicorn

    from cloud.settings import Settings

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    config = uvicorn.Config(
        "cloud.main:create_app_from_env",
        factory=True,
        **logs.uvicorn_options(log_config),
        access_log=access_log,
        http=http_protocol(),
        **Settings().proxy_options,
    )
    uvicorn.Server(config).run(sockets=[sock])


@app.command()
def ingest(
    broker: Annotated[
        str | None, typer.Option(help="mqtt://user:pass@host:port; default $WAYSTATION_BROKER")
    ] = None,
    db: DbOpt = None,
    protocol: Annotated[int, typer.Option(help="MQTT protocol: 5 or 311")] = 5,
    share_group: Annotated[
        str, typer.Option(help="shared-subscription group ('' for plain subscriptions)")
    ] = "ingest",
    client_id: Annotated[
        str | None, typer.Option(help="fixed client id: keeps a persistent broker session")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option(min=1, max=65535, help="serve Prometheus metrics on this port (/metrics)"),
    ] = None,
    metrics_addr: Annotated[str, typer.Option(help="address for the metrics port")] = "0.0.0.0",  # noqa: S104
    log_level: LogLevelOpt = None,
    log_format: LogFormatOpt = LogFormat.TEXT,
) -> None:
    """Consume station messages from the broker into the database, acking committed items.

    Run several with the same --share-group to split the load (MQTT 5 shared subscriptions).
    The metrics port also answers `/healthz`: 503 while not subscribed or the writer is dead."""
    from cloud.alarms.monitor import start_monitor
    from cloud.db import init_db, make_engine
    from cloud.ingest import health
    from cloud.ingest.metrics import IngestMetrics
    from cloud.ingest.subscriber import IngestWorker
    from cloud.notify.runner import start_notifier_process
    from waystation.runtime import stop_on_signals

    if protocol not in (5, 311):
        raise typer.BadParameter("--protocol must be 5 or 311")
    settings = cloud_settings(db=db, broker=broker, mqtt_protocol=protocol, share_group=share_group)
    logs.setup(log_level, log_format)
    engine = make_engine(settings.db)
    init_db(engine)
    metrics = IngestMetrics()
    worker = IngestWorker(engine, settings, client_id=client_id, metrics=metrics)
    server = None
    if metrics_port is not None:
        try:
            server = health.serve(metrics.registry, worker.health, metrics_port, metrics_addr)
        except OSError as exc:
            engine.dispose()
            raise typer.BadParameter(f"{metrics_addr}:{metrics_port}: {exc.strerror}") from None
        url = f"http://{metrics_addr}:{metrics_port}"
        typer.echo(f"metrics on {url}/metrics, health on {url}/healthz")
    # Signals first: a SIGTERM while the monitor and the notifier process start (seconds
    # under load) used to kill the process outright instead of stopping it cleanly.
    stop = stop_on_signals(threading.Event())
    worker.start()
    monitor = start_monitor(
        engine, settings, stop, worker=(worker.client_id, worker.subscribed.is_set)
    )
    notifier = start_notifier_process(settings)  # alarm notifications (cloud.notify)
    try:
        while not stop.wait(1.0) and worker.fatal is None:
            pass  # a refused login (worker.fatal) ends the process: systemd shows it failed
    finally:
        stop.set()
        worker.stop()
        if monitor is not None:
            monitor.join(timeout=5)
        if notifier is not None:
            notifier.terminate()
            notifier.join(timeout=10)
        if server is not None:
            server.shutdown()
        engine.dispose()
    if worker.fatal:
        typer.echo(f"ingest stopped: {worker.fatal}", err=True)
        raise typer.Exit(2)


@app.command()
def maintain(
    db: DbOpt = None,
    rollup_hours: Annotated[
        float,
        typer.Option(min=1, max=24 * 366, help="recompute footfall roll-ups this far back"),
    ] = 48,
    telemetry_days: Annotated[
        float, typer.Option(min=1, help="keep heartbeats this many days")
    ] = 30,
    footfall_days: Annotated[
        float, typer.Option(min=1, help="keep raw footfall intervals this many days")
    ] = 90,
    dead_letter_days: Annotated[
        float, typer.Option(min=1, help="keep dead letters this many days")
    ] = 90,
    notify_days: Annotated[
        float, typer.Option(min=8, help="keep the notification delivery log this many days")
    ] = 90,
    log_level: LogLevelOpt = None,
    log_format: LogFormatOpt = LogFormat.TEXT,
) -> None:
    """Roll footfall up per hour and day, then delete rows past retention and union-app
    nonces past their window (run it hourly)."""
    from datetime import timedelta

    from cloud.clock import utcnow
    from cloud.credentials.apiclients import purge_spent_nonces
    from cloud.db import init_db, make_engine
    from cloud.jobs.retention import RetentionPolicy, purge
    from cloud.jobs.rollup import rollup_footfall
    from cloud.notify.worker import purge_log

    if rollup_hours / 24 >= footfall_days:
        raise typer.BadParameter("--rollup-hours must end inside --footfall-days")
    settings = cloud_settings(db=db)
    logs.setup(log_level, log_format)
    engine = make_engine(settings.db)
    now = utcnow()
    try:
        init_db(engine)
        report = rollup_footfall(engine, start=now - timedelta(hours=rollup_hours), end=now)
        policy = RetentionPolicy(
            telemetry_days=telemetry_days,
            footfall_days=footfall_days,
            dead_letter_days=dead_letter_days,
        )
        deleted = purge(engine, policy, now=now)
        deleted["notify_event"] = purge_log(engine, now - timedelta(days=notify_days))
        deleted["api_nonce"] = purge_spent_nonces(engine, now)
    finally:
        engine.dispose()
    typer.echo(f"rolled up {report.hours} hours and {report.days} days")
    typer.echo("deleted " + ", ".join(f"{n} {name}" for name, n in deleted.items()))


@app.command()
def migrate(
    db: DbOpt = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="change nothing: exit 0 if the schema is at head, 1 (naming both revisions) "
            "if not",
        ),
    ] = False,
    log_level: LogLevelOpt = None,
    log_format: LogFormatOpt = LogFormat.TEXT,
) -> None:
    """Upgrade the database schema to head (what every cloud process also does at start), or
    only check it is there (`--check`, for deploy pipelines). Exit 2: database unreachable."""
    from cloud import migrate as migrations
    from cloud.db import init_db, make_engine

    settings = cloud_settings(db=db)
    logs.setup(log_level, log_format)
    if check and (missing := _missing_sqlite_file(settings.db)) is not None:
        typer.echo(f"not at head: {missing} does not exist, head is {migrations.head()}")
        raise typer.Exit(1)
    engine = make_engine(settings.db)
    try:
        was = migrations.current(engine)
        if not check:
            init_db(engine)  # a no-op at head
        off = migrations.off_head(engine)
    except Exception as exc:  # unreachable, refused login, a revision this code doesn't know
        logging.getLogger(__name__).debug("migrate failed", exc_info=True)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        typer.echo(f"error: {type(exc).__name__}: {detail}", err=True)
        raise typer.Exit(2) from None
    finally:
        engine.dispose()
    if off is not None:
        typer.echo(f"not at head: {off}")
        raise typer.Exit(1)
    head = migrations.head()
    typer.echo(f"at head {head}" if check or was == head else f"upgraded {was or 'empty'} → {head}")


def _missing_sqlite_file(url: str) -> str | None:
    """The file of a SQLite URL when it does not exist (`--check` must not create it)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    path = parsed.database
    if parsed.get_backend_name() != "sqlite" or path in (None, "", ":memory:"):
        return None
    return None if Path(path).exists() else path
