"""`waystation members import` and `members pass`: the union's registry at city scale.

`import FILE --db URL` enrols a whole member list (CSV, see `cloud.credentials.roster`) in
one transaction and hands out the one-time enrolment codes as a CSV for a mail merge or the
union app (`--codes-out`) and/or printed slips (`--sheets-out`). `pass` prints a day or week
pass for a worker without a smartphone. Both are audited as `cli:<login>` like every shell
change to the cloud (`waystation cloud users`); neither audit row holds a code.

Output: one JSON object on stdout; progress and notes on stderr; a refusal is one line per
problem on stderr and exit 2 with nothing written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from waystation.cli.members import TIME_FORMATS, PassFileOpt, _engine, _passphrase, app
from waystation.cli.options import DbOpt
from waystation.cli.users import cli_principal

if TYPE_CHECKING:
    from rich.progress import Progress

    from cloud.credentials.bulk import ImportResult

CODES_COLUMNS = ("member_id", "code", "enrol_link")
AtOpt = Annotated[
    datetime | None, typer.Option(formats=TIME_FORMATS, help="ISO time (UTC); default now")
]


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@contextmanager
def _refusals() -> Iterator[None]:
    """Every known refusal: its lines on stderr, exit 2."""
    from cloud.credentials.issuer import CredentialError
    from cloud.credentials.keys import IssuerKeyError
    from cloud.credentials.printing import PrintError
    from cloud.credentials.roster import RosterError
    from cloud.sheetfile import SheetError

    try:
        yield
    except RosterError as exc:
        lines = str(exc).splitlines()
        typer.echo(f"error: {exc.total} problem(s), nothing imported:", err=True)
        for line in lines:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(2) from exc
    except (CredentialError, IssuerKeyError, PrintError, SheetError, ValueError) as exc:
        raise _fail(str(exc)) from exc


def _progress() -> Progress:
    """A progress bar on stderr; quiet when stderr is not a terminal (logs, CI, pipes)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    console = Console(stderr=True)
    return Progress(
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _write_codes(
    stack: ExitStack, out: Path, base_url: str, result: ImportResult, progress: Progress
) -> None:
    from cloud.credentials.printing import secret_file
    from cloud.credentials.sheets import enrol_link
    from cloud.sheetfile import write_csv_to

    fh = stack.enter_context(secret_file(out))
    stack.callback(out.unlink, missing_ok=True)  # popped (kept) only after the commit
    task = progress.add_task("codes CSV", total=len(result.codes))
    write_csv_to(
        fh,
        CODES_COLUMNS,
        (
            {"member_id": i.member_id, "code": i.code,
             "enrol_link": enrol_link(base_url, i.member_id, i.code)}
            for i in result.codes
        ),
    )  # fmt: skip
    progress.update(task, completed=len(result.codes))


def _write_slips(
    stack: ExitStack, out: Path, base_url: str, result: ImportResult, progress: Progress
) -> int:
    from cloud.credentials.printing import Fonts, PageWriter, cjk_font, secret_file
    from cloud.credentials.sheets import SLIP_COLS, SLIP_ROWS, enrolment_pages

    fonts = Fonts(cjk_font())
    fh = stack.enter_context(secret_file(out))
    stack.callback(out.unlink, missing_ok=True)
    writer = PageWriter(fh, out)
    stack.callback(lambda: [p.unlink(missing_ok=True) for p in writer.extra])
    per_page = SLIP_COLS * SLIP_ROWS
    task = progress.add_task("slips", total=-(-len(result.codes) // per_page))
    assert result.codes_expire is not None
    expires = result.codes_expire.date()
    step = per_page * 25  # the bar moves every 25 pages
    for first in range(0, len(result.codes), step):
        enrolment_pages(writer, fonts, base_url, result.codes[first : first + step], expires)
        progress.update(task, completed=writer.pages)
    writer.close()
    return writer.pages


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="member list, CSV")],
    db: DbOpt = None,
    codes_out: Annotated[
        Path | None, typer.Option(dir_okay=False, help="write new codes here: CSV, mode 0600")
    ] = None,
    sheets_out: Annotated[
        Path | None, typer.Option(dir_okay=False, help="printable slips: .pdf or .png pages")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="the service's address for links, https://ws.example.org")
    ] = None,
    code_days: Annotated[int, typer.Option(min=1, max=90, help="days a new code works")] = 30,
    no_codes: Annotated[bool, typer.Option(help="create members without codes")] = False,
    reissue_codes: Annotated[
        bool, typer.Option(help="new codes also for listed members with no phone enrolled")
    ] = False,
    at: AtOpt = None,
) -> None:
    """Enrol every member in FILE (CSV: member_id, optional branch, staff, mother_baby,
    valid_until) in one go; re-running the same file changes nothing."""
    from cloud.auth import audit
    from cloud.credentials import bulk, roster
    from cloud.credentials.printing import check_sheet_path
    from cloud.credentials.sheets import check_base_url

    now = _utc(at)
    with _refusals():
        outputs = [p for p in (codes_out, sheets_out) if p is not None]
        if outputs and base_url is None:
            raise ValueError("--base-url is needed for the enrolment links")
        base = check_base_url(base_url) if base_url else ""
        if sheets_out is not None:
            check_sheet_path(sheets_out, must_be_new=False)
        for p in outputs:
            if not p.parent.is_dir():
                raise ValueError(f"cannot write {p}: folder {p.parent} does not exist")
        if reissue_codes and no_codes:
            raise ValueError("--reissue-codes and --no-codes together")
        listed = roster.read(file)
    engine = _engine(db)
    try:
        with _refusals(), _progress() as progress, engine.connect() as conn, ExitStack() as undo:
            task = progress.add_task("members", total=bulk.plan_size(listed))
            with conn.begin():
                result = bulk.import_roster(
                    conn, listed, now=now, code_days=code_days, codes=not no_codes,
                    reissue=reissue_codes,
                    progress=lambda n: progress.advance(task, n),
                )  # fmt: skip
                if result.codes and not outputs:
                    raise ValueError(
                        f"{len(result.codes)} new enrolment codes need a place to go: "
                        "give --codes-out FILE.csv and/or --sheets-out FILE.pdf (or --no-codes)"
                    )
                pages = 0
                if result.codes and codes_out is not None:
                    _write_codes(undo, codes_out, base, result, progress)
                if result.codes and sheets_out is not None:
                    pages = _write_slips(undo, sheets_out, base, result, progress)
                detail = {
                    "rows": result.rows,
                    "created": result.created,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                    "codes": len(result.codes),
                    "encoding": listed.encoding,
                    "code_days": code_days,
                }  # fmt: skip — never a code
                audit(conn, cli_principal(), "member.import", f"file:{file.name}", detail, at=now)
            undo.pop_all()  # committed: keep the files
    finally:
        engine.dispose()
    _report(file, listed.encoding, result, codes_out, sheets_out, pages)


