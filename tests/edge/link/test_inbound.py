"""`edge.link.inbound.Inbound`: the link's subscription table and its handlers. The client is
a fake that dispatches like paho (per-topic callbacks first, by MQTT filter matching, else
`on_message`); the outbox and journal are the real ones."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from edge.journal import Journal
from edge.link.inbound import Inbound
from edge.link.outbox import Outbox
from edge.ports import LinkHooks
from firmware_sim.clock import SimClock
from protocol import topics
from protocol.messages import AckPayload, AlarmEvent, CloudStatePayload, CmdResultPayload

SID = "sz-0001"
Callback = Callable[[Any, Any, mqtt.MQTTMessage], None]


class FakeClient:
    def __init__(self) -> None:
        self.callbacks: list[tuple[str, Callback]] = []
        self.on_message: Callback | None = None
        self.subscribed: list[Any] = []

    def message_callback_add(self, sub: str, callback: Callback) -> None:
        self.callbacks.append((sub, callback))

    def subscribe(self, topic: Any, qos: int = 0) -> None:
        self.subscribed.append((topic, qos) if isinstance(topic, str) else topic)

    def deliver(self, topic: str, payload: bytes) -> None:
        message = mqtt.MQTTMessage(topic=topic.encode())
        message.payload = payload
        matched = [cb for sub, cb in self.callbacks if mqtt.topic_matches_sub(sub, topic)]
        if not matched:
            assert self.on_message is not None
            matched = [self.on_message]
        for callback in matched:
            callback(self, None, message)


@dataclass
class Host:
    outbox: Outbox
    sid: str = SID
    stats: Counter[str] = field(default_factory=Counter)
    hooks: LinkHooks = field(default_factory=lambda: LinkHooks(meta=lambda: None))  # type: ignore[arg-type, return-value]
    kicks: int = 0
    results: list[CmdResultPayload | None] = field(default_factory=list)

    def kick(self) -> None:
        self.kicks += 1

    def publish_result(self, result: CmdResultPayload | None) -> None:
        self.results.append(result)


@pytest.fixture
def journal() -> Iterator[Journal]:
    with Journal(":memory:") as j:
        yield j


@pytest.fixture
def host(journal: Journal) -> Host:
    clock = SimClock()
    return Host(Outbox(journal, max_inflight=10, ack_timeout_s=30.0, monotonic=clock.monotonic))


def wire(host: Host, **hooks: Any) -> tuple[Inbound, FakeClient]:
    host.hooks = LinkHooks(meta=lambda: None, **hooks)  # type: ignore[arg-type, return-value]
    inbound = Inbound(host)  # type: ignore[arg-type]
    client = FakeClient()
    inbound.install(client)  # type: ignore[arg-type]
    return inbound, client


def journal_rows(journal: Journal, n: int) -> None:
    clock = SimClock()
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


def send_all(host: Host) -> None:
    """What the drain does: publish every row of the window (the journal notes them sent)."""
    gen, rows = host.outbox.take()
    for row in rows:
        host.outbox.payload(row)
        host.outbox.sent(gen, row.seq)


def result(name: str) -> CmdResultPayload:
    return CmdResultPayload(sid=SID, cmd_id=name, ok=True)


def test_the_whole_table_is_subscribed_at_qos_1(host: Host) -> None:
    inbound, client = wire(host)
    inbound.subscribe(client)  # type: ignore[arg-type]
    assert client.subscribed == [
        [
            (topics.ack(SID), 1),
            (f"ws/v1/{SID}/cmd/+", 1),
            (topics.config(SID), 1),
            ("ws/v1/trust/#", 1),
            (topics.CLOUD_STATE, 1),
        ]
    ]
    client.subscribed.clear()
    inbound.resubscribe_trust(client)  # type: ignore[arg-type]
    assert client.subscribed == [("ws/v1/trust/#", 1)]  # the broker resends the retained lists


def test_an_ack_deletes_the_rows_it_covers_and_wakes_the_drain(
    host: Host, journal: Journal
) -> None:
    journal_rows(journal, 3)
    send_all(host)
    acked: list[int] = []
    _, client = wire(host, on_ack=acked.append)
    client.deliver(topics.ack(SID), AckPayload(upto_seq=2).to_bytes())
    assert journal.backlog() == 1
    assert host.outbox.inflight == 1
    assert acked == [2]
    assert host.kicks == 1
    assert host.stats["acks"] == 1


def test_a_bad_ack_is_counted_and_changes_nothing(host: Host, journal: Journal) -> None:
    journal_rows(journal, 2)
    send_all(host)
    _, client = wire(host)
    for raw in (b"{not json", b'{"v": 1, "ts": "2026-03-01T12:00:00Z", "upto_seq": -1}'):
        client.deliver(topics.ack(SID), raw)
    assert journal.backlog() == 2
    assert host.stats["bad_ack"] == 2
    assert host.kicks == 0


def test_trust_lists_go_to_their_hooks_and_a_cleared_one_is_ignored(host: Host) -> None:
    keys: list[bytes] = []
    revocations: list[bytes] = []
    _, client = wire(host, on_trust=keys.append, on_revocations=revocations.append)
    client.deliver(topics.TRUST_KEYS, b"signed keys")
    client.deliver(topics.TRUST_REVOCATIONS, b"signed serials")
    client.deliver(topics.TRUST_KEYS, b"")  # a retained message cleared
    client.deliver("ws/v1/trust/other", b"something newer than this station")
    assert keys == [b"signed keys"]
    assert revocations == [b"signed serials"]
    assert host.stats["errors"] == 0


def cloud(online: bool) -> bytes:
    return CloudStatePayload(online=online).to_bytes()


def test_the_cloud_coming_back_resends_the_unacked_window(host: Host, journal: Journal) -> None:
    journal_rows(journal, 2)
    inbound, client = wire(host)
    send_all(host)
    client.deliver(topics.CLOUD_STATE, cloud(False))
    assert inbound.cloud_online is False
    assert host.kicks == 0
    client.deliver(topics.CLOUD_STATE, cloud(True))
    assert inbound.cloud_online is True
    assert host.outbox.inflight == 0  # restarted: the drain takes from the oldest again
    assert host.kicks == 1
    client.deliver(topics.CLOUD_STATE, cloud(True))  # no change: nothing resent
    assert host.kicks == 1


def test_the_first_word_online_resends_only_what_is_in_flight(host: Host, journal: Journal) -> None:
    inbound, client = wire(host)
    client.deliver(topics.CLOUD_STATE, cloud(True))
    assert host.kicks == 0  # nothing in flight: nothing to resend
    journal_rows(journal, 1)
    send_all(host)
    inbound.cloud_online = None  # a new connection: the retained state comes again
    client.deliver(topics.CLOUD_STATE, cloud(True))
    assert host.outbox.inflight == 0
    assert host.kicks == 1


def test_a_bad_or_cleared_cloud_state_keeps_what_was_heard(host: Host) -> None:
    inbound, client = wire(host)
    client.deliver(topics.CLOUD_STATE, cloud(False))
    client.deliver(topics.CLOUD_STATE, b'{"online": "maybe"}')
    client.deliver(topics.CLOUD_STATE, b"")
    assert inbound.cloud_online is False
    assert host.stats["errors"] == 0


def test_a_command_goes_to_its_hook_and_the_result_back(host: Host) -> None:
    seen: list[tuple[str, bytes]] = []

    def on_command(name: str, raw: bytes) -> CmdResultPayload:
        seen.append((name, raw))
        return result(name)

    _, client = wire(host, on_command=on_command)
    client.deliver(topics.cmd(SID, "unlock"), b"payload")
    assert seen == [("unlock", b"payload")]
    assert [r.cmd_id for r in host.results if r is not None] == ["unlock"]
    assert host.stats["commands"] == 1


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (f"ws/v1/{SID}/cmd/selfdestruct", b"payload"),  # not a command of the contract
        (topics.cmd(SID, "unlock"), b""),  # a cleared retained command
    ],
)
def test_a_command_that_is_no_command_is_ignored(host: Host, topic: str, payload: bytes) -> None:
    calls: list[str] = []
    _, client = wire(host, on_command=lambda name, raw: calls.append(name))
    client.deliver(topic, payload)
    assert calls == []
    assert host.results == []
    assert host.stats["commands_ignored"] == 1


def test_a_command_without_a_handler_is_ignored(host: Host) -> None:
    _, client = wire(host)
    client.deliver(topics.cmd(SID, "sync"), b"payload")
    assert host.stats["commands_ignored"] == 1
    assert host.results == []


def test_a_desired_config_goes_to_its_hook_and_a_cleared_one_keeps_the_applied(
    host: Host,
) -> None:
    seen: list[bytes] = []

    def on_config(raw: bytes) -> CmdResultPayload:
        seen.append(raw)
        return result("cfg")

    _, client = wire(host, on_config=on_config)
    client.deliver(topics.config(SID), b"config")
    client.deliver(topics.config(SID), b"")
    assert seen == [b"config"]
    assert len(host.results) == 1
    assert host.stats["configs"] == 1


def test_a_failing_handler_is_counted_and_never_reaches_paho(host: Host) -> None:
    def broken(raw: bytes) -> None:
        raise RuntimeError("bug in a hook")

    _, client = wire(host, on_trust=broken)
    client.deliver(topics.TRUST_KEYS, b"list")  # would kill paho's network thread if raised
    assert host.stats["errors"] == 1


def test_a_message_outside_the_table_is_dropped(host: Host) -> None:
    _, client = wire(host)
    client.deliver("ws/v1/sz-0002/ack", AckPayload(upto_seq=5).to_bytes())
    assert host.stats == Counter()
    assert host.kicks == 0
