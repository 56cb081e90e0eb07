"""The delivery window over the journal: which rows to publish next, and what is in flight.

Pure bookkeeping, no MQTT: the link asks `take()` for the next rows, publishes them, reports
each with `sent()`, and feeds cloud acks to `acked()`. Kept apart so the rules can be tested
without a broker:

- at most `max_inflight` rows published and not yet acked by the cloud;
- `restart()` (after a reconnect, when the cloud comes back, on ack timeout) starts again from
  the oldest unacked row; a generation number makes a pass that raced a restart stop early;
- a row first attempted after a restart that was journaled before it (seq <= the high-water
  mark at the restart) was written while disconnected: it goes out once with
  `"historical": true`, and that marked payload is what is stored for any resend.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Mapping

from edge.journal import Journal, Row


def mark_historical(payload: bytes) -> bytes:
    """The same JSON payload with `"historical": true`."""
    data = json.loads(payload)
    data["historical"] = True
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


class Outbox:
    """Thread-safe: the drain thread takes and sends, the network thread acks and restarts."""

    def __init__(
        self,
        journal: Journal,
        *,
        max_inflight: int,
        ack_timeout_s: float,
        monotonic: Callable[[], float],
    ) -> None:
        self.journal = journal
        self.max_inflight = max_inflight
        self.ack_timeout_s = ack_timeout_s  # resend the window if no ack comes for this long
        self.monotonic = monotonic
        self._lock = threading.Lock()
        self._gen = 0
        self._cursor = 0  # highest seq taken in this pass
        self._boundary = 0  # journal high-water mark at the last restart(from_connect=True)
        self._inflight: deque[int] = deque()
        self._progress_at = 0.0  # when the last ack came (or the window was opened)

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def restart(self, *, reconnected: bool) -> None:
        """Start again from the oldest unacked row; `reconnected` moves the historical mark."""
        boundary = self.journal.last_seq() if reconnected else None
        with self._lock:
            self._gen += 1
            self._cursor = 0
            if boundary is not None:
                self._boundary = boundary
            self._inflight.clear()
            self._progress_at = self.monotonic()

    def timed_out(self) -> bool:
        """True if rows are in flight and the cloud has acked nothing for ack_timeout_s."""
        with self._lock:
            return bool(self._inflight) and (
                self.monotonic() - self._progress_at > self.ack_timeout_s
            )

    def take(self) -> tuple[int, list[Row]]:
        """(generation, rows to publish now, oldest first), at most the free window."""
        with self._lock:
            room = self.max_inflight - len(self._inflight)
            gen, cursor = self._gen, self._cursor
        if room <= 0:
            return gen, []
        return gen, self.journal.pending(cursor, room)

    def payload(self, row: Row) -> bytes:
        """The bytes to publish for `row`; records its first attempt in the journal."""
        if row.sent:
            return row.payload  # a resend is a pure replay
        if row.seq <= self._boundary:
            payload = mark_historical(row.payload)
            self.journal.mark_sent(row.seq, payload)
            return payload
        self.journal.mark_sent(row.seq)
        return row.payload

    def sent(self, gen: int, seq: int) -> bool:
        """Record `seq` as in flight; False if a restart happened since `take()` (stop)."""
        with self._lock:
            if gen != self._gen:
                return False
            if not self._inflight:
                self._progress_at = self.monotonic()
            self._inflight.append(seq)
            self._cursor = seq
            return True

    def acked(self, upto_seq: int, refused: Mapping[int, str] | None = None) -> int:
        """The cloud committed every row <= upto_seq: delete them, keeping the `refused` ones
        (seq → reason) in the journal's refused store; returns rows deleted or kept.

        If the journal found the ack to be about an earlier life of the station and
        renumbered its rows instead (`Journal.ack`), the window starts again from the top.
        """
        rebased = self.journal.rebased
        deleted = self.journal.ack(upto_seq, refused)
        if self.journal.rebased != rebased:
            self.restart(reconnected=False)
            return 0
        with self._lock:
            while self._inflight and self._inflight[0] <= upto_seq:
                self._inflight.popleft()
            self._progress_at = self.monotonic()
        return deleted
