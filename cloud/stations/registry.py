"""Station registry import and export as CSV (`protocol.registry.CSV_COLUMNS`) or GeoJSON.

An import is all-or-nothing: every row is checked first and any error, each naming its file
line and column, aborts the whole file, so the registry is never half-updated from a file
with one typo. Rows upsert by `id`; fields the file does not carry (tz, maintenance, whether
the station is retired, and the `OPTIONAL_COLUMNS` when the file has no such column) are
kept. The ops API (`cloud.stations.edit`) checks a station it creates or edits with
`check_record`, the same rules as a file's row. CSV comes as Excel writes it
(`cloud.sheetfile`: UTF-8 with or without BOM, GBK/GB18030) with English or Chinese headers
(`protocol.registry.COLUMN_ALIASES`); exports are UTF-8 with BOM so Excel opens them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from cloud.models import Station, utcnow
from cloud.sheetfile import SheetError, check_writable, read_text, write_csv
from cloud.stations.geojson import GeoJSONError, dumps, feature, features_with_lines
from cloud.stations.hours import HoursError, check
from cloud.transaction import session
from protocol.registry import (
    CSV_COLUMNS,
    OPTIONAL_COLUMNS,
    StationRecord,
    canonical_column,
    ignored_column,
)

_CHUNK = 500  # ids per IN (...) lookup; far below every dialect's parameter limit
_FIELDS = tuple(c for c in CSV_COLUMNS if c != "id")
EXPORT_COLUMNS = (*CSV_COLUMNS, *OPTIONAL_COLUMNS)


class RegistryError(ValueError):
    """A registry file that was refused; `errors` holds one `line N: …` message per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} error(s) in registry file:\n" + "\n".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    encoding: str = ""  # how the file's text was read: utf-8, utf-8-sig, gb18030

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def _read(path: str | Path) -> tuple[str, str]:
    try:
        return read_text(Path(path))
    except SheetError as exc:
        raise RegistryError([str(exc)]) from exc


@dataclass(frozen=True, slots=True)
class _Header:
    """The file's header mapped to registry columns: `columns[i]` is the column of cell i
    (None: a column skipped, see `ignored_column`), `labels` the header as the file wrote it,
    `unnamed` the cells left blank (Excel's trailing empty columns; their values must be too)."""

    columns: list[str | None]
    labels: dict[str, str]
    unnamed: list[int]

    def row(self, line: int, values: Sequence[str]) -> tuple[dict[str, str], list[str]]:
        """The row's values by registry column, or why the row cannot be read."""
        if len(values) != len(self.columns):
            return {}, [f"line {line}: {len(values)} fields, expected {len(self.columns)}"]
        stray = [i + 1 for i in self.unnamed if values[i].strip()]
        if stray:
            where = ", ".join(map(str, stray))
            return {}, [f"line {line}: a value in column {where}, which has no header"]
        return {c: v for c, v in zip(self.columns, values, strict=True) if c is not None}, []


def _header(cells: Sequence[str]) -> tuple[_Header, list[str]]:
    cells = [c.strip() for c in cells]
    columns: list[str | None] = []
    unknown = []
    for cell in cells:
        column = canonical_column(cell)
        if column is None and cell and not ignored_column(cell):
            unknown.append(cell)
        columns.append(column)
    named = [c for c in columns if c is not None]
    missing = [c for c in CSV_COLUMNS if c not in named]
    repeated = sorted({c for c in named if named.count(c) > 1})
    errors = []
    if missing:
        errors.append(f"line 1: missing column(s): {', '.join(missing)}")
    if unknown:
        errors.append(f"line 1: unknown column(s): {', '.join(unknown)}")
    if repeated:
        twice = [
            " = ".join(cell for cell, c in zip(cells, columns, strict=True) if c == r)
            for r in repeated
        ]
        errors.append(f"line 1: repeated column(s): {'; '.join(twice)}")
    labels = {c: cell for cell, c in zip(cells, columns, strict=True) if c is not None}
    unnamed = [i for i, cell in enumerate(cells) if not cell]
    return _Header(columns, labels, unnamed), errors


def _field(name: str, labels: Mapping[str, str]) -> str:
    """`lat`, or `lat (纬度)` when the file's header called it that."""
    label = labels.get(name, name)
    return name if label == name else f"{name} ({label})"


def _validate(
    line: int, row: dict[str, Any], labels: Mapping[str, str]
) -> tuple[StationRecord | None, list[str]]:
    """Every problem of one row: the record's fields and the opening_hours syntax."""
    record, errors = _check(row, labels)
    return record, [f"line {line}: {e}" for e in errors]


