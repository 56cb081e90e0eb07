"""The chaos audit: every station's ledger (what it ever journaled) against the cloud database.

A station's ledger is the ground truth of what it promised to deliver; the database is what
the cloud has. After a chaos run and a settle period the audit checks, per station:

- every journaled event is stored exactly once: its `event_id` is in `event` with the same
  seq, and no (station, seq) is held by two different events;
- every journaled footfall interval reached the cloud (its seq is in `received_seq`), and
  the totals (entries, exits) per station equal the journaled counts, reduced the way the
  cloud reduces them (per interval start, the newest seq wins);
- the station's effective status equals the truth (running → `online`, killed and not
  restarted → `lost`, cleanly stopped → `offline`), and nothing is left in its journal.

Counts: `journaled` (distinct journal seqs in the ledgers), `stored` (those found in the
database), `lost` (journaled, not stored, or dead-lettered instead of stored), `duplicated`
(extra rows for one event or seq), `state_mismatches` (stations whose status, footfall
totals or journal backlog disagree with the truth).

A ledger is `firmware_sim.station`'s (seq, key, kind, t per journaled row: the key is the
event id or the interval start); it keeps no footfall counts, so those come alongside
(`Evidence.footfall`, the chaos station's counts file).
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Engine, bindparam, text

from cloud.models import StationState
from cloud.stations.liveness import liveness
from firmware_sim.ledger import LedgerEntry


class Truth(StrEnum):
    """What a station really is at the end of a run."""

    RUNNING = "online"
    KILLED = "lost"
    STOPPED = "offline"


@dataclass(frozen=True, slots=True)
class Evidence:
    """What the audit holds the database to for one station."""

    ledger: Sequence[LedgerEntry]  # everything it ever journaled (`SimStation.ledger`)
    truth: Truth = Truth.RUNNING
    backlog: int = 0  # rows still in its journal
    # journal seq → (entries, exits) of its footfall intervals; without the counts of every
    # footfall interval journaled, the footfall totals are not compared
    footfall: Mapping[int, tuple[int, int]] | None = None


def journal_backlog(journal_path: Path) -> int:
    """Rows still in a station's journal, read from the file (the station may be dead)."""
    path = Path(journal_path)
    if not path.exists():
        return 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        (n,) = db.execute("SELECT COUNT(*) FROM outbox").fetchone()
        return int(n)
    except sqlite3.OperationalError:
        return 0  # no outbox table: never opened
    finally:
        db.close()


class StationAudit(BaseModel):
    sid: str
    truth: Truth
    status: str
    journaled: int
    stored: int
    lost: int
    duplicated: int
    dead_lettered: int
    backlog: int
    footfall_journal: tuple[int, int]  # (entries, exits) by the ledger, newest seq per interval
    footfall_cloud: tuple[int, int]
    missing_seqs: list[int] = Field(default_factory=list)  # first few, for the report

    @property
    def state_ok(self) -> bool:
        return (
            self.status == self.truth.value
            and self.backlog == 0
            and self.footfall_journal == self.footfall_cloud
        )


class AuditReport(BaseModel):
    stations: list[StationAudit]
    checked_at: datetime

    @property
    def journaled(self) -> int:
        return sum(s.journaled for s in self.stations)

    @property
    def stored(self) -> int:
        return sum(s.stored for s in self.stations)

    @property
    def lost(self) -> int:
        return sum(s.lost for s in self.stations)

    @property
    def duplicated(self) -> int:
        return sum(s.duplicated for s in self.stations)

    @property
    def state_mismatches(self) -> int:
        return sum(not s.state_ok for s in self.stations)

    @property
    def ok(self) -> bool:
        return self.lost == 0 and self.duplicated == 0 and self.state_mismatches == 0

    def summary(self) -> dict[str, int]:
        """The chaos command's last JSON line, exactly these keys."""
        return {
            "journaled": self.journaled,
            "stored": self.stored,
            "lost": self.lost,
            "duplicated": self.duplicated,
            "state_mismatches": self.state_mismatches,
        }

    def json_line(self) -> str:
        return json.dumps(self.summary(), separators=(", ", ": "))


def _query(engine: Engine, sql: str, sids: list[str]) -> list[Any]:
    stmt = text(sql).bindparams(bindparam("sids", expanding=True))
    with engine.connect() as conn:
        return list(conn.execute(stmt, {"sids": sids}))


def _uuid(value: Any) -> str:
    """One spelling for an event id (SQLite keeps it as 32 hex digits, PostgreSQL as uuid)."""
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return str(value)


