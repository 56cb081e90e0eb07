"""A station of a chaos run: a real `edge.agent.Agent` (`SimStation`: codes scanned as text,
beams counting footfall) behind its own `NetCut` proxy, so faults can cut its radio.

Its wall-clock skew and frozen camera are the `SimStation`'s own. What the audit reads: the
`SimStation`'s ledger (`ledger.jsonl` beside the journal: every row it ever journaled,
surviving kills and restarts) and, since that ledger keeps keys only, the counts of every
footfall interval journaled (`footfall-counts.jsonl` beside it: `{"seq", "entries", "exits"}`),
written after the journal commit like the ledger.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from edge.clock import SystemClock
from firmware_sim.ledger import LEDGER_NAME, LedgerEntry, read_ledger
from firmware_sim.netcut import NetCut
from firmware_sim.station import SimStation
from firmware_sim.union import SimUnion
from firmware_sim.wallet import Wallet
from protocol.registry import StationRecord
from waystation.harness.audit import Truth, journal_backlog

COUNTS_NAME = "footfall-counts.jsonl"  # beside `footfall.json`, the footfall unit's own state


@dataclass(frozen=True, slots=True)
class StationSetup:
    """What every station of a chaos run shares."""

    broker: tuple[str, int]  # the real broker (host, port), reached through each one's proxy
    workdir: Path  # each station keeps journal, ledger and trust under workdir/<sid>/
    union: SimUnion
    members: list[Wallet]  # the wallets its visitors present
    telemetry_interval_s: float
    footfall_interval_s: int


def read_counts(path: Path) -> dict[int, tuple[int, int]]:
    """Journal seq → (entries, exits) of every footfall interval in a counts file; a torn
    last line (the process died mid-write, after the journal commit) is skipped."""
    out: dict[int, tuple[int, int]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return out
    for line in lines:
        try:
            row = json.loads(line)
            out[int(row["seq"])] = (int(row["entries"]), int(row["exits"]))
        except (ValueError, KeyError, TypeError):
            continue
    return out


class ChaosStation:
    """One station for a chaos run; implements `waystation.harness.injector.FaultableStation`.
    No I/O until `start()`."""

    def __init__(
        self, record: StationRecord, setup: StationSetup, *, password: str, rng: random.Random
    ) -> None:
        self.record = record
        self.sid = record.id
        self.setup = setup
        self.password = password
        self.rng = rng
        self.proxy = NetCut(setup.broker)
        self.lock = threading.Lock()  # traffic vs faults: one at a time per station
        self.alive = False
        self.truth = Truth.RUNNING
        self.restarts = 0
        self.sim: SimStation | None = None
        self.journal_path = setup.workdir / self.sid / "journal.db"
        self.ledger_file = self.journal_path.with_name(LEDGER_NAME)
        self.counts_file = self.journal_path.with_name(COUNTS_NAME)
        self._counts: IO[str] | None = None
        self._counts_lock = threading.Lock()

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def broker_url(self) -> str:
        """The station's login at its proxy (listening once `start()` ran)."""
        return f"mqtt://{self.sid}:{self.password}@127.0.0.1:{self.proxy.port}"

    def _build(self) -> SimStation:
        offset = self.sim.clock_offset_s if self.sim is not None else 0.0  # kept over restarts
        sim = SimStation(
            self.record,
            self.setup.union,
            broker_url=self.broker_url,
            workdir=self.setup.workdir,
            rng=random.Random(self.rng.getrandbits(64)),
            clock=SystemClock(),  # a clock of ours: no waiting on this host's NTP sync
            members=self.setup.members,
            telemetry_interval_s=self.setup.telemetry_interval_s,
            render_frames=False,
            footfall=True,
            footfall_interval_s=self.setup.footfall_interval_s,
        )
        sim.clock_offset_s = offset
        self._tap(sim)
        return sim

    def _tap(self, sim: SimStation) -> None:
        """Copy the counts of every committed footfall interval into the counts file (after
        the commit, so a line there is always a row the station promised to deliver)."""
        journal = sim.agent.journal
        append = journal.append

        def tapped(kind: str, make: Callable[[int], Any]) -> tuple[int, bytes]:
            seq, payload = append(kind, make)
            if str(kind) == "footfall":
                body = json.loads(payload)
                line = json.dumps({"seq": seq, "entries": body["entries"], "exits": body["exits"]})
                with self._counts_lock:
                    if self._counts is not None:
                        self._counts.write(line + "\n")
                        self._counts.flush()
            return seq, payload

        journal.append = tapped  # type: ignore[method-assign]

    def start(self) -> None:
        """Open the proxy and the counts file, then boot the station."""
        self.proxy.start()
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        with self._counts_lock:
            self._counts = self.counts_file.open("a", encoding="utf-8")
        with self.lock:
            self.sim = self._build()
            self.sim.start()
            self.alive = True
            self.truth = Truth.RUNNING

    def kill(self) -> None:
        """Power cut: no `offline`, the broker sends the will; the journal stays on disk."""
        with self.lock:
            if self.sim is not None and self.alive:
                self.alive = False
                self.sim.stop(clean=False)
            self.truth = Truth.KILLED

    def restart(self) -> None:
        """Boot again from the same journal, footfall state and trust directory."""
        with self.lock:
            if self.alive:
                return
            self.sim = self._build()
            self.sim.start()
            self.alive = True
            self.truth = Truth.RUNNING
            self.restarts += 1

    def stop(self) -> None:
        """A clean stop: retained `offline`, DISCONNECT."""
        with self.lock:
            if self.sim is not None and self.alive:
                self.alive = False
                self.sim.stop(clean=True)
            self.truth = Truth.STOPPED

    def drain_then(self, clean: bool, timeout_s: float = 30.0) -> bool:
        """Hold traffic off, wait for the journal to be acked empty, then stop (`clean`) or
        kill: the end states of a run, with nothing stranded in the journal."""
        with self.lock:
            drained = False
            deadline = time.monotonic() + timeout_s
            while self.alive and self.sim is not None and time.monotonic() < deadline:
                if self.sim.agent.journal.backlog() == 0:
                    drained = True
                    break
                time.sleep(0.05)
            if self.sim is not None and self.alive:
                self.alive = False
                self.sim.stop(clean=clean)
            self.truth = Truth.STOPPED if clean else Truth.KILLED
            return drained

    def close(self) -> None:
        """End of the run: kill if still running (no state published), close the proxy."""
        with self.lock:
            if self.sim is not None and self.alive:
                self.alive = False
                self.sim.stop(clean=False)
        self.proxy.stop()
        with self._counts_lock:
            if self._counts is not None:
                self._counts.close()
                self._counts = None

    # --- faults ------------------------------------------------------------------------------

    def partition(self, on: bool) -> None:
        self.proxy.cut() if on else self.proxy.heal()

    def reset_connection(self) -> None:
        self.proxy.reset()

    @property
    def clock_offset_s(self) -> float:
        """The station's wall-clock skew, seconds (+ ahead): the `SimStation`'s."""
        return self.sim.clock_offset_s if self.sim is not None else 0.0

    @clock_offset_s.setter
    def clock_offset_s(self, value: float) -> None:
        if self.sim is not None:
            self.sim.clock_offset_s = value

    def freeze_camera(self, on: bool) -> None:
        """The `SimStation`'s frozen camera: visits read nothing, `camera_down` follows."""
        with self.lock:
            if self.sim is not None:
                self.sim.freeze_camera(on)

    # --- traffic (the fleet driver calls these; skipped while a fault holds the station) ----

    def _try(self, fn: Callable[[SimStation], object]) -> bool:
        if not self.lock.acquire(blocking=False):
            return False
        try:
            if not self.alive or self.sim is None:
                return False
            fn(self.sim)
            return True
        finally:
            self.lock.release()

    def visit(self) -> bool:
        """A member at the door (a frozen camera reads nothing)."""
        return self._try(lambda sim: sim.visit())

    def heartbeat(self) -> bool:
        return self._try(lambda sim: sim.heartbeat())

    def camera_tick(self) -> bool:
        """A frozen camera is looked at now and then (the camera health needs time of it)."""
        return self._try(lambda sim: sim.agent.on_frame(None) if sim.camera_frozen else None)

    # --- what the audit reads ------------------------------------------------------------------

    @property
    def ledger(self) -> list[LedgerEntry]:
        """Everything the station ever journaled, oldest first (keys only)."""
        return read_ledger(self.ledger_file)

    @property
    def footfall_counts(self) -> dict[int, tuple[int, int]]:
        """Journal seq → (entries, exits) of every footfall interval it journaled."""
        return read_counts(self.counts_file)

    def backlog(self) -> int:
        with self.lock:
            if self.alive and self.sim is not None:
                return self.sim.agent.journal.backlog()
        return journal_backlog(self.journal_path)

    def connected(self) -> bool:
        sim = self.sim
        return bool(self.alive and sim is not None and sim.agent.link and sim.agent.link.connected)