def _check(
    row: dict[str, Any], labels: Mapping[str, str]
) -> tuple[StationRecord | None, list[str]]:
    errors = []
    record = None
    try:
        record = StationRecord.model_validate(row)
    except ValidationError as exc:
        for e in exc.errors():
            loc = [str(p) for p in e["loc"]]
            where = ".".join([_field(loc[0], labels), *loc[1:]]) if loc else "row"
            errors.append(f"{where}: {e['msg']} (got {e['input']!r})")
    hours = row.get("opening_hours", "")
    if isinstance(hours, str) and hours.strip():
        try:
            check(hours.strip())
        except HoursError as exc:
            errors.append(f"{_field('opening_hours', labels)}: {exc}")
    return (None, errors) if errors else (record, [])


def check_record(row: dict[str, Any]) -> StationRecord:
    """One station's fields checked by the rules of a file's row; RegistryError whose
    messages each start with the field's name (`lat: …`)."""
    record, errors = _check(row, {})
    if record is None:
        raise RegistryError(errors)
    return record


class _Records:
    """Valid records in file order, every error with its line, duplicate ids refused."""

    def __init__(self) -> None:
        self.records: list[StationRecord] = []
        self.errors: list[str] = []
        self._first_line: dict[str, int] = {}

    def add(self, line: int, row: dict[str, Any], labels: Mapping[str, str] | None = None) -> None:
        record, row_errors = _validate(line, row, labels or {})
        self.errors += row_errors
        if record is None:
            return
        if record.id in self._first_line:
            first = self._first_line[record.id]
            self.errors.append(f"line {line}: duplicate id {record.id!r} (first on line {first})")
            return
        self._first_line[record.id] = line
        self.records.append(record)

    def result(self) -> list[StationRecord]:
        if self.errors:
            raise RegistryError(self.errors)
        return self.records

    def line_of(self, sid: str) -> int:
        """The file line the record with this id came from."""
        return self._first_line[sid]


def parse_csv(text: str) -> list[StationRecord]:
    """Check a whole registry file; raise RegistryError listing every bad line."""
    return _parse_csv(text).result()


def _parse_csv(text: str) -> _Records:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        cells = next(reader)
    except StopIteration:
        raise RegistryError(["line 1: empty file; expected " + ",".join(CSV_COLUMNS)]) from None
    except csv.Error as exc:
        raise RegistryError([f"line 1: {exc}"]) from exc
    header, errors = _header(cells)
    if errors:
        raise RegistryError(errors)
    found = _Records()
    errors = found.errors
    while True:
        line = reader.line_num + 1  # where the next record starts (quoted fields may span)
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # broken quoting: the rest of the file cannot be trusted
            errors.append(f"line {line}: {exc}")
            break
        if not any(v.strip() for v in values):
            continue
        row, row_errors = header.row(line, values)
        if row_errors:
            errors += row_errors
            continue
        found.add(line, row, header.labels)
    return found


def parse_geojson(text: str) -> list[StationRecord]:
    """Check a whole GeoJSON FeatureCollection of Points; raise RegistryError listing every
    bad feature with its line. `id` is the feature's id (or `properties.id`)."""
    return _parse_geojson(text).result()


def _parse_geojson(text: str) -> _Records:
    try:
        elements = list(features_with_lines(text))
    except GeoJSONError as exc:
        raise RegistryError(exc.errors) from exc
    found = _Records()
    errors = found.errors
    for line, f in elements:
        geometry = f.get("geometry") if isinstance(f, dict) else None
        coords = geometry.get("coordinates") if isinstance(geometry, dict) else None
        if not (
            isinstance(geometry, dict)
            and geometry.get("type") == "Point"
            and isinstance(coords, list)
            and len(coords) in (2, 3)
            and all(isinstance(c, int | float) and not isinstance(c, bool) for c in coords)
        ):
            errors.append(f"line {line}: expected a Feature with a Point geometry [lon, lat]")
            continue
        props = f.get("properties") or {}
        if not isinstance(props, dict):
            errors.append(f"line {line}: properties must be an object")
            continue
        row = {k: v for k, v in props.items() if k != "id"}
        row |= {"id": f.get("id", props.get("id")), "lon": coords[0], "lat": coords[1]}
        found.add(line, row)
    return found


def parse_lines(text: str, *, geojson: bool) -> list[tuple[int, StationRecord]]:
    """`parse_geojson` or `parse_csv`, each record with the line it came from (for checks
    the caller adds, such as an ops account's scope)."""
    found = _parse_geojson(text) if geojson else _parse_csv(text)
    return [(found.line_of(r.id), r) for r in found.result()]


