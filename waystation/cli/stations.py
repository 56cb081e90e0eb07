"""`waystation stations …`: the station registry in and out of the cloud database (CSV or
GeoJSON), all or nothing. CSV as Excel writes and opens it: UTF-8 (with or without BOM) or
GBK/GB18030 in, Chinese or English headers; UTF-8 with BOM out. Workbooks are refused."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from waystation.cli.options import DbOpt, cloud_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from cloud.settings import Settings

app = typer.Typer(help="The station registry (CSV or GeoJSON).", no_args_is_help=True)
STALE_SHOWN = 10  # station ids `stations import` names before "…" (and suggests --all)


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
    push: Annotated[
        bool,
        typer.Option(
            "--push",
            help="then publish the desired config of every station whose door hours (or "
            "time zone, coordinates) now differ from what it was last sent (WAYSTATION_BROKER)",
        ),
    ] = False,
) -> None:
    """Upsert stations from a CSV (id,name,lat,lon,amenities,opening_hours,operator,address,city
    and optionally capacity,entrance_hint,contact_phone; or the Chinese headers 编号,名称,纬度,
    经度,设施,营业时间,运营方,地址,城市,容量,入口提示,联系电话) or a GeoJSON FeatureCollection
    of Points with those fields as properties.

    All or nothing: any bad row refuses the whole file, with every error's line and column.
    Then names the stations whose doors still run other hours than the registry now says
    (their desired config needs a push), and pushes them with --push."""
    from cloud.clock import utcnow
    from cloud.db import init_db, make_engine
    from cloud.sheetfile import ENCODING_NAMES
    from cloud.stations import desired_config
    from cloud.stations.registry import RegistryError, import_file

    settings = cloud_settings(db=db)
    engine = make_engine(settings.db)
    try:
        init_db(engine)
        report = import_file(engine, file)
        typer.echo(
            f"{report.total} stations: {report.created} created, {report.updated} updated, "
            f"{report.unchanged} unchanged (read as {ENCODING_NAMES[report.encoding]})"
        )
        behind = desired_config.stale(engine, utcnow())
        if behind and push:
            _push(engine, settings, behind)
        elif behind:
            shown = ", ".join(behind[:STALE_SHOWN]) + (", …" if len(behind) > STALE_SHOWN else "")
            many = len(behind) > STALE_SHOWN
            how = "--all" if many else " ".join(f"--station {sid}" for sid in behind)
            typer.echo(f"{len(behind)} stations were not sent the hours (config) they have now: "
                       f"{shown}; publish with: waystation stations push-config {how} (or "
                       "import with --push)")  # fmt: skip
    except RegistryError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()


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
    from cloud.sheetfile import SheetError, check_writable
    from cloud.stations.registry import export_file

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


holidays_app = typer.Typer(
    help="The public-holiday calendar (PH) the map and the doors evaluate.", no_args_is_help=True
)
app.add_typer(holidays_app, name="holidays")


@holidays_app.command("load")
def holidays_load(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            dir_okay=False,
            help='JSON {"holidays": [...], "workdays": [...]} or CSV date,kind (holiday|workday)',
        ),
    ],
    db: DbOpt = None,
) -> None:
    """Load (or correct) whole years of the calendar: every day off of each 放假 period, and
    the make-up working days (调休上班). Each year the file names replaces that year of the
    bundled default; the map uses it within minutes, stations get it with their config."""
    import getpass

    from cloud.db import init_db, make_engine
    from cloud.stations.holidays import HolidayFileError, read_file, store

    try:
        calendar = read_file(file)
    except HolidayFileError as exc:
        typer.echo(f"error: {file}: {exc}", err=True)
        raise typer.Exit(1) from exc
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from exc
    settings = cloud_settings(db=db)
    engine = make_engine(settings.db)
    try:
        init_db(engine)
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            who = "unknown"
        years = store(engine, calendar, source=file.name, by=f"cli:{who}")
        for year in years:
            part = calendar.year(year)
            typer.echo(
                f"{year}: {len(part.holidays)} days off, {len(part.workdays)} make-up workdays"
            )
        _push(engine, settings, None)
    finally:
        engine.dispose()


def _push(engine: Engine, settings: Settings, sids: list[str] | None) -> None:
    """Publish the stations' desired configs (None: all) to `settings.broker`; a broker that
    did not take them is one line on stderr and exit 1 (what was stored stays stored)."""
    from cloud.clock import utcnow
    from cloud.mqttpub import PublishError, publish_once
    from cloud.stations import desired_config
    from protocol.broker import BrokerUrl

    broker = BrokerUrl.parse(settings.broker)
    try:
        sent, changed = desired_config.push(
            engine, lambda m: publish_once(broker, m, client_id=""), sids, utcnow()
        )
    except PublishError as exc:
        typer.echo(f"error: stored, but the configs were not published: {exc} "
                   "(run: waystation stations push-config --all)", err=True)  # fmt: skip
        raise typer.Exit(1) from exc
    typer.echo(f"config pushed to {sent} stations ({changed} with a new config_version)")


@app.command("push-config")
def push_config(
    station: Annotated[
        list[str] | None, typer.Option("--station", help="station id (repeatable)")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="every registered station")] = False,
    db: DbOpt = None,
) -> None:
    """Publish stations' desired configs (retained, ws/v1/{sid}/config): the override ops set
    plus what the cloud owns (holiday calendar; members hours, time zone and coordinates from
    the registry). A station whose document changed gets the next config_version. Run it
    after `stations import` changed opening hours."""
    from cloud.db import init_db, make_engine

    if bool(station) == all_:
        typer.echo("error: give --station SID (repeatable) or --all", err=True)
        raise typer.Exit(2)
    settings = cloud_settings(db=db)
    engine = make_engine(settings.db)
    try:
        init_db(engine)
        if station:
            from sqlalchemy import select

            from cloud.stations.desired_config import STATION

            with engine.connect() as conn:
                known = set(
                    conn.execute(select(STATION.c.id).where(STATION.c.id.in_(station))).scalars()
                )
            missing = [sid for sid in station if sid not in known]
            if missing:
                typer.echo(f"error: no station {missing[0]!r}", err=True)
                raise typer.Exit(1)
        _push(engine, settings, station or None)
    finally:
        engine.dispose()


def _ranges(days: tuple[date, ...]) -> str:
    """2026-10-01..2026-10-07, 2026-12-25: consecutive days joined."""
    out: list[list[date]] = []
    for day in days:
        if out and (day - out[-1][-1]).days == 1:
            out[-1].append(day)
        else:
            out.append([day])
    return ", ".join(
        r[0].isoformat() if len(r) == 1 else f"{r[0].isoformat()}..{r[-1].isoformat()}" for r in out
    )


@holidays_app.command("show")
def holidays_show(
    year: Annotated[int, typer.Option(min=1900, max=9999, help="the year to show")],
    db: DbOpt = None,
) -> None:
    """The calendar in force for YEAR, and where it comes from (loaded or bundled)."""
    from cloud.db import init_db, make_engine
    from cloud.stations.holidays import current, loaded

    settings = cloud_settings(db=db)
    engine = make_engine(settings.db)
    try:
        init_db(engine)
        row = loaded(engine).get(year)
        part = current(engine).year(year)
    finally:
        engine.dispose()
    if row is not None:
        source = (
            f"loaded from {row.source} by {row.loaded_by} at {row.loaded_at:%Y-%m-%d %H:%M} UTC"
        )
    else:
        source = "bundled (chinese-calendar package)"
    if not part.years:
        typer.echo(f"{year}: no calendar ({source}); PH matches no day. Load the State "
                   "Council's notice: waystation stations holidays load FILE")  # fmt: skip
        raise typer.Exit(1)
    typer.echo(f"{year}: {source}")
    typer.echo(f"days off (PH): {_ranges(part.holidays)}")
    typer.echo(f"make-up working days: {_ranges(part.workdays) or '-'}")
