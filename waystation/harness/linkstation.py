"""A station that is only its uplink: the real `edge.link.mqtt.Link` and `edge.journal.Journal`
with no door, camera or verifier, for liveness and load runs with hundreds of stations.

Each one has its own MQTT session, login and persisted `sess`, exactly like a real agent's
link; `heartbeat()` sends the telemetry a real agent would (door closed, lock locked), and
`kill()` drops the connection without DISCONNECT, as the kernel does when the process dies.

`python -m waystation.harness.linkstation --broker 'mqtt://{sid}:pw-{sid}@127.0.0.1:1883' --sid a
--sid b …` runs stations in a process of their own (SIGKILL it for a real process death;
SIGTERM stops them cleanly). It prints one JSON line when all are connected. Keep it to
about 100 stations per process: paho watches its sockets with select(), which cannot see a
file descriptor above 1023, and each station holds six (socket, paho's wake-up pair, the
journal's database, WAL and shared-memory files); past that a station never connects and
says nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from pathlib import Path

from edge.clock import SystemClock
from edge.config import EdgeConfig, MqttConfig
from edge.journal import Journal
from edge.link.mqtt import Link
from edge.ports import LinkHooks
from protocol.messages import MetaPayload, TelemetryPayload
from waystation.runtime import stop_on_signals

AGENT_VERSION = "sim-link"


class LinkStation:
    """One station's link and journal under `workdir/<sid>/`; no I/O until `start()`."""

    def __init__(
        self,
        sid: str,
        broker_url: str,
        workdir: Path,
        *,
        telemetry_interval_s: float = 30.0,
        **mqtt: object,
    ) -> None:
        self.sid = sid
        self.telemetry_interval_s = telemetry_interval_s
        self.config = EdgeConfig(
            station_id=sid,
            journal_path=Path(workdir) / sid / "journal.db",
            mqtt=MqttConfig.model_validate({"broker": broker_url} | mqtt),
            telemetry_interval_s=telemetry_interval_s,
        )
        self.clock = SystemClock()
        self.journal = Journal(self.config.journal_path)
        self.link = Link(
            self.config, self.journal, clock=self.clock, hooks=LinkHooks(meta=self._meta)
        )
        self._started = time.monotonic()

    def _meta(self) -> MetaPayload:
        return MetaPayload(sid=self.sid, ts=self.clock.now(), agent_version=AGENT_VERSION)

    @property
    def connected(self) -> bool:
        return self.link.connected

    def start(self) -> None:
        self.journal.open()
        self._started = time.monotonic()
        self.link.start()

    def heartbeat(self) -> None:
        """Publish one heartbeat (QoS 0), as the agent's door loop does every interval."""
        self.link.publish_telemetry(
            TelemetryPayload(
                sid=self.sid,
                ts=self.clock.now(),
                uptime_s=time.monotonic() - self._started,
                interval_s=self.telemetry_interval_s,
                door="closed",
                lock="locked",
                journal_backlog=self.journal.backlog(),
            )
        )

    def stop(self) -> None:
        """A clean stop: retained `offline`, then DISCONNECT (the broker drops the will)."""
        self.link.stop()
        self.journal.close()

    def kill(self) -> None:
        """The process dies: the connection drops without DISCONNECT; the broker keeps the will."""
        self.link.abort()
        self.journal.close()


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m waystation.harness.linkstation")
    parser.add_argument("--broker", required=True, help="URL; {sid} is replaced per station")
    parser.add_argument("--sid", action="append", required=True, help="repeat per station")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--heartbeat-s", type=float, default=30.0)
    parser.add_argument("--keepalive-s", type=int, default=None)
    parser.add_argument("--will-delay-s", type=int, default=None)
    parser.add_argument("--reconnect-max-s", type=float, default=None)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    mqtt: dict[str, object] = {}
    if args.keepalive_s is not None:
        mqtt["keepalive_s"] = args.keepalive_s
    if args.will_delay_s is not None:
        mqtt["will_delay_s"] = args.will_delay_s
    if args.reconnect_max_s is not None:
        mqtt["reconnect_max_s"] = args.reconnect_max_s
    stations = [
        LinkStation(
            sid,
            args.broker.replace("{sid}", sid),
            args.workdir,
            telemetry_interval_s=args.heartbeat_s,
            **mqtt,
        )
        for sid in args.sid
    ]
    stop = stop_on_signals(threading.Event())
    for station in stations:
        station.start()
    deadline = time.monotonic() + 60
    while not all(s.connected for s in stations) and time.monotonic() < deadline:
        stop.wait(0.05)
    ready = sum(s.connected for s in stations)
    print(json.dumps({"ready": ready, "of": len(stations)}), flush=True)
    # Heartbeats spread evenly over the interval, as independent stations' would be.
    rng = random.Random(args.sid[0])
    due = {s.sid: time.monotonic() + rng.uniform(0, args.heartbeat_s) for s in stations}
    while not stop.is_set():
        now = time.monotonic()
        for station in stations:
            if due[station.sid] <= now:
                station.heartbeat()
                due[station.sid] = now + args.heartbeat_s
        stop.wait(min(0.5, args.heartbeat_s / 4))
    for station in stations:
        station.stop()
    print(json.dumps({"stopped": len(stations)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
