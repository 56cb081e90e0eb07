"""The ingest core without MQTT: `Ingestor.handle` buffers messages, `flush` commits them.

`IngestWorker` (subscriber.py) feeds it from paho; tests and the demo call it directly.
Bad input never raises: it becomes a dead letter with a stable reason. Database outages do
raise from `flush`, with the buffer kept, so the caller can back off and retry.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from cloud.ingest.acks import compute_acks
from cloud.ingest.parse import Item, parse
from cloud.ingest.store import Outcome, write_batch
from cloud.models import utcnow

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


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

    def flush(self) -> list[tuple[str, int]]:
        """Commit the buffer in one transaction; return the acks to publish, (sid, upto_seq).

        Raises on a transient database error with the unwritten items still buffered.
        """
        if not self._buffer:
            return []
        try:
            with self._engine.begin() as conn:
                outcome = write_batch(conn, self._buffer)
            written, self._buffer = self._buffer, []
        except Exception as exc:
            if transient(exc):
                raise
            log.warning("ingest: batch of %d refused (%s); storing one by one", self.pending, exc)
            outcome, written = self._one_by_one(), []
        for item in written:
            self._count(item)
        try:
            return compute_acks(self._engine, outcome)
        except Exception as exc:  # items are committed; the edge re-sends and is acked then
            log.warning("ingest: computing acks failed: %s", exc)
            return []

    def _count(self, item: Item) -> None:
        kind = str(item.kind) if item.kind else "unknown"
        self.stats[(kind, item.result or "dropped")] += 1
        if item.reason is None:
            for reason, _ in item.notes:  # stored, but with a value removed or clamped
                self.stats[(kind, reason)] += 1

    def _one_by_one(self) -> Outcome:
        """Isolate the item the database refused (e.g. a number too big for BIGINT, a NUL in
        text for PostgreSQL) and dead-letter it as `store_failed`, keeping the rest."""
        outcome = Outcome()
        while self._buffer:
            item = self._buffer[0]
            item.result = None
            try:
                outcome |= self._write_one(item)
            except Exception as exc:
                if transient(exc):
                    raise
                item.refuse("store_failed", f"{type(exc).__name__}: {exc}")
                try:
                    outcome |= self._write_one(item)
                except Exception as exc2:
                    if transient(exc2):
                        raise
                    log.error("ingest: dropped a message on %r: %s", item.topic, exc2)
                    item.result = None
            self._count(self._buffer.pop(0))
        return outcome

    def _write_one(self, item: Item) -> Outcome:
        with self._engine.begin() as conn:
            return write_batch(conn, [item])
