"""`edge.reports.Reports`: the birth (`meta`, the status in `state`) and the heartbeat, built
from the station's parts (real ones here, on a simulated clock; the relay is a fake)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge import AGENT_VERSION, heartbeat
from edge.access.timeguard import TimeGuard
from edge.access.verify import AccessVerifier
from edge.camera.health import CameraHealth
from edge.camera.stats import CameraStats
from edge.journal import Journal
from edge.reports import CAPABILITIES, Reports
from edge.trustlists import NO_ANCHOR
from firmware_sim.clock import SimClock
from firmware_sim.union import SimUnion
from protocol.credential import VerifyPolicy
from tests.support.edge_fakes import FakeRelay


@dataclass
class FakeRemote:
    config_version: int | None = None


@pytest.fixture
def reports(tmp_path: Path, clock: SimClock, union: SimUnion) -> Iterator[Reports]:
    verifier = AccessVerifier(
        anchor=union.anchor_public,
        policy=VerifyPolicy(),
        trust=union.trust,
        revocations=union.revocations,
    )
    with Journal(":memory:") as journal:
        parts = heartbeat.Parts(
            sid="sz-0001",
            journal=journal,
            relay=FakeRelay(),
            door_open=lambda: False,
            verifier=verifier,
            time_guard=TimeGuard(clock, None, probe=lambda: True),
            camera=CameraStats(),
            sensors=[],
            data_dir=tmp_path,
        )
        yield Reports(
            parts,
            clock=clock,
            camera_health=CameraHealth(down_after_s=5.0),
            remote=FakeRemote(),  # type: ignore[arg-type]
            interval_s=30.0,
        )


def test_a_station_with_its_anchor_and_camera_is_online(reports: Reports) -> None:
    assert reports.status() == ("online", None)


def test_a_dead_camera_makes_the_station_degraded(reports: Reports) -> None:
    reports.camera_health.observe(None, 0.0)
    reports.camera_health.observe(None, 5.0)
    assert reports.camera_health.down
    status, why = reports.status()
    assert status == "degraded"
    assert why is not None
    assert "camera down" in why


def test_no_anchor_makes_the_station_degraded(reports: Reports) -> None:
    reports.parts.verifier.anchor = None
    assert reports.status() == ("degraded", NO_ANCHOR)


def test_the_camera_is_named_first_when_both_are_wrong(reports: Reports) -> None:
    reports.parts.verifier.anchor = None
    reports.camera_health.observe(None, 0.0)
    reports.camera_health.observe(None, 5.0)
    assert reports.status()[1] != NO_ANCHOR


def test_meta_carries_the_versions_in_force(reports: Reports, clock: SimClock) -> None:
    reports.remote.config_version = 7  # type: ignore[misc]
    meta = reports.meta()
    assert meta.sid == "sz-0001"
    assert meta.agent_version == AGENT_VERSION
    assert meta.capabilities == CAPABILITIES
    assert (meta.config_version, meta.trust_version, meta.revocation_version) == (7, 1, 1)
    assert meta.ts == clock.now()


def test_the_heartbeat_counts_uptime_from_the_agents_start(
    reports: Reports, clock: SimClock
) -> None:
    assert reports.telemetry().uptime_s == 0.0  # not started yet
    reports.started_at = clock.monotonic()
    clock.advance(90.25)
    reports.remote.config_version = 3  # type: ignore[misc]
    reports.interval_s = 15.0  # a remote config changed the period
    beat = reports.telemetry()
    assert beat.uptime_s == 90.2  # rounded to 0.1 s (90.25 rounds half to even)
    assert (beat.interval_s, beat.config_version) == (15.0, 3)
    assert (beat.door, beat.lock) == ("closed", "locked")
    assert reports.last is None  # built, not sent: the caller records what it sent
