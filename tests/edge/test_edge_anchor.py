"""A station without its trust anchor refuses every member: it must say so, not look open.

Story: with no `anchor.pem` in the trust directory the agent denied everyone, published
`online` and raised no alarm, so the map showed a station no member could enter. It now
reports `degraded` with the `no_trust_anchor` alarm, and returns to `online` (alarm cleared)
when the installer copies the anchor in, also across a restart.
"""

from __future__ import annotations

import json
from pathlib import Path

from edge.agent import Agent, Ports
from edge.config import AccessConfig, EdgeConfig
from edge.hw.relay import GpioRelay
from edge.journal import Journal
from edge.ports import LinkHooks
from firmware_sim.clock import SimClock
from firmware_sim.pins import mock_factory
from firmware_sim.union import SimUnion
from protocol.credential import Reason
from protocol.messages import TelemetryPayload


class RecordingLink:
    """A `Publisher` that records what the agent asks of it (rebirth, sync)."""

    def __init__(self, config: EdgeConfig, journal: Journal, *, clock, hooks: LinkHooks) -> None:  # type: ignore[no-untyped-def]
        self.hooks = hooks
        self.calls: list[str] = []
        self.connected = True

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def abort(self) -> None: ...
    def kick(self) -> None: ...
    def publish_telemetry(self, payload: TelemetryPayload) -> None: ...

    def rebirth(self) -> None:
        self.calls.append("rebirth")

    def sync(self) -> None:
        self.calls.append("sync")


def anchor_alarms(agent: Agent) -> list[tuple[str, str | None]]:
    rows = [json.loads(r.payload) for r in agent.journal.pending(limit=1000)]
    return [
        (e["state"], e.get("detail"))
        for e in rows
        if e.get("type") == "alarm" and e["alarm"] == "no_trust_anchor"
    ]


def make_agent(config: EdgeConfig, clock: SimClock) -> Agent:
    relay = GpioRelay(config.door, pin_factory=mock_factory())
    return Agent(config, Ports(relay=relay, clock=clock), uplink=RecordingLink)


def no_anchor_config(tmp_path: Path, trust_dir: Path | None) -> EdgeConfig:
    return EdgeConfig(
        station_id="sz-0001",
        journal_path=tmp_path / "data" / "journal.db",
        access=AccessConfig(trust_dir=trust_dir),
    )


def test_no_anchor_is_degraded_with_an_alarm_until_the_anchor_is_copied_in(
    tmp_path: Path, union: SimUnion, clock: SimClock
) -> None:
    trust = tmp_path / "trust"
    trust.mkdir()
    agent = make_agent(no_anchor_config(tmp_path, trust), clock)
    agent.start()
    try:
        link = agent.link
        assert isinstance(link, RecordingLink)
        status, reason = link.hooks.status()
        assert status == "degraded"
        assert reason is not None
        assert "trust anchor" in reason
        assert anchor_alarms(agent) == [("raised", reason)]
        member = union.enroll("m1")
        assert agent.scan_text(member.present(clock.timestamp())).granted is False

        clock.advance(1.0)
        agent.housekeeping()  # still missing: nothing new
        assert anchor_alarms(agent) == [("raised", reason)]

        union.write_trust_dir(trust)  # the installer copies the union's kit in
        calls_before = len(link.calls)
        clock.advance(1.0)
        agent.housekeeping()
        assert link.hooks.status() == ("online", None)
        assert anchor_alarms(agent) == [("raised", reason), ("cleared", None)]
        assert link.calls[calls_before:] == [
            "sync",
            "rebirth",
        ]  # ask again for the lists, new retained state
        decision = agent.scan_text(member.present(clock.timestamp()))
        assert decision.reason is Reason.GRANTED
    finally:
        agent.stop()


def test_a_restart_with_the_anchor_clears_the_alarm_the_last_run_raised(
    tmp_path: Path, union: SimUnion, clock: SimClock
) -> None:
    trust = tmp_path / "trust"
    config = no_anchor_config(tmp_path, trust)
    first = make_agent(config, clock)
    first.start()
    first.stop()
    second = make_agent(config, clock)  # restarted, still without the anchor: no second raise
    second.start()
    second.stop()

    union.write_trust_dir(trust)
    third = make_agent(config, clock)
    third.start()
    try:
        assert third.link is not None
        assert third.link.hooks.status() == ("online", None)
        assert [state for state, _ in anchor_alarms(third)] == ["raised", "cleared"]
    finally:
        third.stop()


def test_no_trust_dir_at_all_is_degraded_too(tmp_path: Path, clock: SimClock) -> None:
    agent = make_agent(no_anchor_config(tmp_path, None), clock)
    agent.start()
    try:
        assert agent.link is not None
        assert agent.link.hooks.status()[0] == "degraded"
        assert [state for state, _ in anchor_alarms(agent)] == ["raised"]
    finally:
        agent.stop()
