"""What the station says about itself: the retained birth (`meta` and `state`) and the
heartbeat (`telemetry`).

The birth goes out on every connect and again after a change it reports (a remote config
applied, the camera down or back); the heartbeat every `telemetry_interval_s` on the door loop,
built by `edge.heartbeat` from the station's parts.
"""

from __future__ import annotations

from edge import AGENT_VERSION, heartbeat
from edge.camera.health import CameraHealth
from edge.ports import Clock
from edge.remote import Remote
from edge.trustlists import NO_ANCHOR
from protocol.messages import MetaPayload, Status, TelemetryPayload

# What this agent can do, in `meta` (the cloud shows it; commands are offered by it).
CAPABILITIES = ["access", "ws1", "ws2", "journal", "schedule", "door_sensors"]


class Reports:
    """Builds the station's birth and heartbeat; read on the link's and the loop's threads."""

    def __init__(
        self,
        parts: heartbeat.Parts,
        *,
        clock: Clock,
        camera_health: CameraHealth,
        remote: Remote,
        interval_s: float,
    ) -> None:
        self.parts = parts  # what the heartbeat reads; sensors and occupancy may be swapped
        self.clock = clock
        self.camera_health = camera_health
        self.remote = remote  # the applied remote config's version
        self.interval_s = interval_s  # the heartbeat period, seconds (a remote config sets it)
        self.started_at: float | None = None  # monotonic start of the agent, for the uptime
        self.last: TelemetryPayload | None = None  # the last heartbeat sent (for /metrics)

    def status(self) -> tuple[Status, str | None]:
        """What the station's retained state says (DESIGN.md): `degraded` while it runs but
        cannot admit members (the camera is down, or no trust anchor is held); `online`
        otherwise."""
        if self.camera_health.down:
            return "degraded", "camera down: member codes cannot be read"
        if self.parts.verifier.anchor is None:
            return "degraded", NO_ANCHOR
        return "online", None

    def meta(self) -> MetaPayload:
        """The retained `meta` published on every connect."""
        verifier = self.parts.verifier
        return MetaPayload(
            sid=self.parts.sid,
            ts=self.parts.time_guard.best_now(),
            agent_version=AGENT_VERSION,
            capabilities=CAPABILITIES,
            config_version=self.remote.config_version,
            trust_version=verifier.trust_version,
            revocation_version=verifier.revocation_version,
            schedule=None if self.parts.schedule is None else self.parts.schedule(),
        )

    def telemetry(self) -> TelemetryPayload:
        """The heartbeat now (`edge.heartbeat`), not yet sent."""
        mono = self.clock.monotonic()
        started = self.started_at
        return heartbeat.build(
            self.parts,
            mono_now=mono,
            uptime_s=0.0 if started is None else mono - started,
            interval_s=self.interval_s,
            config_version=self.remote.config_version,
        )
