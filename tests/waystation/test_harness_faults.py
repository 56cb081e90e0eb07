"""Fault plans (seeded, complete, non-overlapping), their player, and the chaos audit's
verdicts on a real database (SQLite and PostgreSQL) filled through the real ingest."""

from __future__ import annotations

import itertools
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from cloud.db import init_db, make_engine
from cloud.ingest.handlers import Ingestor
from cloud.registry import upsert
from firmware_sim.fleet import make_records
from protocol.credential import Reason
from protocol.messages import AccessEvent, FootfallPayload, StatePayload, TelemetryPayload
from waystation.harness.audit import LedgerEntry, Truth, audit, read_ledger
from waystation.harness.faults import (
    ALL_KINDS,
    STATION_KINDS,
    Fault,
    FaultInjector,
    FaultKind,
    FaultPlan,
    make_plan,
)

SIDS = [f"sz-{i:04d}" for i in range(1, 7)]


# --- plans ----------------------------------------------------------------------------------


def test_a_plan_is_reproducible_from_its_seed() -> None:
    a = make_plan(5, SIDS, 600)
    assert a == make_plan(5, SIDS, 600)
    assert a != make_plan(6, SIDS, 600)


@pytest.mark.parametrize(("seed", "duration"), [(1, 45), (2, 60), (3, 600), (4, 3600)])
def test_every_kind_plays_within_the_run_and_nothing_overlaps(seed: int, duration: int) -> None:
    plan = make_plan(seed, SIDS, duration, ingest_workers=2)
    assert plan.kinds() == set(ALL_KINDS)
    by_station: dict[str, list[Fault]] = {}
    shared: list[Fault] = []
    for f in plan.faults:
        assert f.at_s >= 0, f
        assert f.end_s < duration, f
        if f.kind in STATION_KINDS:
            assert f.station in SIDS
            by_station.setdefault(f.station, []).append(f)
        else:
            shared.append(f)
        if f.kind is FaultKind.CLOCK_SKEW:
            assert 20 <= abs(f.offset_s) <= 300  # within the cloud's 10-minute ahead limit
        if f.kind is FaultKind.FLAP:
            assert f.period_s >= 2
        if f.kind is FaultKind.INGEST_RESTART:
            assert f.worker in (0, 1)
    for faults in [*by_station.values(), shared]:
        faults.sort(key=lambda f: f.at_s)
        for before, after in itertools.pairwise(faults):
            assert before.end_s < after.at_s, (before, after)


def test_a_plan_refuses_what_it_cannot_do() -> None:
    with pytest.raises(ValueError, match="10 s"):
        make_plan(1, SIDS, 5)
    with pytest.raises(ValueError, match="station"):
        make_plan(1, [], 60)
    only = make_plan(1, [], 60, kinds=[FaultKind.BROKER_RESTART])
    assert only.kinds() == {FaultKind.BROKER_RESTART}


# --- the player -------------------------------------------------------------------------------


class FakeStation:
    def __init__(self, sid: str) -> None:
        self.sid = sid
        self.clock_offset_s = 0.0
        self.calls: list[str] = []
        self.cut = self.frozen = self.dead = False

    def kill(self) -> None:
        self.dead = True
        self.calls.append("kill")

    def restart(self) -> None:
        self.dead = False
        self.calls.append("restart")

    def partition(self, on: bool) -> None:
        self.cut = on
        self.calls.append(f"partition {on}")

    def reset_connection(self) -> None:
        self.calls.append("reset")

    def freeze_camera(self, on: bool) -> None:
        self.frozen = on
        self.calls.append(f"freeze {on}")


class FakeBroker:
    def __init__(self) -> None:
        self.restarts: list[float] = []

    def restart(self, *, kill: bool = False, down_s: float = 0.0) -> None:
        time.sleep(down_s)
        self.restarts.append(down_s)


class FakeIngest:
    workers = 2

    def __init__(self) -> None:
        self.calls: list[str] = []

    def kill(self, worker: int) -> None:
        self.calls.append(f"kill {worker}")

    def start(self, worker: int) -> None:
        self.calls.append(f"start {worker}")


def test_the_injector_plays_each_fault_and_heals_what_is_left() -> None:
    plan = FaultPlan(
        seed=0,
        duration_s=2,
        faults=[
            Fault(kind=FaultKind.KILL, at_s=0.0, duration_s=0.1, station="a"),
            Fault(kind=FaultKind.FLAP, at_s=0.0, duration_s=0.35, station="b", period_s=0.1),
            Fault(kind=FaultKind.CLOCK_SKEW, at_s=0.05, duration_s=0.1, station="c", offset_s=90),
            Fault(kind=FaultKind.BROKER_RESTART, at_s=0.05, duration_s=0.2),
            Fault(kind=FaultKind.INGEST_RESTART, at_s=0.1, duration_s=0.1, worker=3),
            # these outlast the timeline: heal_all must end them
            Fault(kind=FaultKind.PARTITION, at_s=0.0, duration_s=60, station="d"),
            Fault(kind=FaultKind.FREEZE_CAMERA, at_s=0.0, duration_s=60, station="e"),
            Fault(kind=FaultKind.KILL, at_s=0.0, duration_s=60, station="f"),
            Fault(kind=FaultKind.PARTITION, at_s=0.0, duration_s=1, station="nobody"),
        ],
    )
    stations = {s: FakeStation(s) for s in "abcdef"}
    broker, ingest = FakeBroker(), FakeIngest()
    injector = FaultInjector(plan, stations, broker=broker, ingest=ingest)
    assert [f.station for f in injector.skipped] == ["nobody"]
    injector.start()
    deadline = time.monotonic() + 5
    while len(injector.log) < 16 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert stations["a"].calls == ["kill", "restart"]
    # 3 cycles of 0.1 s: cut, heal; the third ends in a reset
    assert stations["b"].calls == ["partition True", "partition False"] * 2 + [
        "partition True",
        "reset",
        "partition False",
    ]
    assert stations["c"].clock_offset_s == 0.0
    assert "skew c +90s" in [a.name for a in injector.log]
    assert ingest.calls == ["kill 1", "start 1"]  # worker 3 of 2 wraps to 1
    assert stations["d"].cut
    assert stations["e"].frozen
    assert stations["f"].dead
    healed = injector.heal_all()
    assert sorted(healed) == ["heal d", "restart f", "unfreeze e"]
    assert not stations["d"].cut
    assert not stations["e"].frozen
    assert not stations["f"].dead
    assert broker.restarts == [0.2]
    assert all(a.ok for a in injector.log)
    assert injector.played == set(FaultKind)


