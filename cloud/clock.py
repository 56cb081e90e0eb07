"""The cloud's clock: what "now" is for ingest, the API and the health monitor.

Everything that judges time (liveness, opening hours, alarm rules, received_at) takes a
`Clock` so that tests can pass a settable one; the default is `utcnow`. Readings are aware
UTC datetimes (the database stores them as such, see `cloud.sql.types.UTCDateTime`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]
"""A zero-argument callable returning the current time, aware UTC."""


def utcnow() -> datetime:
    """The wall clock now, aware UTC (the default `Clock`)."""
    return datetime.now(UTC)
