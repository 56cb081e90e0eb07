"""`waystation cloud …` and `waystation stations …`: the two cloud halves and the registry.

Heavy imports happen inside commands so `waystation --help` stays fast and an edge-only
install can still show the help.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from cloud.settings import Settings

app = typer.Typer(
    help="Run the cloud: the API server and MQTT ingest workers.", no_args_is_help=True
)
stations_app = typer.Typer(help="The station registry (CSV).", no_args_is_help=True)

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL; default $WAYSTATION_DB or sqlite:///waystation.db"),
]


def _settings(**overrides: object) -> Settings:
    from pydantic import ValidationError

    from cloud.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise typer.BadParameter(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port")] = 8000,
    db: DbOpt = None,
) -> None:
    """Serve the public and ops HTTP API (stateless: run as many replicas as you like)."""
    import uvicorn

    from cloud.main import create_app

    settings = _settings(db=db)
    typer.echo(f"API on http://{host}:{port}/api/v1/stations/nearby?lat=…&lon=…")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


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
) -> None:
    """Consume station messages from the broker into the database, acking committed items."""
    from cloud.db import init_db, make_engine
    from cloud.ingest.subscriber import IngestWorker
    from waystation.runtime import LOG_FORMAT, wait_for_signal

    if protocol not in (5, 311):
        raise typer.BadParameter("--protocol must be 5 or 311")
    settings = _settings(db=db, broker=broker, mqtt_protocol=protocol, share_group=share_group)
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    engine = make_engine(settings.db)
    init_db(engine)
    worker = IngestWorker(engine, settings, client_id=client_id)
    worker.start()
    stop = threading.Event()
    try:
        wait_for_signal(stop)
    finally:
        worker.stop()
        engine.dispose()
    if worker.fatal:
        typer.echo(f"ingest stopped: {worker.fatal}", err=True)
        raise typer.Exit(2)


@stations_app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="registry CSV")],
    db: DbOpt = None,
) -> None:
    """Upsert stations from a CSV (id,name,lat,lon,amenities,opening_hours,operator,address,city).

    All or nothing: any bad row refuses the whole file, with every error's line number."""
    from cloud.db import init_db, make_engine
    from cloud.registry import RegistryError, import_csv

    settings = _settings(db=db)
    engine = make_engine(settings.db)
    try:
        init_db(engine)
        report = import_csv(engine, file)
    except RegistryError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(
        f"{report.total} stations: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged"
    )


@stations_app.command("export")
def export(
    file: Annotated[Path, typer.Argument(dir_okay=False, help="CSV to write")],
    db: DbOpt = None,
) -> None:
    """Write every registered station to a CSV that `stations import` reads back."""
    from cloud.db import init_db, make_engine
    from cloud.registry import export_csv

    settings = _settings(db=db)
    engine = make_engine(settings.db)
    try:
        init_db(engine)
        n = export_csv(engine, file)
    finally:
        engine.dispose()
    typer.echo(f"{n} stations written to {file}")
