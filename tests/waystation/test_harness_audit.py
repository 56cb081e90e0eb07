"""The chaos audit's verdicts on a real database (SQLite and PostgreSQL) filled through the
real ingest, and the chaos station's footfall counts file."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from cloud.db import init_db, make_engine
from cloud.ingest.ingestor import Ingestor
from cloud.stations.registry import upsert
from firmware_sim.cities import make_records
from firmware_sim.ledger import LedgerEntry, read_ledger
from protocol.credential import Reason
from protocol.messages import AccessEvent, FootfallPayload, StatePayload, TelemetryPayload
from waystation.harness.audit import Evidence, Truth, audit
from waystation.harness.chaos_station import read_counts

NOW = datetime.now(UTC).replace(microsecond=0)


def event(sid: str, seq: int, event_id: uuid.UUID | None = None) -> AccessEvent:
    return AccessEvent(
        sid=sid,
        ts=NOW,
        event_id=event_id or uuid.uuid4(),
        seq=seq,
        granted=True,
        reason=Reason.GRANTED,
    )


def footfall(sid: str, seq: int, minute: int, entries: int) -> FootfallPayload:
    return FootfallPayload(
        sid=sid,
        ts=NOW,
        seq=seq,
        interval_start=NOW.replace(second=0) - timedelta(minutes=minute),
        seconds=60,
        entries=entries,
        exits=1,
        occupancy=0,
    )


@pytest.fixture
def engine(db_url: str) -> Engine:
    engine = make_engine(db_url)
    init_db(engine)
    upsert(engine, make_records(3))
    yield engine  # type: ignore[misc]
    engine.dispose()


@dataclass
class Journaled:
    """What a chaos station keeps of what it journaled: the ledger (keys only, as
    `SimStation` writes it) and the counts of each footfall interval."""

    ledger: list[LedgerEntry] = field(default_factory=list)
    counts: dict[int, tuple[int, int]] = field(default_factory=dict)

    def add(self, p: AccessEvent | FootfallPayload) -> None:
        kind = "events" if isinstance(p, AccessEvent) else "footfall"
        body = p.model_dump(mode="json")
        self.ledger.append(
            LedgerEntry(p.seq, body.get("event_id") or body["interval_start"], kind, 0.0)
        )
        if isinstance(p, FootfallPayload):
            self.counts[p.seq] = (p.entries, p.exits)

    def __iadd__(self, other: Journaled) -> Journaled:
        self.ledger += other.ledger
        self.counts |= other.counts
        return self

    def evidence(self, truth: Truth = Truth.RUNNING, backlog: int = 0) -> Evidence:
        return Evidence(self.ledger, truth, backlog, self.counts)


def store(
    engine: Engine, sid: str, payloads: list[AccessEvent | FootfallPayload], status: str = "online"
) -> Journaled:
    """Send payloads through the real ingest; returns what the station would keep."""
    ingestor = Ingestor(engine)
    journaled = Journaled()
    for p in payloads:
        kind = "events" if isinstance(p, AccessEvent) else "footfall"
        ingestor.handle(f"ws/v1/{sid}/{kind}", p.to_bytes())
        journaled.add(p)
    ingestor.handle(
        f"ws/v1/{sid}/state", StatePayload(sid=sid, ts=NOW, status=status, sess=1).to_bytes()
    )
    ingestor.handle(
        f"ws/v1/{sid}/telemetry",
        TelemetryPayload(sid=sid, ts=NOW, uptime_s=5, interval_s=30).to_bytes(),
    )
    ingestor.flush()
    return journaled


def test_the_audit_passes_a_clean_delivery(engine: Engine) -> None:
    sid = "sz-0001"
    held = store(engine, sid, [event(sid, 1), footfall(sid, 2, 2, 3), event(sid, 3)])
    # a footfall interval journaled twice (a restart between journaling and saving state):
    # the newest seq wins in the cloud and in the audit's reduction alike
    held += store(engine, sid, [footfall(sid, 4, 2, 3), event(sid, 5)])
    report = audit(engine, {sid: held.evidence()})
    assert report.summary() == {
        "journaled": 5,
        "stored": 5,
        "lost": 0,
        "duplicated": 0,
        "state_mismatches": 0,
    }
    assert report.ok
    (st,) = report.stations
    assert st.footfall_journal == st.footfall_cloud == (3, 1)
    assert report.json_line() == (
        '{"journaled": 5, "stored": 5, "lost": 0, "duplicated": 0, "state_mismatches": 0}'
    )


def test_the_audit_finds_lost_duplicated_and_mismatched(engine: Engine) -> None:
    a, b, c = "sz-0001", "sz-0002", "sz-0003"
    held_a = store(engine, a, [event(a, 1), event(a, 2), footfall(a, 3, 3, 2)])
    held_a.add(event(a, 4))  # never sent
    held_a.add(footfall(a, 5, 1, 7))  # never sent
    held_b = store(engine, b, [event(b, 1), event(b, 2)])
    # the same seq stored under a second event id: one journal row, two events in the cloud
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO event (station_id, event_id, seq, type, ts, received_at, historical) "
                "SELECT station_id, :eid, seq, type, ts, received_at, historical FROM event "
                "WHERE station_id = :sid AND seq = 2"
            ),
            {
                "eid": uuid.uuid4().hex if engine.dialect.name == "sqlite" else str(uuid.uuid4()),
                "sid": b,
            },
        )
    held_c = store(engine, c, [event(c, 1)], status="offline")
    report = audit(
        engine,
        {
            a: held_a.evidence(Truth.RUNNING, backlog=2),
            b: held_b.evidence(Truth.RUNNING),
            c: held_c.evidence(Truth.KILLED),  # c was killed, not stopped
        },
    )
    by = {s.sid: s for s in report.stations}
    assert (by[a].journaled, by[a].stored, by[a].lost, by[a].missing_seqs) == (5, 3, 2, [4, 5])
    assert by[a].footfall_journal == (9, 2)
    assert by[a].footfall_cloud == (2, 1)
    assert (by[b].duplicated, by[b].lost) == (1, 0)
    assert by[b].state_ok
    assert by[c].status == "offline"
    assert not by[c].state_ok
    assert report.summary() == {
        "journaled": 8,
        "stored": 6,
        "lost": 2,
        "duplicated": 1,
        "state_mismatches": 2,  # a (backlog, footfall) and c (status)
    }
    assert not report.ok


def test_ledger_and_counts_survive_a_torn_last_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_text('{"seq": 1, "key": "x", "kind": "events", "t": 1.5}\n{"seq": 2, "key": "y')
    assert read_ledger(ledger) == [LedgerEntry(1, "x", "events", 1.5)]
    assert read_ledger(tmp_path / "none.jsonl") == []
    counts = tmp_path / "footfall-counts.jsonl"
    counts.write_text('{"seq": 1, "entries": 2, "exits": 3}\n{"seq": 2, "entr')
    assert read_counts(counts) == {1: (2, 3)}
    assert read_counts(tmp_path / "none.jsonl") == {}


def test_the_audit_reads_a_ledger_without_counts(engine: Engine) -> None:
    """Without footfall counts (a fleet station's ledger alone) events are still checked by
    id and footfall by seq; a missing one is still found, totals are not compared."""
    sid = "sz-0002"
    held = store(engine, sid, [event(sid, 1), footfall(sid, 2, 2, 4)])
    held.add(event(sid, 3))  # never sent
    report = audit(engine, {sid: Evidence(held.ledger, Truth.RUNNING, 0)})
    assert report.summary() == {
        "journaled": 3,
        "stored": 2,
        "lost": 1,
        "duplicated": 0,
        "state_mismatches": 0,
    }
