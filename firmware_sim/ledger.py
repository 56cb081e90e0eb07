"""The ledger: every item a simulated station ever journaled, kept for the no-loss audit.

The journal deletes rows once the cloud acks them; the ledger (`ledger.jsonl` beside the
journal, append-only, written after each commit) keeps the key of every one, so a run can be
held to the database afterwards. It survives kills and restarts, as the journal does.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from edge.journal import Journal
from protocol.messages import Payload

log = logging.getLogger(__name__)

LEDGER_NAME = "ledger.jsonl"


class LedgerEntry(NamedTuple):
    """One journaled item: `key` is the event_id (events) or interval_start (footfall)."""

    seq: int
    key: str
    kind: str
    t: float  # unix seconds when the journal committed it (for end-to-end latency)


def read_ledger(path: Path) -> list[LedgerEntry]:
    """Every entry of a ledger file, oldest first (a torn last line is skipped)."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            d = json.loads(line)
            out.append(LedgerEntry(int(d["seq"]), str(d["key"]), str(d["kind"]), float(d["t"])))
        except (ValueError, KeyError, TypeError):
            continue
    return out


class LedgerJournal(Journal):
    """A real journal that also copies every committed append into a ledger file."""

    def __init__(
        self,
        path: Path,
        *,
        ledger: Path,
        exclusive: bool = False,
        on_entry: Callable[[LedgerEntry], None] | None = None,
    ) -> None:
        super().__init__(path, exclusive=exclusive)
        self.ledger = ledger
        self.on_entry = on_entry  # told of every entry written (the station counts them)

    def append(self, topic_kind: str, make: Callable[[int], Payload]) -> tuple[int, bytes]:
        seq, payload = super().append(topic_kind, make)
        try:
            body = json.loads(payload)
            key = body.get("event_id") or body.get("interval_start") or ""
            entry = LedgerEntry(seq, key, str(topic_kind), time.time())
            with self.ledger.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry._asdict()) + "\n")
            if self.on_entry is not None:
                self.on_entry(entry)
        except Exception:  # the ledger is for the audit; the door must not notice it
            log.exception("%s: ledger write failed", self.ledger)
        return seq, payload