def test_a_failing_fault_is_logged_and_the_plan_goes_on() -> None:
    class Broken(FakeStation):
        def kill(self) -> None:
            raise OSError("no such station")

    plan = FaultPlan(
        seed=0,
        duration_s=1,
        faults=[
            Fault(kind=FaultKind.KILL, at_s=0.0, duration_s=0.05, station="a"),
            Fault(kind=FaultKind.FREEZE_CAMERA, at_s=0.1, duration_s=0.05, station="b"),
        ],
    )
    stations = {"a": Broken("a"), "b": FakeStation("b")}
    injector = FaultInjector(plan, stations)
    injector.start()
    assert injector.wait(5)
    assert [(a.name, a.ok) for a in injector.log] == [
        ("kill a", False),
        ("restart a", True),
        ("freeze b", True),
        ("unfreeze b", True),
    ]
    assert "no such station" in injector.log[0].detail


# --- the audit ------------------------------------------------------------------------------

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


def store(
    engine: Engine, sid: str, payloads: list[object], status: str = "online"
) -> list[LedgerEntry]:
    """Send payloads through the real ingest; returns the ledger the station would keep."""
    ingestor = Ingestor(engine)
    ledger = []
    for p in payloads:
        kind = "events" if isinstance(p, AccessEvent) else "footfall"
        ingestor.handle(f"ws/v1/{sid}/{kind}", p.to_bytes())  # type: ignore[attr-defined]
        ledger.append(LedgerEntry(p.seq, kind, p.model_dump(mode="json")))  # type: ignore[attr-defined]
    ingestor.handle(
        f"ws/v1/{sid}/state", StatePayload(sid=sid, ts=NOW, status=status, sess=1).to_bytes()
    )
    ingestor.handle(
        f"ws/v1/{sid}/telemetry",
        TelemetryPayload(sid=sid, ts=NOW, uptime_s=5, interval_s=30).to_bytes(),
    )
    ingestor.flush()
    return ledger


def test_the_audit_passes_a_clean_delivery(engine: Engine) -> None:
    sid = "sz-0001"
    ledger = store(engine, sid, [event(sid, 1), footfall(sid, 2, 2, 3), event(sid, 3)])
    # a footfall interval journaled twice (a restart between journaling and saving state):
    # the newest seq wins in the cloud and in the audit's reduction alike
    ledger += store(engine, sid, [footfall(sid, 4, 2, 3), event(sid, 5)])
    report = audit(engine, {sid: ledger}, {sid: Truth.RUNNING}, {sid: 0})
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
    ledger_a = store(engine, a, [event(a, 1), event(a, 2), footfall(a, 3, 3, 2)])
    ledger_a.append(LedgerEntry(4, "events", event(a, 4).model_dump(mode="json")))  # never sent
    ledger_a.append(
        LedgerEntry(5, "footfall", footfall(a, 5, 1, 7).model_dump(mode="json"))
    )  # never sent
    ledger_b = store(engine, b, [event(b, 1), event(b, 2)])
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
    ledger_c = store(engine, c, [event(c, 1)], status="offline")
    report = audit(
        engine,
        {a: ledger_a, b: ledger_b, c: ledger_c},
        {a: Truth.RUNNING, b: Truth.RUNNING, c: Truth.KILLED},  # c was killed, not stopped
        {a: 2, b: 0, c: 0},
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


def test_a_ledger_survives_a_torn_last_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "ledger.jsonl"
    path.write_text(
        '{"seq": 1, "kind": "events", "payload": {"event_id": "x"}}\n{"seq": 2, "kind": "ev'
    )
    assert read_ledger(path) == [LedgerEntry(1, "events", {"event_id": "x"})]
    assert read_ledger(tmp_path / "none.jsonl") == []


def test_the_audit_reads_a_keys_only_ledger(engine: Engine) -> None:
    """SimStation's own ledger keeps (seq, key, kind, t): events are checked by id, footfall
    by seq; a missing one is still found."""
    from firmware_sim.station import LedgerEntry as KeyEntry

    sid = "sz-0002"
    full = store(engine, sid, [event(sid, 1), footfall(sid, 2, 2, 4)])
    keys = [
        KeyEntry(e.seq, str(e.payload.get("event_id") or e.payload["interval_start"]), e.kind, 0.0)
        for e in full
    ]
    keys.append(KeyEntry(3, str(uuid.uuid4()), "events", 0.0))
    report = audit(engine, {sid: keys}, {sid: Truth.RUNNING}, {sid: 0})
    assert report.summary() == {
        "journaled": 3,
        "stored": 2,
        "lost": 1,
        "duplicated": 0,
        "state_mismatches": 0,
    }
