"""The ingest core without MQTT: `Ingestor.handle` buffers messages, `flush` commits them.

`IngestWorker` (subscriber.py) feeds it from paho; tests and the demo call it directly.
Bad input never raises: it becomes a dead letter with a stable reason. Database outages do
raise from `flush`, with the buffer kept, so the caller can back off and retry. A batch the
database refuses for its data (something validation could not foresee) is split in halves
until the items it refuses are found: O(k log n) transactions for k bad items in n, where
storing one by one took n (a NUL in one message turned a 90 ms flush into 5 s).
"""

from __future__ import annotations

import logging
from collections import Counter

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from cloud.clock import Clock, utcnow
from cloud.ingest.acks import Ack, compute_acks, resolve_gaps
from cloud.ingest.parse import Item, parse
from cloud.ingest.refusals import RefusalLog
from cloud.ingest.writer import Outcome, write_batch
from protocol.messages import printable

log = logging.getLogger(__name__)


def transient(exc: BaseException) -> bool:
    """A database that is away or busy (retry later), as opposed to data it refused."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


class Ingestor:
    """Buffers received messages and writes them in batches; not thread-safe (one writer)."""

    def __init__(self, engine: Engine, *, clock: Clock = utcnow) -> None:
        self._engine = engine
        self._clock = clock
        self._buffer: list[Item] = []
        # (kind, result) → messages; result is stored, duplicate, ignored or a dead-letter
        # reason. Counted after the commit, so it only ever counts what is in the database.
        self.stats: Counter[tuple[str, str]] = Counter()
        self.refusals = RefusalLog()  # refused messages, logged rate-limited per station

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def handle(self, topic: str, payload: bytes, retained: bool = False) -> None:
        """Parse and buffer one message; never raises."""
        now = self._clock()
        try:
            item = parse(topic, payload, retained=retained, received_at=now)
        except Exception as exc:  # parse is total; this is the last line of defence
            log.exception("ingest: unexpected error parsing a message on %r", topic)
            item = Item(str(topic), bytes(payload), retained, now).refuse("internal", repr(exc))
        self._buffer.append(item)

    def flush(self) -> list[Ack]:
        """Commit the buffer in one transaction; return the acks to publish.

        Raises on a transient database error with the unwritten items still buffered.
        """
        if not self._buffer:
            return []
        newest = self._buffer[-1].received_at  # buffered in arrival order: the batch's "now"
        try:
            outcome = self._commit(list(self._buffer))
        except Exception as exc:
            if transient(exc):
                raise
            log.warning(
                "ingest: batch of %d refused (%s); isolating the refused items",
                self.pending,
                _db_error(exc)[:200],
            )
            outcome, _ = self._isolate(list(self._buffer), known_bad=True)
        try:
            return compute_acks(self._engine, outcome, newest)
        except Exception as exc:  # items are committed; the edge re-sends and is acked then
            log.warning("ingest: computing acks failed: %s", exc)
            return []

    def resolve_gaps(self, wait_s: float) -> list[Ack]:
        """Apply the seq-gap rule (cloud.ingest.acks) on this ingestor's clock; the acks to
        publish. Raises what the database raises."""
        return resolve_gaps(self._engine, self._clock(), wait_s)

    def _count(self, item: Item) -> None:
        kind = str(item.kind) if item.kind else "unknown"
        self.stats[(kind, item.result or "dropped")] += 1
        if item.reason is None:
            for reason, _ in item.notes:  # stored, but with a value removed or clamped
                self.stats[(kind, reason)] += 1

    def _commit(self, items: list[Item]) -> Outcome:
        """Write `items`, the head of the buffer, in one transaction; on success they leave
        the buffer and are counted. Raises what the database raised, nothing written."""
        for item in items:
            item.result = None  # from an attempt rolled back
        with self._engine.begin() as conn:
            outcome = write_batch(conn, items)
        assert self._buffer[: len(items)] == items  # committed strictly in arrival order
        del self._buffer[: len(items)]
        for item in items:
            self._count(item)
        self.refusals.note(items)
        return outcome

    def _isolate(self, items: list[Item], *, known_bad: bool) -> tuple[Outcome, bool]:
        """Store `items` (the head of the buffer, in order) where the database refuses some.

        Halves are tried left to right, so messages still commit in arrival order; a half
        that fails is split again, down to the single item the database refuses, which is
        dead-lettered as `store_failed` with the database's message. `known_bad`: `items`
        already failed as one transaction, so it is split without trying it again (when the
        left half then goes in whole, the right half is known bad too). Returns the outcome
        and whether every item was stored (none dead-lettered here). Transient errors raise,
        the uncommitted items still buffered.
        """
        if not known_bad or len(items) == 1:
            try:
                return self._commit(items), True
            except Exception as exc:
                if transient(exc):
                    raise
                if len(items) == 1:
                    return self._store_failed(items[0], exc), False
        mid = len(items) // 2
        outcome, whole = self._isolate(items[:mid], known_bad=False)
        right, right_whole = self._isolate(items[mid:], known_bad=whole)
        outcome |= right
        return outcome, whole and right_whole

    def _store_failed(self, item: Item, exc: Exception) -> Outcome:
        """Dead-letter the one item the database refused; its seq still counts as received."""
        item.refuse("store_failed", _db_error(exc))
        log.warning("ingest: a message on %r refused by the database: %s", item.topic, item.detail)
        try:
            return self._commit([item])
        except Exception as exc2:
            if transient(exc2):
                raise
            log.error("ingest: dropped a message on %r: %s", printable(item.topic), exc2)
            item.result = None
            self._buffer.pop(0)
            self._count(item)
            return Outcome()


def _db_error(exc: Exception) -> str:
    """The database's own message (not SQLAlchemy's, which quotes every parameter of the
    statement: a whole batch), printable."""
    orig = getattr(exc, "orig", None)
    return printable(f"{type(orig or exc).__name__}: {orig or exc}")
