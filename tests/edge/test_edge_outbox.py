from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.journal import Journal
from edge.link.outbox import Outbox, mark_historical
from protocol.messages import DoorEvent


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    with Journal(tmp_path / "j.db") as j:
        yield j


def add(journal: Journal, n: int) -> None:
    for _ in range(n):
        journal.append(
            "events",
            lambda seq: DoorEvent(sid="sz-0001", event_id=uuid.uuid4(), seq=seq, action="unlocked"),
        )


def send_all(outbox: Outbox) -> list[tuple[int, bool]]:
    """Take and 'publish' the window; returns (seq, historical) as published."""
    gen, rows = outbox.take()
    out = []
    for row in rows:
        out.append((row.seq, json.loads(outbox.payload(row))["historical"]))
        assert outbox.sent(gen, row.seq)
    return out


def make(journal: Journal, now: list[float], **kw: float) -> Outbox:
    return Outbox(
        journal,
        max_inflight=int(kw.get("max_inflight", 3)),
        ack_timeout_s=kw.get("ack_timeout_s", 60.0),
        monotonic=lambda: now[0],
    )


def test_window_is_bounded_by_cloud_acks(journal: Journal) -> None:
    now = [0.0]
    outbox = make(journal, now)
    outbox.restart(reconnected=True)
    add(journal, 5)
    assert [s for s, _ in send_all(outbox)] == [1, 2, 3]
    assert send_all(outbox) == []  # window full until the cloud acks
    assert outbox.acked(2) == 2
    assert [s for s, _ in send_all(outbox)] == [4, 5]
    assert journal.backlog() == 3


def test_restart_resends_from_the_oldest_unacked_unchanged(journal: Journal) -> None:
    now = [0.0]
    outbox = make(journal, now)
    add(journal, 2)  # journaled before the first connect: historical
    outbox.restart(reconnected=True)
    add(journal, 1)  # journaled while connected: live
    first = send_all(outbox)
    assert first == [(1, True), (2, True), (3, False)]
    add(journal, 1)  # journaled, then the connection drops before it is sent
    outbox.restart(reconnected=True)
    again = send_all(outbox)
    assert again == [(1, True), (2, True), (3, False)]  # resends keep their payload
    assert send_all(outbox) == []  # window of 3 is full
    outbox.acked(3)
    assert send_all(outbox) == [(4, True)]  # first attempted after a reconnect


def test_ack_timeout(journal: Journal) -> None:
    now = [0.0]
    outbox = make(journal, now, ack_timeout_s=10)
    outbox.restart(reconnected=True)
    assert not outbox.timed_out()  # nothing in flight, nothing to wait for
    add(journal, 1)
    send_all(outbox)
    now[0] = 9.0
    assert not outbox.timed_out()
    now[0] = 11.0
    assert outbox.timed_out()


def test_a_pass_that_raced_a_restart_stops(journal: Journal) -> None:
    outbox = make(journal, [0.0])
    add(journal, 2)
    gen, rows = outbox.take()
    outbox.restart(reconnected=True)
    assert not outbox.sent(gen, rows[0].seq)
    assert outbox.inflight == 0


def test_mark_historical_keeps_everything_else() -> None:
    raw = b'{"v":1,"sid":"sz-0001","name":"\xe7\xab\x99","historical":false}'
    marked = json.loads(mark_historical(raw))
    assert marked == {"v": 1, "sid": "sz-0001", "name": "站", "historical": True}