def _ts(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def audit(
    engine: Engine, evidence: Mapping[str, Evidence], *, now: datetime | None = None
) -> AuditReport:
    """Compare each station's ledger with the database (see the module docstring)."""
    now = now or datetime.now(UTC)
    sids = sorted(evidence)
    events: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    event_seqs: dict[str, Counter[int]] = defaultdict(Counter)
    for sid, event_id, seq in _query(
        engine, "SELECT station_id, event_id, seq FROM event WHERE station_id IN :sids", sids
    ):
        events[sid][_uuid(event_id)].append(int(seq))
        event_seqs[sid][int(seq)] += 1
    received: dict[str, dict[int, str]] = defaultdict(dict)
    for sid, seq, kind in _query(
        engine,
        "SELECT station_id, seq, kind FROM received_seq WHERE station_id IN :sids",
        sids,
    ):
        received[sid][int(seq)] = kind
    footfall: dict[str, dict[datetime, tuple[int, int]]] = defaultdict(dict)
    for sid, start, entries, exits in _query(
        engine,
        "SELECT station_id, interval_start, entries, exits FROM footfall_interval "
        "WHERE station_id IN :sids",
        sids,
    ):
        footfall[sid][_ts(start)] = (int(entries), int(exits))
    states = {
        row[0]: row
        for row in _query(
            engine,
            "SELECT station_id, status, status_at, last_heartbeat, heartbeat_interval_s "
            "FROM station_state WHERE station_id IN :sids",
            sids,
        )
    }
    out = []
    for sid in sids:
        held = evidence[sid]
        counts = held.footfall or {}
        by_seq: dict[int, LedgerEntry] = {}
        for e in held.ledger:
            by_seq.setdefault(e.seq, e)  # a seq is journaled once; the first copy is it
        stored = lost = duplicated = dead = 0
        counted = held.footfall is not None
        missing: list[int] = []
        newest: dict[datetime, tuple[int, int, int]] = {}
        for seq, e in sorted(by_seq.items()):
            got = received[sid].get(seq)
            if e.kind == "events":
                copies = events[sid].get(_uuid(e.key), [])
                if copies and seq in copies:
                    stored += 1
                    duplicated += len(copies) - 1
                else:
                    lost += 1
                    dead += got == "dead_letter"
                    missing.append(seq)
            else:
                if got is not None and got != "dead_letter":
                    stored += 1
                else:
                    lost += 1
                    dead += got == "dead_letter"
                    missing.append(seq)
                start = _ts(e.key)
                if seq not in counts:
                    counted = False  # a footfall interval without its counts: no totals
                elif start not in newest or newest[start][0] < seq:
                    newest[start] = (seq, *counts[seq])
        duplicated += sum(n - 1 for n in event_seqs[sid].values() if n > 1)
        row = states.get(sid)
        status = "unknown"
        if row is not None:
            state = StationState(
                station_id=sid,
                status=row[1] or "unknown",
                status_at=_ts(row[2]) if row[2] is not None else None,
                last_heartbeat=_ts(row[3]) if row[3] is not None else None,
                heartbeat_interval_s=row[4],
            )
            status = liveness(state, now).status.value
        journal_ff = (sum(v[1] for v in newest.values()), sum(v[2] for v in newest.values()))
        cloud_ff = (
            sum(v[0] for v in footfall[sid].values()),
            sum(v[1] for v in footfall[sid].values()),
        )
        if not counted:
            journal_ff = cloud_ff
        out.append(
            StationAudit(
                sid=sid,
                truth=held.truth,
                status=status,
                journaled=len(by_seq),
                stored=stored,
                lost=lost,
                duplicated=duplicated,
                dead_lettered=dead,
                backlog=held.backlog,
                footfall_journal=journal_ff,
                footfall_cloud=cloud_ff,
                missing_seqs=missing[:10],
            )
        )
    return AuditReport(stations=out, checked_at=now)


def render(report: AuditReport, *, limit: int = 40) -> Any:
    """A Rich renderable: the totals, then the stations that failed (or the first `limit`)."""
    from rich.console import Group
    from rich.table import Table

    totals = Table(title="chaos audit", show_header=True)
    for col in ("journaled", "stored", "lost", "duplicated", "state mismatches", "verdict"):
        totals.add_column(col, justify="right")
    s = report.summary()
    totals.add_row(
        *(str(s[k]) for k in ("journaled", "stored", "lost", "duplicated", "state_mismatches")),
        "[green]PASS[/]" if report.ok else "[red]FAIL[/]",
    )
    bad = [st for st in report.stations if st.lost or st.duplicated or not st.state_ok]
    shown = bad or report.stations
    table = Table(title=f"{'failing' if bad else 'all'} stations ({len(shown)}, showing ≤ {limit})")
    for col in ("station", "truth", "status", "journaled", "stored", "lost", "dup"):
        table.add_column(col)
    for col in ("dead", "backlog", "footfall journal", "footfall cloud", "missing seqs"):
        table.add_column(col)
    for st in shown[:limit]:
        table.add_row(
            st.sid,
            st.truth.value,
            st.status if st.status == st.truth.value else f"[red]{st.status}[/]",
            str(st.journaled),
            str(st.stored),
            str(st.lost),
            str(st.duplicated),
            str(st.dead_lettered),
            str(st.backlog),
            f"{st.footfall_journal[0]}/{st.footfall_journal[1]}",
            f"{st.footfall_cloud[0]}/{st.footfall_cloud[1]}",
            ",".join(map(str, st.missing_seqs)),
        )
    return Group(totals, table)
