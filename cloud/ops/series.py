"""Telemetry series per station for charts: one metric, bucketed (min, mean, max per bucket).

Heartbeats keep their whole payload, so any number in it can be charted — a column
(`cpu_temp_c`), a payload field (`disk_used_pct`, `camera_fps`) or a sensor (`sensors.fridge_c`)
— without a schema change when the edge learns a new reading. Rows are read for one station
and one range through the (station, received_at) index and reduced here.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import Connection, select

from cloud.models import Telemetry, table

TELEMETRY = table(Telemetry)
METRIC_RE = re.compile(r"^(sensors\.)?[a-z][a-z0-9_]{0,39}$")
MAX_POINTS = 2_000  # buckets per answer: a chart is a few hundred pixels wide
MAX_RANGE = timedelta(days=31)  # raw heartbeats are kept 30 days (cloud.jobs.retention)


class Point(BaseModel):
    at: datetime  # bucket start
    min: float
    mean: float
    max: float
    n: int


class Series(BaseModel):
    station_id: str
    metric: str
    bucket_s: int
    points: list[Point]


class SeriesError(ValueError):
    """A request the series cannot answer (bad metric name, range, bucket): a 422."""


def _value(payload: dict[str, object], metric: str) -> float | None:
    if metric.startswith("sensors."):
        sensors = payload.get("sensors")
        value = sensors.get(metric[8:]) if isinstance(sensors, dict) else None
    else:
        value = payload.get(metric)
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def series(
    conn: Connection,
    sid: str,
    metric: str,
    *,
    since: datetime,
    until: datetime,
    bucket_s: int | None = None,
) -> Series:
    if not METRIC_RE.match(metric):
        raise SeriesError(f"metric {metric!r}: a payload field or sensors.<name>")
    if until <= since:
        raise SeriesError("until must be after since")
    if until - since > MAX_RANGE:
        raise SeriesError(f"range longer than {MAX_RANGE.days} days")
    span = (until - since).total_seconds()
    bucket = bucket_s or max(30, math.ceil(span / 300))  # ~300 points by default
    if span / bucket > MAX_POINTS:
        raise SeriesError(f"bucket_s too small: more than {MAX_POINTS} points")
    rows = conn.execute(
        select(TELEMETRY.c.received_at, TELEMETRY.c.payload)
        .where(
            TELEMETRY.c.station_id == sid,
            TELEMETRY.c.received_at >= since,
            TELEMETRY.c.received_at < until,
        )
        .order_by(TELEMETRY.c.received_at)
    )
    buckets: dict[int, list[float]] = {}
    for at, payload in rows:
        value = _value(payload or {}, metric)
        if value is not None:
            buckets.setdefault(int((at - since).total_seconds() // bucket), []).append(value)
    points = [
        Point(
            at=since + timedelta(seconds=i * bucket),
            min=min(vs),
            mean=round(sum(vs) / len(vs), 3),
            max=max(vs),
            n=len(vs),
        )
        for i, vs in sorted(buckets.items())
    ]
    return Series(station_id=sid, metric=metric, bucket_s=bucket, points=points)
