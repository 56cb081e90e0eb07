"""Footfall roll-ups: raw intervals → `footfall_hour` → `footfall_day` (UTC buckets).

Recomputing is idempotent: each bucket touched by the window is rebuilt from its source with
one `INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE`, so running the job twice, or over
an overlapping window, changes nothing. Late data (an edge replaying its journal after days
offline) is covered by re-running over a window that reaches back far enough; buckets whose
raw intervals have already expired (`cloud.jobs.retention`) keep the totals they had.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Connection, Engine, Table, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite

from cloud.models import FootfallDay, FootfallHour, FootfallInterval, table

INTERVAL = table(FootfallInterval)
HOUR = table(FootfallHour)
DAY = table(FootfallDay)
HOUR_S, DAY_S = 3_600, 86_400


@dataclass(frozen=True, slots=True)
class RollupReport:
    hours: int  # hour buckets written (inserted or recomputed)
    days: int


def floor(at: datetime, seconds: int) -> datetime:
    """`at` (aware) rounded down to a whole UTC hour or day."""
    epoch = int(at.astimezone(UTC).timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds, UTC)


def ceil(at: datetime, seconds: int) -> datetime:
    start = floor(at, seconds)
    return start if start == at else start + timedelta(seconds=seconds)


def _bucket(conn: Connection, column: ColumnElement[datetime], unit: str) -> ColumnElement:
    """The UTC hour/day a timestamp falls in, as each dialect stores `UTCDateTime`."""
    if conn.dialect.name == "postgresql":
        utc = column.op("AT TIME ZONE")(literal_column("'UTC'"))
        return func.date_trunc(unit, utc).op("AT TIME ZONE")(literal_column("'UTC'"))
    if conn.dialect.name == "sqlite":  # naive UTC text, 'YYYY-MM-DD HH:MM:SS.ffffff'
        fmt = "%Y-%m-%d %H:00:00.000000" if unit == "hour" else "%Y-%m-%d 00:00:00.000000"
        return func.strftime(fmt, column)
    raise NotImplementedError(f"roll-ups support sqlite and postgresql, not {conn.dialect.name}")


def _upsert(
    conn: Connection,
    target: Table,
    source: Table,
    time_col: str,
    unit: str,
    start: datetime,
    end: datetime,
) -> int:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    when = source.c[time_col]
    bucket = _bucket(conn, when, unit).label("bucket_start")
    occupancy = source.c["occupancy" if source is INTERVAL else "max_occupancy"]
    query = (
        select(
            source.c.station_id,
            bucket,
            func.sum(source.c.entries),
            func.sum(source.c.exits),
            func.max(occupancy),
            func.sum(source.c.seconds),
        )
        .where(when >= start, when < end)
        .group_by(source.c.station_id, bucket)
    )
    cols = ["station_id", "bucket_start", "entries", "exits", "max_occupancy", "seconds"]
    stmt = insert(target).from_select(cols, query)
    stmt = stmt.on_conflict_do_update(
        index_elements=["station_id", "bucket_start"],
        set_={c: stmt.excluded[c] for c in cols[2:]},
    )
    # rowcount of INSERT … SELECT is -1 under psycopg; count the returned keys instead
    return len(conn.execute(stmt.returning(target.c.station_id)).all())


def rollup_footfall(engine: Engine, *, start: datetime, end: datetime) -> RollupReport:
    """Rebuild every hour bucket overlapping [start, end) from raw intervals, then every day
    bucket overlapping it from the hours; one transaction."""
    h0, h1 = floor(start, HOUR_S), ceil(end, HOUR_S)
    d0, d1 = floor(start, DAY_S), ceil(end, DAY_S)
    with engine.begin() as conn:
        hours = _upsert(conn, HOUR, INTERVAL, "interval_start", "hour", h0, h1)
        days = _upsert(conn, DAY, HOUR, "bucket_start", "day", d0, d1)
    return RollupReport(hours=hours, days=days)
