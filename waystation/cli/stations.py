"""`waystation stations …`: the station registry in and out of the cloud database (CSV or
GeoJSON), all or nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from waystation.cli.options import DbOpt, cloud_settings

app = typer.Typer(help="The station registry (CSV or GeoJSON).", no_args_is_help=True)


@app.command("import")
def import_(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, help="registry CSV, or GeoJSON (.geojson / .json)"
        ),
    ],
    db: DbOpt = None,
) -> None:
    """Upsert stations from a CSV (id,name,lat,lon,amenities,opening_hours,operator,address,city)
    or a GeoJSON FeatureCollection of Points with those fields as properties.

    All or nothing: any bad row refuses the whole file, with every error's line number."""
    from cloud.db import init_db, make_engine
    from cloud.registry import RegistryError, import_file

    settings = cloud_settings(db=db)
    engine = make_engine(settings.db)
    try:
        init_db(engine)
        report = import_file(engine, file)
    except RegistryError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(
        f"{report.total} stations: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged"
    )


@app.command("export")
def export(
    file: Annotated[
        Path, typer.Argument(dir_okay=False, help="CSV to write, or GeoJSON (.geojson / .json)")
    ],
    db: DbOpt = None,
) -> None:
    """Write every registered station to a file that `stations import` reads back."""
    from cloud.db import init_db, make_engine
    from cloud.registry import export_file

    settings = cloud_settings(db=db)
    engine = make_engine(settings.db)
    try:
        init_db(engine)
        n = export_file(engine, file)
    finally:
        engine.dispose()
    typer.echo(f"{n} stations written to {file}")
