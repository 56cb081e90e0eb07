"""Station registry import and export as CSV (`protocol.registry.CSV_COLUMNS`) or GeoJSON.

An import is all-or-nothing: every row is checked first and any error, each naming its file
line, aborts the whole file, so the registry is never half-updated from a file with one typo.
Rows upsert by `id`; fields the CSV does not carry (tz, capacity, maintenance) are kept.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import col, select

from cloud.db import session
from cloud.geojson import GeoJSONError, dumps, feature, features_with_lines
from cloud.hours import HoursError, check
from cloud.models import Station, utcnow
from protocol.registry import CSV_COLUMNS, StationRecord

_CHUNK = 500  # ids per IN (...) lookup; far below every dialect's parameter limit
_FIELDS = tuple(c for c in CSV_COLUMNS if c != "id")


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

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")  # Excel writes a BOM
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise RegistryError([f"line {line}: not UTF-8 ({exc.reason})"]) from exc


def _header(names: Sequence[str]) -> list[str]:
    names = [n.strip() for n in names]
    missing = [c for c in CSV_COLUMNS if c not in names]
    extra = [n for n in names if n not in CSV_COLUMNS]
    dupes = sorted({n for n in names if names.count(n) > 1})
    errors = []
    if missing:
        errors.append(f"line 1: missing column(s): {', '.join(missing)}")
    if extra:
        errors.append(f"line 1: unknown column(s): {', '.join(extra)}")
    if dupes:
        errors.append(f"line 1: repeated column(s): {', '.join(dupes)}")
    return errors


def _validate(line: int, row: dict[str, Any]) -> tuple[StationRecord | None, list[str]]:
    """Every problem of one row: the record's fields and the opening_hours syntax."""
    errors = []
    record = None
    try:
        record = StationRecord.model_validate(row)
    except ValidationError as exc:
        errors = [
            f"line {line}: {'.'.join(str(p) for p in e['loc'])}: {e['msg']} (got {e['input']!r})"
            for e in exc.errors()
        ]
    hours = row.get("opening_hours", "")
    if isinstance(hours, str) and hours.strip():
        try:
            check(hours.strip())
        except HoursError as exc:
            errors.append(f"line {line}: opening_hours: {exc}")
    return (None, errors) if errors else (record, [])


class _Records:
    """Valid records in file order, every error with its line, duplicate ids refused."""

    def __init__(self) -> None:
        self.records: list[StationRecord] = []
        self.errors: list[str] = []
        self._first_line: dict[str, int] = {}

    def add(self, line: int, row: dict[str, Any]) -> None:
        record, row_errors = _validate(line, row)
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


def parse_csv(text: str) -> list[StationRecord]:
    """Check a whole registry file; raise RegistryError listing every bad line."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise RegistryError(["line 1: empty file; expected " + ",".join(CSV_COLUMNS)]) from None
    except csv.Error as exc:
        raise RegistryError([f"line 1: {exc}"]) from exc
    if errors := _header(header):
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
        if len(values) != len(header):
            errors.append(f"line {line}: {len(values)} fields, expected {len(header)}")
            continue
        found.add(line, dict(zip(header, values, strict=True)))
    return found.result()


def parse_geojson(text: str) -> list[StationRecord]:
    """Check a whole GeoJSON FeatureCollection of Points; raise RegistryError listing every
    bad feature with its line. `id` is the feature's id (or `properties.id`)."""
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
    return found.result()


def is_geojson(path: str | Path) -> bool:
    return Path(path).suffix.lower() in (".geojson", ".json")


def import_file(engine: Engine, path: str | Path) -> ImportReport:
    """Import a CSV, or GeoJSON when the name ends in .geojson or .json; all or nothing."""
    text = _decode(Path(path).read_bytes())
    return upsert(engine, parse_geojson(text) if is_geojson(path) else parse_csv(text))


def import_csv(engine: Engine, path: str | Path) -> ImportReport:
    """Upsert every station of a registry CSV in one transaction, or none of them."""
    return upsert(engine, parse_csv(_decode(Path(path).read_bytes())))


def upsert(engine: Engine, records: list[StationRecord]) -> ImportReport:
    """Create or update stations by id in one transaction; `updated_at` moves only on change
    (the nearby index rebuilds when it does)."""
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
            values = record.model_dump(include=set(_FIELDS))
            station = existing.get(record.id)
            if station is None:
                s.add(Station(id=record.id, created_at=now, updated_at=now, **values))
                created += 1
            elif any(getattr(station, k) != v for k, v in values.items()):
                for k, v in values.items():
                    setattr(station, k, v)
                station.updated_at = now
                updated += 1
            else:
                unchanged += 1
    return ImportReport(created=created, updated=updated, unchanged=unchanged)


def export_csv(engine: Engine, out_path: str | Path) -> int:
    """Write every station to a registry CSV (sorted by id); returns the number of rows."""
    with session(engine) as s:
        stations = s.exec(select(Station).order_by(col(Station.id))).all()
        rows = [
            StationRecord.model_validate(st.model_dump(include={"id", *_FIELDS})).csv_row()
            for st in stations
        ]
    with Path(out_path).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def export_geojson(engine: Engine, out_path: str | Path) -> int:
    """Write every station as a GeoJSON FeatureCollection (sorted by id); rows written."""
    with session(engine) as s:
        stations = s.exec(select(Station).order_by(col(Station.id))).all()
        records = [st.model_dump(include={"id", *_FIELDS}) for st in stations]
    Path(out_path).write_bytes(dumps(feature(r) for r in records))
    return len(records)


def export_file(engine: Engine, out_path: str | Path) -> int:
    """CSV, or GeoJSON when the name ends in .geojson or .json."""
    return (
        export_geojson(engine, out_path) if is_geojson(out_path) else export_csv(engine, out_path)
    )