def is_geojson(path: str | Path) -> bool:
    return Path(path).suffix.lower() in (".geojson", ".json")


def import_file(engine: Engine, path: str | Path) -> ImportReport:
    """Import a CSV, or GeoJSON when the name ends in .geojson or .json; all or nothing."""
    text, encoding = _read(path)
    records = parse_geojson(text) if is_geojson(path) else parse_csv(text)
    return upsert(engine, records, encoding=encoding)


def import_csv(engine: Engine, path: str | Path) -> ImportReport:
    """Upsert every station of a registry CSV in one transaction, or none of them."""
    text, encoding = _read(path)
    return upsert(engine, parse_csv(text), encoding=encoding)


# Called for each station an upsert creates or changes, in its transaction: (session, id,
# the changed fields' old values ({} when created), their new values).
OnChange = Callable[[Session, str, dict[str, Any], dict[str, Any]], None]


def upsert(
    engine: Engine,
    records: list[StationRecord],
    *,
    encoding: str = "",
    on_change: OnChange | None = None,
    dry_run: bool = False,
) -> ImportReport:
    """Create or update stations by id in one transaction; `updated_at` moves only on change
    (the nearby index rebuilds when it does). An optional column is written only where the
    record carried it (`model_fields_set`). A retired station stays retired. `dry_run`: the
    same counts, everything rolled back (`on_change`'s writes too)."""
    created = updated = unchanged = 0
    now = utcnow()
    with session(engine) as s:
        existing: dict[str, Station] = {}
        ids = [r.id for r in records]
        for i in range(0, len(ids), _CHUNK):
            chunk = ids[i : i + _CHUNK]
            query = select(Station).where(col(Station.id).in_(chunk))
            existing |= {st.id: st for st in s.exec(query)}
        for record in records:
            given = set(OPTIONAL_COLUMNS) & record.model_fields_set
            values = record.model_dump(include={*_FIELDS, *given})
            station = existing.get(record.id)
            if station is None:
                s.add(Station(id=record.id, created_at=now, updated_at=now, **values))
                created += 1
                if on_change is not None:
                    on_change(s, record.id, {}, values)
                continue
            changed = {k: v for k, v in values.items() if getattr(station, k) != v}
            if not changed:
                unchanged += 1
                continue
            before = {k: getattr(station, k) for k in changed}
            for k, v in changed.items():
                setattr(station, k, v)
            station.updated_at = now
            updated += 1
            if on_change is not None:
                on_change(s, record.id, before, changed)
        if dry_run:
            s.rollback()
    return ImportReport(created=created, updated=updated, unchanged=unchanged, encoding=encoding)


def export_csv(engine: Engine, out_path: str | Path) -> int:
    """Write every station to a registry CSV (sorted by id, UTF-8 with BOM for Excel, with the
    optional columns); returns the number of rows. SheetError before any work for a workbook
    name or a folder that does not exist."""
    check_writable(Path(out_path))
    fields = {"id", *_FIELDS, *OPTIONAL_COLUMNS}
    with session(engine) as s:
        stations = s.exec(select(Station).order_by(col(Station.id))).all()
        rows = [
            StationRecord.model_validate(st.model_dump(include=fields)).csv_row(EXPORT_COLUMNS)
            for st in stations
        ]
    write_csv(Path(out_path), EXPORT_COLUMNS, rows)
    return len(rows)


def export_geojson(engine: Engine, out_path: str | Path) -> int:
    """Write every station as a GeoJSON FeatureCollection (sorted by id); rows written."""
    check_writable(Path(out_path))
    with session(engine) as s:
        stations = s.exec(select(Station).order_by(col(Station.id))).all()
        records = [st.model_dump(include={"id", *_FIELDS, *OPTIONAL_COLUMNS}) for st in stations]
    features = (_with_optional(feature(r), r) for r in records)
    Path(out_path).write_bytes(dumps(features))
    return len(records)


def _with_optional(f: dict[str, Any], record: dict[str, Any]) -> dict[str, Any]:
    """The feature with the optional columns the station has a value for (as import reads)."""
    f["properties"] |= {k: record[k] for k in OPTIONAL_COLUMNS if record[k] not in (None, "")}
    return f


def export_file(engine: Engine, out_path: str | Path) -> int:
    """CSV, or GeoJSON when the name ends in .geojson or .json."""
    return (
        export_geojson(engine, out_path) if is_geojson(out_path) else export_csv(engine, out_path)
    )
