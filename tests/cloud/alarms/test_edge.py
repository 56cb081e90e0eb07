"""`cloud.alarms.edge`: the station's alarm and door events as alarm signals, applied in seq
order at the station's time; replays of old raises are history, not news."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import Connection, select

from cloud.alarms.edge import Signal, apply, signals
from cloud.alarms.models import Alarm
from cloud.models import table
from protocol.messages import AlarmEvent, DoorEvent

ALARM = table(Alarm)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def alarm_event(seq: int, name: str, state: str, ts: datetime, detail: str | None = None) -> Any:
    return AlarmEvent(
        sid="st-1",
        ts=ts,
        event_id=uuid4(),
        seq=seq,
        alarm=name,
        state=state,
        detail=detail,  # type: ignore[arg-type]
    )


def door_event(seq: int, action: str, ts: datetime) -> DoorEvent:
    return DoorEvent(sid="st-1", ts=ts, event_id=uuid4(), seq=seq, action=action, cause="x")  # type: ignore[arg-type]


def rows(db: Connection) -> list[Any]:
    return list(db.execute(select(ALARM).order_by(ALARM.c.id)))


# --- signals (pure) ----------------------------------------------------------------------------


def test_alarm_events_become_signals_at_the_stations_time() -> None:
    out = signals(
        [
            ("st-1", alarm_event(2, "camera_down", "cleared", at(5)), at(30)),
            ("st-1", alarm_event(1, "camera_down", "raised", at(1), "no frame"), at(30)),
        ]
    )
    assert out == [
        Signal("st-1", "camera_down", True, at(1), 1, "no frame"),
        Signal("st-1", "camera_down", False, at(5), 2, None),
    ]


def test_a_station_clock_ahead_of_receipt_is_clipped_to_the_receipt() -> None:
    (sig,) = signals([("st-1", alarm_event(1, "camera_down", "raised", at(9)), at(2))])
    assert sig.at == at(2)


def test_door_events_imply_door_alarms() -> None:
    out = signals(
        [
            ("st-1", door_event(1, "forced_open", at(1)), at(1)),
            ("st-1", door_event(2, "door_opened", at(2)), at(2)),  # nothing to do with alarms
            ("st-1", door_event(3, "door_closed", at(3)), at(3)),
        ]
    )
    assert [(s.rule, s.raised, s.seq) for s in out] == [
        ("forced_open", True, 1),
        ("door_held_open", False, 3),
        ("forced_open", False, 3),
    ]
    assert out[0].detail == "x"  # the door event's cause


def test_signals_are_ordered_by_station_then_seq() -> None:
    out = signals(
        [
            ("st-2", alarm_event(1, "camera_down", "raised", at(1)), at(9)),
            ("st-1", alarm_event(7, "camera_down", "raised", at(1)), at(9)),
            ("st-1", alarm_event(3, "camera_down", "raised", at(1)), at(9)),
        ]
    )
    assert [(s.sid, s.seq) for s in out] == [("st-1", 3), ("st-1", 7), ("st-2", 1)]
    assert signals([]) == []


# --- apply (database) ----------------------------------------------------------------------


def sig(rule: str, raised: bool, minutes: float, seq: int = 1, detail: str | None = None) -> Signal:
    return Signal("st-1", rule, raised, at(minutes), seq, detail)


def test_nothing_to_apply_changes_nothing(db: Connection) -> None:
    assert apply(db, [], T0) == set()


def test_a_raise_opens_an_alarm_and_a_clear_closes_it(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    assert apply(db, [sig("camera_down", True, 1, detail="no frame")], at(10)) == {"st-1"}
    (row,) = rows(db)
    assert (row.rule, row.state, row.source, row.severity) == (
        "camera_down",
        "raised",
        "edge",
        "critical",
    )
    assert row.blocks_open is True
    assert row.since == row.raised_at == at(1)
    assert row.updated_at == at(10)
    assert row.detail == "no frame"
    assert apply(db, [sig("camera_down", False, 4, seq=2)], at(11)) == {"st-1"}
    (row,) = rows(db)
    assert (row.state, row.cleared_at) == ("cleared", at(4))


def test_a_repeated_raise_folds_into_the_open_alarm(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    apply(db, [sig("camera_down", True, 1, detail="first")], at(10))
    changed = apply(db, [sig("camera_down", True, 2, seq=2, detail="second")], at(11))
    assert changed == set()  # the level does not change
    (row,) = rows(db)
    assert (row.occurrences, row.detail, row.since) == (2, "second", at(1))


def test_a_replayed_raise_older_than_the_last_clear_is_history(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    apply(db, [sig("camera_down", True, 1), sig("camera_down", False, 5, seq=2)], at(10))
    assert apply(db, [sig("camera_down", True, 3, seq=1)], at(20)) == set()
    assert len(rows(db)) == 1
    assert apply(db, [sig("camera_down", True, 6, seq=3)], at(20)) == {"st-1"}  # news
    assert [r.state for r in rows(db)] == ["cleared", "raised"]


def test_a_clear_without_an_open_alarm_or_from_before_it_is_ignored(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    assert apply(db, [sig("forced_open", False, 1)], at(10)) == set()
    assert rows(db) == []
    apply(db, [sig("forced_open", True, 5, seq=2)], at(10))
    assert apply(db, [sig("forced_open", False, 4, seq=3)], at(10)) == set()
    assert rows(db)[0].state == "raised"


def test_a_momentary_alarm_is_raised_and_cleared_at_once(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    batch = [sig("tailgating", True, 1, seq=1), sig("tailgating", True, 2, seq=2)]
    assert apply(db, batch, at(10)) == {"st-1"}
    incidents = rows(db)
    assert [(r.state, r.raised_at, r.cleared_at) for r in incidents] == [
        ("cleared", at(1), at(1)),
        ("cleared", at(2), at(2)),  # each incident its own row: nothing stays open to fold into
    ]


def test_an_alarm_a_newer_agent_invented_is_kept_as_a_warning(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    apply(db, [sig("battery_swollen", True, 1, detail="d" * 300)], at(10))
    (row,) = rows(db)
    assert (row.rule, row.severity, row.blocks_open) == ("battery_swollen", "warning", False)
    assert row.detail == "d" * 200


def test_stations_are_applied_independently(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1")
    put_station("st-2")
    both = [sig("camera_down", True, 1), Signal("st-2", "camera_down", True, at(1), 1)]
    assert apply(db, both, at(10)) == {"st-1", "st-2"}
    assert apply(db, [Signal("st-2", "camera_down", False, at(2), 2)], at(11)) == {"st-2"}
    assert sorted((r.station_id, r.state) for r in rows(db)) == [
        ("st-1", "raised"),
        ("st-2", "cleared"),
    ]
