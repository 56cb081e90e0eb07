"""`edge.events.EventLog`: every decision, door event and alarm becomes one journal row; a
journal that cannot be written costs a counter, never the door loop."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from edge.events import EventLog
from edge.journal import Journal
from protocol.credential import Decision, Reason
from protocol.messages import AccessEvent, AlarmEvent, DoorEvent, decode
from protocol.topics import Kind

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SERIAL = "0123456789abcdef01234567"


class Log:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.stats: Counter[str] = Counter()
        self.wakes = 0
        self.events = EventLog(
            "sz-0001", journal, now=lambda: NOW, stats=self.stats, wake=self._wake
        )

    def _wake(self) -> None:
        self.wakes += 1

    def rows(self) -> list[AccessEvent | DoorEvent | AlarmEvent]:
        out = []
        for row in self.journal.pending():
            assert row.kind == Kind.EVENTS.value
            event = decode(Kind.EVENTS, row.payload)
            assert isinstance(event, AccessEvent | DoorEvent | AlarmEvent)
            out.append(event)
        return out


@pytest.fixture
def log() -> Iterator[Log]:
    with Journal(":memory:") as journal:
        yield Log(journal)


def test_each_record_is_one_row_with_its_seq_and_a_unique_event_id(log: Log) -> None:
    at = datetime(2026, 3, 1, 11, 59, tzinfo=UTC)
    granted = Decision(Reason.GRANTED, credential="ws2", kid="k1", serial=SERIAL)
    log.events.access(granted, at)
    log.events.door("unlocked", "grant", at)
    log.events.door("door_opened", None)
    log.events.alarm("camera_down", "raised", "no usable frame")
    access, unlocked, opened, alarm = log.rows()
    assert [e.seq for e in (access, unlocked, opened, alarm)] == [1, 2, 3, 4]
    assert len({e.event_id for e in (access, unlocked, opened, alarm)}) == 4
    assert all(e.sid == "sz-0001" for e in (access, unlocked, opened, alarm))
    assert isinstance(access, AccessEvent)
    assert (access.granted, access.reason, access.serial, access.kid) == (
        True,
        Reason.GRANTED,
        SERIAL,
        "k1",
    )
    assert access.ts == at  # the decision's own time, not the log's
    assert isinstance(unlocked, DoorEvent)
    assert (unlocked.action, unlocked.cause, unlocked.ts) == ("unlocked", "grant", at)
    assert isinstance(opened, DoorEvent)
    assert opened.ts == NOW  # no time given: the agent's best wall clock
    assert isinstance(alarm, AlarmEvent)
    assert (alarm.alarm, alarm.state, alarm.detail) == ("camera_down", "raised", "no usable frame")
    assert log.stats == Counter({"door.unlocked": 1, "door.door_opened": 1})


def test_a_denial_carries_no_member_data_beyond_the_serial(log: Log) -> None:
    log.events.access(Decision(Reason.MALFORMED, detail="garbage text from the camera"), NOW)
    (event,) = log.rows()
    assert isinstance(event, AccessEvent)
    assert event.granted is False
    assert event.serial is None
    assert "garbage" not in event.model_dump_json()  # the decision's detail stays local


def test_only_an_alarm_wakes_the_link_at_once(log: Log) -> None:
    log.events.door("door_closed", None)
    log.events.access(Decision(Reason.EXPIRED), NOW)
    assert log.wakes == 0  # the caller kicks the link after the door acted
    log.events.alarm("camera_down", "cleared")
    assert log.wakes == 1


def test_an_alarm_detail_from_anywhere_is_stored_escaped_and_cut_to_fit(log: Log) -> None:
    """Exception text may hold control characters and be long: the alarm is still journaled."""
    log.events.alarm("config_rejected", "raised", "bad\x00byte")
    log.events.alarm("config_rejected", "raised", "x" * 500)
    escaped, long = log.rows()
    assert isinstance(escaped, AlarmEvent)
    assert escaped.detail == "bad\\x00byte"
    assert isinstance(long, AlarmEvent)
    assert long.detail == "x" * 200
    assert log.stats["journal_errors"] == 0


def test_a_journal_that_cannot_be_written_is_counted_not_raised(log: Log) -> None:
    log.journal.close()  # the disk went away: append raises JournalClosedError
    log.events.access(Decision(Reason.GRANTED, serial=SERIAL), NOW)
    log.events.door("unlocked", "grant")
    log.events.alarm("camera_down", "raised")
    assert log.stats["journal_errors"] == 3
    assert log.wakes == 1  # the alarm still wakes the link (it may hold older rows)
