"""Refusals are never silent: each station's refused messages are counted on its live state
(`account`, in the batch's transaction) and logged at most once a minute per station
(`RefusalLog`, after the commit). The `payload_refused` alarm rule (cloud.alarms.rules)
reads `refused_at`; the ack tells the station which of its seqs were refused
(cloud.ingest.acks).

Cheap on the good path by construction: `account` gets the batch's refused items (usually
none) and issues no statement without one.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, bindparam, update

from cloud.ingest.parse import Item
from cloud.ingest.stationstate import STATE

log = logging.getLogger(__name__)

LOG_EVERY_S = 60.0  # one log line per station per minute at most; the rest are counted in it
MAX_REMEMBERED = 10_000  # stations whose last line is remembered before old ones are forgotten


def describe(item: Item) -> str:
    """`reason: detail`, cut to what `station_state.refused_reason` holds."""
    text = f"{item.reason}: {item.detail}" if item.detail else str(item.reason)
    return text[:200]


@dataclass(slots=True)
class _Tally:
    n: int
    at: datetime
    last: Item


def account(conn: Connection, items: list[Item]) -> None:
    """Add the refused `items` (of registered stations) to their stations' counters; sets the
    newest refusal's time and reason. One executemany, stations in key order (lock order)."""
    if not items:
        return
    tally: dict[str, _Tally] = {}
    for item in items:
        assert item.sid is not None
        t = tally.get(item.sid)
        if t is None:
            tally[item.sid] = _Tally(1, item.received_at, item)
        else:
            t.n += 1
            if item.received_at >= t.at:
                t.at, t.last = item.received_at, item
    conn.execute(
        update(STATE)
        .where(STATE.c.station_id == bindparam("b_sid"))
        .values(
            refused=STATE.c.refused + bindparam("b_n"),
            refused_at=bindparam("b_at"),
            refused_reason=bindparam("b_reason"),
        ),
        [
            {"b_sid": sid, "b_n": t.n, "b_at": t.at, "b_reason": describe(t.last)}
            for sid, t in sorted(tally.items())
        ],
    )


class RefusalLog:
    """A WARNING per station at most every `every_s` seconds, naming the refusal and how many
    more came since the last line. For one thread (the ingest writer)."""

    def __init__(
        self, every_s: float = LOG_EVERY_S, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.every_s = every_s
        self.monotonic = monotonic
        self._last: dict[str, float] = {}  # station → when its last line was written
        self._held: Counter[str] = Counter()  # refusals since that line, not yet logged
        self.lines = 0

    def note(self, items: Iterable[Item]) -> None:
        """Log the committed refused `items` (others are skipped), rate-limited per station."""
        now: float | None = None
        for item in items:
            if item.reason is None:
                continue
            now = self.monotonic() if now is None else now
            key = item.sid or "(no station)"
            last = self._last.get(key)
            if last is not None and now - last < self.every_s:
                self._held[key] += 1
                continue
            if len(self._last) >= MAX_REMEMBERED:
                self._forget(now)
            held = self._held.pop(key, 0)
            self._last[key] = now
            self.lines += 1
            log.warning(
                "ingest: refused a message of station %s on %r (seq %s): %s%s",
                key,
                item.topic,
                item.seq if item.seq is not None else "unknown",
                describe(item),
                f" (+{held} more refused since the last such line)" if held else "",
            )

    def _forget(self, now: float) -> None:
        """Drop stations whose last line is older than the interval (their count is lost
        from the log only; the database keeps the real one)."""
        for key in [k for k, at in self._last.items() if now - at >= self.every_s]:
            del self._last[key]
            self._held.pop(key, None)
