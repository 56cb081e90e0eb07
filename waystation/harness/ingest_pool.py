"""`waystation cloud ingest` worker processes for the chaos run and the benchmarks.

`IngestPool` runs workers a chaos run can SIGKILL and start again: each with a fixed client
id (a persistent broker session: QoS 1 messages queue while it is down), a broker login of its
own, and its output in `logdir/ingest-N.log` (where the subscription is read from).
`start_ingest` runs workers for a throughput measurement: each serves Prometheus metrics on a
port of its own (`wait_ready` reads them), output discarded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import IO

CHECKOUT = Path(__file__).resolve().parents[2]  # the project root, for PYTHONPATH


def ingest_command(broker_url: str, db_url: str, *options: str) -> list[str]:
    """`waystation cloud ingest --broker URL --db URL OPTIONS…`: the console script beside this
    interpreter, or `python -m waystation.cli` where it is not installed."""
    script = Path(sys.executable).with_name("waystation")
    head = [str(script)] if script.exists() else [sys.executable, "-m", "waystation.cli"]
    return [*head, "cloud", "ingest", "--broker", broker_url, "--db", db_url, *options]


class IngestPool:
    """Ingest workers with fixed client ids (persistent sessions); worker i logs in with
    `broker_urls[i]`, a login of its own. No process runs until `start()` / `start_all()`."""

    def __init__(self, broker_urls: list[str], db_url: str, logdir: Path) -> None:
        self.broker_urls = list(broker_urls)
        self.db_url = db_url
        self.workers = len(self.broker_urls)
        self.logdir = Path(logdir)
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self.kills = 0
        self._logs: list[IO[bytes]] = []

    def _command(self, worker: int) -> list[str]:
        client_id = f"chaos-ingest-{worker}"
        return ingest_command(self.broker_urls[worker], self.db_url, "--client-id", client_id)

    def start(self, worker: int) -> None:
        if worker in self.procs and self.procs[worker].poll() is None:
            return
        self.logdir.mkdir(parents=True, exist_ok=True)
        out = (self.logdir / f"ingest-{worker}.log").open("ab")
        self._logs.append(out)
        env = os.environ | {"PYTHONPATH": str(CHECKOUT)}
        self.procs[worker] = subprocess.Popen(  # noqa: S603 - our own command line
            self._command(worker), stdout=out, stderr=subprocess.STDOUT, env=env, cwd=CHECKOUT
        )

    def start_all(self) -> None:
        for worker in range(self.workers):
            self.start(worker)

    def kill(self, worker: int) -> None:
        """SIGKILL: no clean stop, no `_cloud/state` offline of its own (the broker's will)."""
        proc = self.procs.get(worker)
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
            self.kills += 1

    def wait_subscribed(self, timeout_s: float = 30.0) -> bool:
        """Until every worker logged its subscription (stations started before that would
        have their first messages dropped by the broker: no subscriber yet)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            logs = [self.logdir / f"ingest-{w}.log" for w in range(self.workers)]
            if all(
                p.exists() and "connected, subscribed" in p.read_text("utf-8", "replace")
                for p in logs
            ):
                time.sleep(0.5)  # the SUBACK follows the log line
                return True
            time.sleep(0.1)
        return False

    def alive(self) -> int:
        return sum(p.poll() is None for p in self.procs.values())

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        for out in self._logs:
            out.close()


def start_ingest(broker_url: str, db_url: str, ports: list[int]) -> list[subprocess.Popen[bytes]]:
    """One ingest worker per metrics port (served on 127.0.0.1), output discarded."""
    return [
        subprocess.Popen(  # noqa: S603 - our own command line
            ingest_command(
                broker_url, db_url, "--metrics-port", str(port), "--metrics-addr", "127.0.0.1"
            ),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]


def wait_ready(
    ports: list[int], timeout: float = 30, procs: Sequence[subprocess.Popen[bytes]] = ()
) -> None:
    """Until every worker's metrics say it is connected (and so subscribed); seconds.
    `procs`: the workers' processes — one that exits meanwhile raises `WorkerExitedError` at
    once (it will never answer) instead of the timeout."""
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            try:
                url = f"http://127.0.0.1:{port}/metrics"
                with urllib.request.urlopen(url) as r:
                    if "waystation_ingest_connected 1.0" in r.read().decode():
                        break
            except OSError:
                pass
            for proc in procs:
                if proc.poll() is not None:
                    raise WorkerExitedError(proc.returncode)
            if time.monotonic() > deadline:
                raise TimeoutError("ingest workers did not subscribe")
            time.sleep(0.1)


class WorkerExitedError(RuntimeError):
    """An ingest worker ended before it was ready."""

    def __init__(self, code: int) -> None:
        super().__init__(f"an ingest worker exited with {code} before it was ready")
