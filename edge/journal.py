"""The journal: a SQLite outbox every event and footfall interval goes through before MQTT.

A row's `seq` is its AUTOINCREMENT rowid, so SQLite never hands the same number out twice,
even after the rows are deleted or the station reboots (`sqlite_sequence` keeps the high-water
mark). The payload is built *inside* the insert transaction from that seq, so the bytes on
disk and on the wire always carry their own seq. Rows leave only when the cloud's `ack`
covers them (`ack()`); a broker PUBACK is not enough. A row the ack names as refused (the
cloud could not store it, or acked past it as a seq gap) moves to the `refused` table instead,
kept for inspection (the newest REFUSED_KEEP), never sent again.

One connection, one lock: the door loop appends and the link thread reads and deletes. Rows
are small (< 1 kB) and the rates are a few per second, so a lock is cheaper than a pool.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from protocol.messages import Payload

log = logging.getLogger(__name__)

# Refused rows kept for inspection; older ones are dropped beyond this (~1 kB each: ~1 MB).
REFUSED_KEEP = 1_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT    NOT NULL,
    payload BLOB    NOT NULL,
    created REAL    NOT NULL,           -- unix seconds, for diagnostics only
    sent    INTEGER NOT NULL DEFAULT 0  -- 1 once a first publish was attempted
);
CREATE TABLE IF NOT EXISTS refused (
    seq        INTEGER PRIMARY KEY,     -- the seq it was sent with
    kind       TEXT    NOT NULL,
    payload    BLOB    NOT NULL,
    created    REAL    NOT NULL,        -- unix seconds it was journaled
    refused_at REAL    NOT NULL,        -- unix seconds the cloud's ack said refused
    reason     TEXT    NOT NULL         -- the cloud's reason (schema, seq_gap, …)
);
CREATE TABLE IF NOT EXISTS counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Row:
    seq: int
    kind: str  # protocol.topics.Kind value: "events" or "footfall"
    payload: bytes
    sent: bool


class JournalClosedError(RuntimeError):
    """The journal was used before open() or after close()."""


class Journal:
    """The outbox at `path`. No I/O until `open()`."""

    def __init__(self, path: Path | str, *, exclusive: bool = False) -> None:
        self.path = Path(path)
        # Set before open(): EXCLUSIVE locking keeps the WAL index in memory, so no -shm file
        # and one descriptor less (a fleet of 5,000 simulated stations in one process hits
        # the open-file limit otherwise); no other process may open the journal meanwhile.
        self.exclusive = exclusive
        self._db: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self.rebased = 0  # times `rebase` ran: the outbox restarts its window after one

    def open(self) -> None:
        with self._lock:
            if self._db is not None:
                return
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: we write BEGIN/COMMIT ourselves, so one append is exactly
            # one transaction. check_same_thread=False: access is serialised by self._lock.
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            if self.exclusive:
                db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode syncs at checkpoints, not at every commit: a committed row
            # survives an agent crash or kill -9, and the database is never corrupted, but
            # the last few hundred milliseconds of commits can be lost on a power cut. FULL
            # would fsync each door opening on an SD card (latency, wear) for that margin.
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.executescript(_SCHEMA)
            self._db = db

    def close(self) -> None:
        with self._lock:
            db, self._db = self._db, None
            if db is not None:
                db.close()

    def __enter__(self) -> Journal:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise JournalClosedError(f"journal {self.path} is not open")
        return self._db

    def append(self, topic_kind: str, make: Callable[[int], Payload]) -> tuple[int, bytes]:
        """Journal one item: `make(seq)` builds its payload with the seq just assigned.

        Returns (seq, payload bytes). If `make` raises, nothing is stored and the exception
        propagates (a bug in the caller, not a runtime condition).
        """
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                cur = db.execute(
                    "INSERT INTO outbox (kind, payload, created) VALUES (?, x'', ?)",
                    (str(topic_kind), time.time()),
                )
                seq = int(cur.lastrowid or 0)
                payload = make(seq).to_bytes()
                db.execute("UPDATE outbox SET payload = ? WHERE seq = ?", (payload, seq))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return seq, payload

    def pending(self, after_seq: int = 0, limit: int = 100) -> list[Row]:
        """Unacked rows with seq > after_seq, oldest first."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT seq, kind, payload, sent FROM outbox WHERE seq > ? "
                    "ORDER BY seq LIMIT ?",
                    (after_seq, max(0, limit)),
                )
                .fetchall()
            )
        return [Row(seq, kind, bytes(payload), bool(sent)) for seq, kind, payload, sent in rows]

    def mark_sent(self, seq: int, payload: bytes | None = None) -> None:
        """Record the first publish attempt; `payload` replaces the stored bytes if given."""
        with self._lock:
            db = self._conn()
            if payload is None:
                db.execute("UPDATE outbox SET sent = 1 WHERE seq = ?", (seq,))
            else:
                db.execute("UPDATE outbox SET sent = 1, payload = ? WHERE seq = ?", (payload, seq))

    def ack(self, upto_seq: int, refused: Mapping[int, str] | None = None) -> int:
        """Delete every row with seq <= upto_seq (the cloud committed them); returns the count.
        Rows in `refused` (seq → the cloud's reason) move to the refused table instead
        (counted among the rows returned).

        An ack beyond every seq this journal ever assigned, or covering a row never
        published, is not about this journal: the cloud holds seqs from an earlier life of
        this station (a replaced Pi, a wiped SD card, whose journal began again at 1; the
        cloud re-states its mark at every birth). Deleting would lose rows never stored;
        instead the rows are renumbered above the cloud's mark (`rebase`) and nothing is
        deleted (returns 0).
        """
        with self._lock:
            db = self._conn()
            unsent = db.execute(
                "SELECT 1 FROM outbox WHERE sent = 0 AND seq <= ? LIMIT 1", (upto_seq,)
            ).fetchone()
            if upto_seq > self._last_seq_locked(db) or unsent is not None:
                self.rebase(upto_seq)
                return 0
            if not refused:
                return db.execute("DELETE FROM outbox WHERE seq <= ?", (upto_seq,)).rowcount
            db.execute("BEGIN IMMEDIATE")
            try:
                now = time.time()
                db.executemany(
                    "INSERT OR REPLACE INTO refused "
                    "SELECT seq, kind, payload, created, ?, ? FROM outbox WHERE seq = ?",
                    [(now, reason, seq) for seq, reason in refused.items() if seq <= upto_seq],
                )
                db.execute(
                    "DELETE FROM refused WHERE seq <= (SELECT seq FROM refused "
                    "ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                    (REFUSED_KEEP,),
                )
                deleted = db.execute("DELETE FROM outbox WHERE seq <= ?", (upto_seq,)).rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return deleted

    def refused(self, limit: int = 100) -> list[tuple[Row, str]]:
        """The newest refused rows kept for inspection, newest first, with the cloud's
        reason; `sent` is True for all of them."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT seq, kind, payload, reason FROM refused ORDER BY seq DESC LIMIT ?",
                    (max(0, limit),),
                )
                .fetchall()
            )
        return [(Row(seq, kind, bytes(p), True), reason) for seq, kind, p, reason in rows]

    def refused_count(self) -> int:
        """Refused rows kept (at most REFUSED_KEEP)."""
        with self._lock:
            (n,) = self._conn().execute("SELECT COUNT(*) FROM refused").fetchone()
        return int(n)

    def rebase(self, above: int) -> int:
        """Renumber every row, in order, to above+1, above+2, … and continue the sequence
        after them; each payload's own `seq` is rewritten and the row goes out again as
        historical. Safe because the cloud keys events on `event_id` and footfall on its
        interval, not on seq: a row it already has is stored once. Returns rows renumbered.
        """
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                rows = db.execute("SELECT seq, payload FROM outbox ORDER BY seq").fetchall()
                # Two passes through negative seqs so no new number meets an old one.
                for i, (seq, _) in enumerate(rows):
                    db.execute("UPDATE outbox SET seq = ? WHERE seq = ?", (-(i + 1), seq))
                for i, (_, payload) in enumerate(rows):
                    new = above + 1 + i
                    data = json.loads(payload)
                    data["seq"] = new
                    data["historical"] = True
                    body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
                    db.execute(
                        "UPDATE outbox SET seq = ?, payload = ?, sent = 0 WHERE seq = ?",
                        (new, body, -(i + 1)),
                    )
                top = max(above + len(rows), self._last_seq_locked(db))
                moved = db.execute(
                    "UPDATE sqlite_sequence SET seq = ? WHERE name = 'outbox'", (top,)
                ).rowcount
                if not moved:  # nothing ever journaled here: start the sequence above it
                    db.execute(
                        "INSERT INTO sqlite_sequence (name, seq) VALUES ('outbox', ?)", (top,)
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self.rebased += 1
        log.warning(
            "%s: the cloud acked up to seq %d, beyond rows never sent: seqs of an earlier life "
            "of this station; %d rows renumbered from %d and sent again",
            self.path,
            above,
            len(rows),
            above + 1,
        )
        return len(rows)

    def backlog(self) -> int:
        """Rows not yet acked by the cloud."""
        with self._lock:
            (n,) = self._conn().execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(n)

    def last_seq(self) -> int:
        """The highest seq ever assigned (0 if none), acked or not."""
        with self._lock:
            return self._last_seq_locked(self._conn())

    @staticmethod
    def _last_seq_locked(db: sqlite3.Connection) -> int:
        row = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return int(row[0]) if row else 0

    def next_session(self) -> int:
        """Increment and return the persisted MQTT session counter (`sess`), starting at 1."""
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT INTO counters (name, value) VALUES ('sess', 1) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + 1"
                )
                (value,) = db.execute("SELECT value FROM counters WHERE name = 'sess'").fetchone()
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            return int(value)