def _report(
    file: Path,
    encoding: str,
    result: ImportResult,
    codes_out: Path | None,
    sheets_out: Path | None,
    pages: int,
) -> None:
    written = bool(result.codes)
    if not result.changed:
        typer.echo(
            f"nothing changed: all {result.rows} members are already as in {file.name}"
            + ("; no new codes, no files written" if codes_out or sheets_out else ""),
            err=True,
        )
    out: dict[str, Any] = {
        "file": str(file), "encoding": encoding, "rows": result.rows,
        "created": result.created, "updated": result.updated, "unchanged": result.unchanged,
        "codes": len(result.codes), "codes_expire": result.codes_expire,
        "codes_out": str(codes_out) if codes_out and written else None,
        "sheets_out": str(sheets_out) if sheets_out and written else None,
        "sheet_pages": pages, "changed": result.changed,
    }  # fmt: skip
    typer.echo(json.dumps(out, default=str))


@app.command("pass")
def pass_(
    member: Annotated[str, typer.Option(help="member id")],
    out: Annotated[Path, typer.Option(dir_okay=False, help="the pass: .pdf or .png pages")],
    days: Annotated[int, typer.Option(help="1 (day pass) or 7 (week pass)")] = 1,
    window: Annotated[
        int, typer.Option(help="minutes each code opens the door: 5, 10, 15, 30 or 60")
    ] = 5,
    station: Annotated[
        str | None,
        typer.Option(help="station issuing it: printed and audited, not enforced by doors"),
    ] = None,
    tz: Annotated[str | None, typer.Option(help="time zone printed (default station's)")] = None,
    db: DbOpt = None,
    passphrase_file: PassFileOpt = None,
    at: AtOpt = None,
) -> None:
    """Print a day or week pass (WS2 codes by time of day) for a worker without a phone."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from cloud.auth import audit
    from cloud.credentials.issuer import KeyVault
    from cloud.credentials.passes import issue_pass
    from cloud.credentials.printing import Fonts, PageWriter, check_sheet_path, cjk_font
    from cloud.credentials.printing import secret_file as secret
    from cloud.credentials.sheets import PassSheet, pass_pages
    from cloud.db import session
    from cloud.models import DEFAULT_TZ, Station

    now = _utc(at)
    with _refusals():
        check_sheet_path(out)
        fonts = Fonts(cjk_font())
        vault = KeyVault(_passphrase(passphrase_file))
    engine = _engine(db)
    try:
        with _refusals(), session(engine) as s, ExitStack() as undo:
            zone = tz
            if station is not None:
                row = s.get(Station, station)
                if row is None:
                    raise ValueError(f"--station: no station {station!r} in the registry")
                zone = zone or row.tz
            try:
                where = ZoneInfo(zone or DEFAULT_TZ)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"--tz: unknown time zone {zone!r}") from exc
            made = issue_pass(s, vault, member_id=member, now=now, days=days, window_min=window)
            fh = undo.enter_context(secret(out))
            undo.callback(out.unlink, missing_ok=True)
            writer = PageWriter(fh, out)
            undo.callback(lambda: [p.unlink(missing_ok=True) for p in writer.extra])
            sheet = PassSheet(member, made.codes, made.window_min, where, station)
            cards = pass_pages(writer, fonts, sheet)
            writer.close()
            detail = {
                "serial": made.serial,
                "days": days,
                "window_min": window,
                "codes": len(made.codes),
                "station": station,
                "until": made.ends_at.isoformat(),
            }  # fmt: skip — never a code
            audit(s, cli_principal(), "member.pass", f"member:{member}", detail, at=now)
            s.commit()
            undo.pop_all()  # committed: keep the files
    finally:
        engine.dispose()
    typer.echo(
        json.dumps(
            {
                "member": member, "serial": made.serial, "flags": made.flags,
                "window_min": made.window_min, "codes": len(made.codes), "cards": cards,
                "pages": writer.pages, "from": made.starts_at.isoformat(),
                "until": made.ends_at.isoformat(), "out": str(out),
                "pages_out": [str(out), *map(str, writer.extra)],
            }
        )
    )  # fmt: skip
