"""Retention: delete rows past their age in small batches, each its own transaction.

Small batches keep every lock short, so ingest writing the same tables is never held up for
long, and an interrupted purge just resumes next time. Roll up footfall (`cloud.jobs.rollup`)
over a window that ends before the footfall cutoff, or the hours being purged are lost.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select

from cloud.models import DeadLetter, FootfallInterval, Telemetry, table

# Rows deleted per transaction. Larger batches purge faster; smaller ones hold row locks (and
# on SQLite the single writer lock) for less time. 5,000 rows take ~10–50 ms here.
BATCH = 5_000


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of row is kept, in days (None: forever)."""

    telemetry_days: float | None = 30
    footfall_days: float | None = 90  # raw intervals; hour/day roll-ups are kept
    dead_letter_days: float | None = 90


def purge_before(
    engine: Engine, model: type, column: str, cutoff: datetime, batch: int = BATCH
) -> int:
    """Delete rows of `model` whose `column` is older than `cutoff` (aware); rows deleted."""
    tbl = table(model)
    total = 0
    while True:
        ids = select(tbl.c.id).where(tbl.c[column] < cutoff).limit(batch)
        with engine.begin() as conn:
            n = conn.execute(delete(tbl).where(tbl.c.id.in_(ids))).rowcount
        total += n
        if n < batch:
            return total


def purge(
    engine: Engine, policy: RetentionPolicy, *, now: datetime, batch: int = BATCH
) -> dict[str, int]:
    """Apply `policy` at `now`; rows deleted per table."""
    plan = (
        ("telemetry", Telemetry, "received_at", policy.telemetry_days),
        ("footfall_interval", FootfallInterval, "interval_start", policy.footfall_days),
        ("dead_letter", DeadLetter, "received_at", policy.dead_letter_days),
    )
    return {
        name: purge_before(engine, model, column, now - timedelta(days=days), batch)
        for name, model, column, days in plan
        if days is not None
    }
