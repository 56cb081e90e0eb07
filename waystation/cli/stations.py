"""`waystation stations …`: the station registry in and out of the cloud database (CSV or
GeoJSON), all or nothing. CSV as Excel writes and opens it: UTF-8 (with or without BOM) or
GBK/GB18030 in, Chinese or English headers; UTF-8 with BOM out. Workbooks are refused."""

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
            exists=True,
            dir_okay=False,
            help="registry CSV (UTF-8 or GBK), or GeoJSON (.geojson / .json)",
        ),
    ],
    db: DbOpt = None,
) -> None:
    """Upsert stations from a CSV (id,name,lat,lon,amenities,opening_hours,operator,address,city
    and optionally capacity; or the Chinese headers 编号,名称,纬度,经度,设施,营业时间,运营方,
    地址,城市,容量) or a GeoJSON FeatureCollection of Points with those fields as properties.

    All or nothing: any bad row refuses the whole file, with every error's line and column."""
    from cloud.db import init_db, make_engine
    from cloud.registry import RegistryError, import_file
    from cloud.sheetfile import ENCODING_NAMES

    settings = cloud_settings(db=db)
    engine = make_engine(settings.db)
    try:
        init_db(engine)
        report = import_file(engine, file)
    except RegistryError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(
        f"{report.total} stations: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged (read as {ENCODING_NAMES[report.encoding]})"
    )


@app.command("export")
def export(
    file: Annotated[
        Path,
        typer.Argument(
            dir_okay=False, help="CSV to write (UTF-8 with BOM), or GeoJSON (.geojson / .json)"
        ),
    ],
    db: DbOpt = None,
) -> None:
    """Write every registered station to a file that `stations import` reads back (and Excel
    opens: the CSV is UTF-8 with a byte-order mark). A workbook name (.xlsx) is refused."""
    from cloud.db import init_db, make_engine
    from cloud.registry import export_file
    from cloud.sheetfile import SheetError, check_writable

    try:
        check_writable(file)  # before the database is touched
    except SheetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    settings = cloud_settings(db=db)
    engine = make_engine(settings.db)
    try:
        init_db(engine)
        n = export_file(engine, file)
    except SheetError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    except OSError as exc:  # permission denied, disk full, a folder in the way
        typer.echo(f"error: cannot write {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(f"{n} stations written to {file}")
