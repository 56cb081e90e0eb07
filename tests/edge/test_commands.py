"""`edge.commands.Commands`: what `unlock`, `rebirth`, `sync`, `reboot` and a desired config
do to the station, with fakes for the relay, the remote and the link."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from edge.access.schedule import DoorMode
from edge.commands import Commands
from edge.config import DoorConfig
from edge.door import Door
from edge.events import EventLog
from edge.journal import Journal
from firmware_sim.clock import SimClock
from protocol.messages import AlarmEvent, CmdResultPayload, DoorEvent, decode
from protocol.topics import Kind
from tests.support.edge_fakes import FakeLink, FakeRelay


class FakeRemote:
    """`edge.remote.Remote.on_config`: answers with the queued results."""

    def __init__(self) -> None:
        self.results: list[CmdResultPayload | None] = []
        self.seen: list[bytes] = []

    def on_config(self, raw: bytes) -> CmdResultPayload | None:
        self.seen.append(raw)
        return self.results.pop(0)


@dataclass
class Host:
    journal: Journal
    sid: str = "sz-0001"
    clock: SimClock = field(default_factory=SimClock)
    relay: FakeRelay = field(default_factory=FakeRelay)
    remote: FakeRemote = field(default_factory=FakeRemote)
    link: FakeLink | None = field(default_factory=FakeLink)
    decide_lock: threading.Lock = field(default_factory=threading.Lock)
    stats: Counter[str] = field(default_factory=Counter)
    kicks: int = 0
    reboots: int = 0

    def __post_init__(self) -> None:
        config = DoorConfig(pulse_s=3.0)
        self.door = Door(self.sid, config, relay=self.relay, inputs=None, stats=self.stats)
        self.events = EventLog(
            self.sid, self.journal, now=self.clock.now, stats=self.stats, wake=lambda: None
        )

    def kick(self) -> None:
        self.kicks += 1

    def reboot(self) -> None:
        self.reboots += 1

    def journaled(self) -> list[object]:
        return [decode(Kind.EVENTS, r.payload) for r in self.journal.pending()]


@pytest.fixture
def host() -> Iterator[Host]:
    with Journal(":memory:") as journal:
        yield Host(journal)


def result(ok: bool, detail: str | None = None) -> CmdResultPayload:
    return CmdResultPayload(sid="sz-0001", cmd_id="cfg-1", ok=ok, detail=detail)


def test_the_action_table_names_the_four_commands(host: Host) -> None:
    assert set(Commands(host).actions()) == {"unlock", "rebirth", "sync", "reboot"}  # type: ignore[arg-type]


def test_unlock_pulses_the_relay_journals_it_and_wakes_the_link(host: Host) -> None:
    answer = Commands(host).actions()["unlock"]({})  # type: ignore[arg-type]
    assert answer == "released for 3.0 s"
    assert host.relay.pulses == [3.0]
    (event,) = host.journaled()
    assert isinstance(event, DoorEvent)
    assert (event.action, event.cause) == ("unlocked", "remote")
    assert host.kicks == 1


def test_unlock_in_free_hours_leaves_the_held_lock_alone(host: Host) -> None:
    host.door.follow(DoorMode.FREE)
    answer = Commands(host).unlock({})  # type: ignore[arg-type]
    assert answer == "free mode: the lock is already released"
    assert host.relay.pulses == []
    assert host.journaled() == []


def test_a_failing_relay_fails_the_command_and_journals_nothing(host: Host) -> None:
    host.relay.broken = True
    with pytest.raises(RuntimeError, match="relay pulse failed"):
        Commands(host).unlock({})  # type: ignore[arg-type]
    assert host.journaled() == []
    assert host.stats["relay_errors"] == 1
    assert host.kicks == 0


def test_unlock_waits_for_a_decision_in_progress(host: Host) -> None:
    """A remote unlock never interleaves with a scan's decision (the decide lock)."""
    commands = Commands(host)  # type: ignore[arg-type]
    done = threading.Event()
    with host.decide_lock:
        worker = threading.Thread(target=lambda: (commands.unlock({}), done.set()))
        worker.start()
        assert not done.wait(0.05)  # held off while the lock is taken
        assert host.relay.pulses == []
    worker.join(timeout=5)
    assert done.is_set()
    assert host.relay.pulses == [3.0]


def test_rebirth_and_sync_go_to_the_link_and_fail_without_one(host: Host) -> None:
    commands = Commands(host)  # type: ignore[arg-type]
    commands.rebirth({})
    commands.sync({})
    assert host.link is not None
    assert host.link.calls == ["rebirth", "sync"]
    host.link = None
    for action in (commands.rebirth, commands.sync):
        with pytest.raises(RuntimeError, match="no link"):
            action({})


def test_reboot_asks_the_host_to_restart(host: Host) -> None:
    assert Commands(host).reboot({}) == "restarting"  # type: ignore[arg-type]
    assert host.reboots == 1


def test_a_config_applied_rebirths_and_a_refused_one_raises_the_alarm_once(host: Host) -> None:
    commands = Commands(host)  # type: ignore[arg-type]
    assert host.link is not None
    applied = result(True)
    host.remote.results = [applied, result(False, "door.pulse_s: too long")]
    assert commands.on_config(b"one") is applied  # the remote's answer goes back to the cloud
    assert host.link.calls == ["rebirth"]  # meta carries the new config_version
    assert host.journaled() == []  # nothing raised, nothing to clear

    commands.on_config(b"two")
    assert host.link.calls == ["rebirth"]  # a refused config changes nothing to report
    (raised,) = host.journaled()
    assert isinstance(raised, AlarmEvent)
    assert (raised.alarm, raised.state, raised.detail) == (
        "config_rejected",
        "raised",
        "door.pulse_s: too long",
    )
    assert commands.config_alarm is True

    host.remote.results = [result(False, "again"), result(True)]
    commands.on_config(b"three")
    assert len(host.journaled()) == 1  # still raised: not raised twice
    commands.on_config(b"four")
    cleared = host.journaled()[-1]
    assert isinstance(cleared, AlarmEvent)
    assert (cleared.alarm, cleared.state) == ("config_rejected", "cleared")
    assert commands.config_alarm is False
    assert host.remote.seen == [b"one", b"two", b"three", b"four"]


def test_a_config_that_changes_nothing_reports_nothing(host: Host) -> None:
    """The remote answers None (the same version again): no birth, no alarm transition."""
    commands = Commands(host)  # type: ignore[arg-type]
    host.remote.results = [None]
    assert commands.on_config(b"same") is None
    assert host.link is not None
    assert host.link.calls == []
    assert host.journaled() == []


def test_a_config_applied_while_offline_still_clears_the_alarm(host: Host) -> None:
    commands = Commands(host)  # type: ignore[arg-type]
    host.link = None
    host.remote.results = [result(False, "bad"), result(True)]
    commands.on_config(b"bad")
    commands.on_config(b"good")
    assert [e.state for e in host.journaled() if isinstance(e, AlarmEvent)] == [
        "raised",
        "cleared",
    ]
