"""`edge.link.drain.Drain`: journal rows published in seq order at QoS 1 within the outbox's
window, nothing while the cloud is down, the window resent when acks stop coming. The paho
client is a fake that records publishes; the outbox and journal are the real ones."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from paho.mqtt.enums import MQTTErrorCode

from edge.journal import Journal
from edge.link.drain import Drain
from edge.link.outbox import Outbox
from firmware_sim.clock import SimClock
from protocol import topics
from protocol.messages import AlarmEvent

SID = "sz-0001"
WINDOW = 3
ACK_TIMEOUT_S = 10.0


class FakeClient:
    """paho's `publish` as the drain uses it; `fail` answers NO_CONN, `during` runs inside."""

    def __init__(self) -> None:
        self.published: list[tuple[str, bytes, int]] = []
        self.fail = False
        self.during: Callable[[], None] | None = None

    def publish(self, topic: str, payload: bytes, qos: int) -> SimpleNamespace:
        if self.during is not None:
            self.during()
        if self.fail:
            return SimpleNamespace(rc=MQTTErrorCode.MQTT_ERR_NO_CONN)
        self.published.append((topic, payload, qos))
        return SimpleNamespace(rc=MQTTErrorCode.MQTT_ERR_SUCCESS)

    def seqs(self) -> list[int]:
        return [json.loads(p)["seq"] for _, p, _ in self.published]


@dataclass
class Link:
    outbox: Outbox
    sid: str = SID
    stats: Counter[str] = field(default_factory=Counter)
    client: FakeClient | None = field(default_factory=FakeClient)
    cloud_online: bool | None = None

    @property
    def live_client(self) -> FakeClient | None:
        return self.client


@pytest.fixture
def clock() -> SimClock:
    return SimClock()


@pytest.fixture
def journal() -> Iterator[Journal]:
    with Journal(":memory:") as j:
        yield j


@pytest.fixture
def link(journal: Journal, clock: SimClock) -> Link:
    outbox = Outbox(
        journal, max_inflight=WINDOW, ack_timeout_s=ACK_TIMEOUT_S, monotonic=clock.monotonic
    )
    return Link(outbox)


def journal_rows(journal: Journal, clock: SimClock, n: int) -> None:
    for _ in range(n):
        journal.append(
            "events",
            lambda seq: AlarmEvent(
                sid=SID,
                ts=clock.now(),
                event_id=f"{seq:032x}",
                seq=seq,
                alarm="x_y",
                state="raised",
            ),
        )


def client(link: Link) -> FakeClient:
    assert link.client is not None
    return link.client


def test_rows_go_out_in_seq_order_at_qos_1_up_to_the_window(
    link: Link, journal: Journal, clock: SimClock
) -> None:
    journal_rows(journal, clock, 5)
    drain = Drain(link)  # type: ignore[arg-type]
    assert drain.once() is True
    assert client(link).seqs() == [1, 2, 3]
    assert {(t, q) for t, _, q in client(link).published} == {(topics.events(SID), 1)}
    assert drain.once() is False  # the window is full: nothing until the cloud acks
    link.outbox.acked(2)
    assert drain.once() is True
    assert client(link).seqs() == [1, 2, 3, 4, 5]
    assert link.stats["published"] == 5


def test_run_drains_until_the_window_is_full_or_nothing_is_left(
    link: Link, journal: Journal, clock: SimClock
) -> None:
    journal_rows(journal, clock, 2)
    assert Drain(link).run(threading.Event()) is True  # type: ignore[arg-type]
    assert client(link).seqs() == [1, 2]
    assert Drain(link).run(threading.Event()) is True  # type: ignore[arg-type]  # nothing left
    assert client(link).seqs() == [1, 2]


def test_a_stopping_link_publishes_nothing(link: Link, journal: Journal, clock: SimClock) -> None:
    journal_rows(journal, clock, 2)
    stopping = threading.Event()
    stopping.set()
    assert Drain(link).run(stopping) is True  # type: ignore[arg-type]
    assert client(link).published == []


def test_nothing_goes_out_while_disconnected_or_while_the_cloud_is_down(
    link: Link, journal: Journal, clock: SimClock
) -> None:
    journal_rows(journal, clock, 2)
    fake = client(link)
    link.client = None
    assert Drain(link).once() is False  # type: ignore[arg-type]
    link.client, link.cloud_online = fake, False
    assert Drain(link).once() is False  # type: ignore[arg-type]
    assert link.stats["drain_paused"] == 1
    assert fake.published == []
    link.cloud_online = None  # not heard yet: send (the ack comes once ingest is up)
    assert Drain(link).once() is True  # type: ignore[arg-type]


def test_a_refused_publish_ends_the_pass_and_the_rows_stay_unacked(
    link: Link, journal: Journal, clock: SimClock
) -> None:
    journal_rows(journal, clock, 2)
    client(link).fail = True
    assert Drain(link).once() is False  # type: ignore[arg-type]
    assert link.stats["published"] == 0
    assert link.outbox.inflight == 0
    assert journal.backlog() == 2


def test_a_restart_during_a_pass_stops_it_and_the_next_takes_from_the_oldest(
    link: Link, journal: Journal, clock: SimClock
) -> None:
    journal_rows(journal, clock, 3)
    fake = client(link)
    fake.during = lambda: link.outbox.restart(reconnected=False)  # e.g. the cloud came back
    drain = Drain(link)  # type: ignore[arg-type]
    assert drain.once() is True  # one row went out, then the pass noticed the restart
    assert fake.seqs() == [1]
    fake.during = None
    drain.once()
    assert fake.seqs() == [1, 1, 2, 3]


def test_no_ack_for_the_timeout_resends_the_window(
    link: Link, journal: Journal, clock: SimClock
) -> None:
    journal_rows(journal, clock, 4)
    drain = Drain(link)  # type: ignore[arg-type]
    drain.once()
    assert drain.overdue() is False
    clock.advance(ACK_TIMEOUT_S + 0.1)
    assert drain.overdue() is True
    assert drain.once() is True
    assert client(link).seqs() == [1, 2, 3, 1, 2, 3]
    assert link.stats["ack_timeouts"] == 1
    first, resent = client(link).published[0][1], client(link).published[3][1]
    assert first == resent  # a resend is a pure replay of what went out


def test_nothing_in_flight_is_never_overdue(link: Link, clock: SimClock) -> None:
    clock.advance(ACK_TIMEOUT_S * 10)
    assert Drain(link).overdue() is False  # type: ignore[arg-type]


def test_a_failing_pass_is_counted_and_reported_not_raised(
    link: Link, journal: Journal, clock: SimClock
) -> None:
    journal_rows(journal, clock, 1)

    def boom() -> None:
        raise OSError("socket gone")

    client(link).during = boom
    assert Drain(link).run(threading.Event()) is False  # type: ignore[arg-type]
    assert link.stats["errors"] == 1
