"""The notifier of a process: the poller every `notify_interval_s` and the delivery worker's
dispatch in between, on one daemon thread beside the health monitor.

Every ingest process may host one (as it hosts a monitor): polls take turns under an
advisory lock and deliveries are leased, so two processes never double-send.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
import time
from multiprocessing.process import BaseProcess

from sqlalchemy import Engine

from cloud.clock import Clock, utcnow
from cloud.engine import make_engine
from cloud.notify.channels import Smtp
from cloud.notify.poller import Poller
from cloud.notify.worker import DeliveryWorker, WorkerPolicy
from cloud.settings import Settings

log = logging.getLogger(__name__)
DISPATCH_S = 0.25  # how often due retries are looked for between polls (a cheap index read)
# The notifier process's nice value: under a full ingest burst on 2 cores, the notifier's
# ~5 ms of CPU per delivery otherwise came off ingest's throughput (benchmarks/notify_latency.py)
NICENESS = 10


class Notifier:
    def __init__(
        self,
        engine: Engine,
        *,
        interval_s: float = 1.0,
        lookback_s: float = 60.0,
        smtp: Smtp | None = None,
        policy: WorkerPolicy | None = None,
        clock: Clock = utcnow,
    ) -> None:
        self.interval_s = interval_s
        self.clock = clock
        self.poller = Poller(engine, lookback_s=lookback_s)
        self.worker = DeliveryWorker(engine, smtp=smtp, policy=policy, clock=clock)
        self.polls = 0
        self.failures = 0

    def step(self) -> None:
        """One poll and one dispatch (what tests drive with a fake clock)."""
        self.poller.run_once(self.clock())
        self.polls += 1
        self.worker.dispatch()

    def run(self, stop: threading.Event) -> None:
        next_poll = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + self.interval_s
                    self.poller.run_once(self.clock())
                    self.polls += 1
                self.worker.dispatch()
            except Exception:
                self.failures += 1
                log.exception("notifier: run failed; retrying")
            self.worker.freed.clear()
            self.worker.freed.wait(min(DISPATCH_S, self.interval_s))
        self.worker.close(wait=False)


def smtp_from(settings: Settings) -> Smtp:
    return Smtp(
        host=settings.smtp_host,
        port=settings.smtp_port,
        user=settings.smtp_user,
        password=settings.smtp_password.get_secret_value(),
        sender=settings.smtp_sender,
        starttls=settings.smtp_starttls,
    )


def start_notifier(
    engine: Engine, settings: Settings, stop: threading.Event
) -> threading.Thread | None:
    """Run a notifier on a daemon thread until `stop`, unless `notify_interval_s` is 0."""
    if settings.notify_interval_s <= 0:
        return None
    notifier = Notifier(
        engine,
        interval_s=settings.notify_interval_s,
        lookback_s=settings.notify_lookback_s,
        smtp=smtp_from(settings),
        policy=WorkerPolicy(
            threads=settings.notify_threads, max_attempts=settings.notify_max_attempts
        ),
    )
    thread = threading.Thread(target=notifier.run, args=(stop,), name="notifier", daemon=True)
    thread.start()
    return thread


def start_notifier_process(settings: Settings) -> BaseProcess | None:
    """Run a notifier in a child process (what `cloud ingest` does), unless
    `notify_interval_s` is 0. Why a process and not a thread of ingest: sending and its
    bookkeeping (~3 ms of CPU per delivery) would share ingest's interpreter lock; measured
    in the same process, 900 deliveries during a 60,000-message burst cost ingest ~45 µs of
    CPU per message (benchmarks/notify_latency.py). The child stops when told (SIGTERM) or
    when its parent is gone."""
    if settings.notify_interval_s <= 0:
        return None
    spawn = multiprocessing.get_context("spawn")  # no fork of a process with threads
    proc = spawn.Process(
        target=_notifier_main, args=(settings, os.getpid()), name="notifier", daemon=True
    )
    proc.start()
    return proc


def _notifier_main(settings: Settings, parent: int, niceness: int = NICENESS) -> None:
    os.nice(niceness)  # a saturated host serves ingest first; a notification may wait a second
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    engine = make_engine(settings.db)
    try:
        thread = start_notifier(engine, settings, stop)
        while thread is not None and thread.is_alive() and not stop.wait(1.0):
            if os.getppid() != parent:  # the ingest process died without stopping us
                break
        stop.set()
        if thread is not None:
            thread.join(timeout=5)
    finally:
        engine.dispose()
