"""`cloud.notify.runner`: the notifier thread as ingest processes run it — an alarm written
the way ingest writes one reaches a webhook receiver within seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from cloud.alarms import edge
from cloud.clock import utcnow
from cloud.notify.runner import Notifier, start_notifier
from cloud.settings import Settings
from tests.support.receivers import http_receiver
from tests.support.wait import wait_for


def test_an_edge_alarm_reaches_the_receiver_within_5_s(
    engine: Engine, add_station: Callable[..., Any], channel: Callable[..., int],
    route: Callable[..., int],
) -> None:  # fmt: skip
    add_station("st-1")
    stop = threading.Event()
    with http_receiver() as rx:
        route(channel("webhook", rx.url))
        notifier = Notifier(engine, interval_s=0.5)
        thread = threading.Thread(target=notifier.run, args=(stop,), daemon=True)
        thread.start()
        try:
            wait_for(lambda: notifier.polls >= 1, 10, "a first poll")
            now = utcnow()
            with engine.begin() as conn:  # as ingest stores a station's alarm event
                edge.apply(conn, [edge.Signal("st-1", "forced_open", True, now, 1)], now)
            stored = time.time()
            wait_for(lambda: rx.received, 5, "the webhook")
        finally:
            stop.set()
            thread.join(5)
    assert rx.received[0].at - stored < 5.0
    assert not thread.is_alive()


def test_no_notifier_where_the_interval_is_0(engine: Engine) -> None:
    stop = threading.Event()
    assert start_notifier(engine, Settings(notify_interval_s=0), stop) is None
    thread = start_notifier(engine, Settings(notify_interval_s=0.2), stop)
    assert thread is not None
    stop.set()
    thread.join(5)
    assert not thread.is_alive()


def test_the_notifier_process_of_ingest_sends_and_stops(
    engine: Engine, db_url: str, add_station: Callable[..., Any], channel: Callable[..., int],
    route: Callable[..., int],
) -> None:  # fmt: skip
    """`cloud ingest` runs its notifier in a child process (sending never shares ingest's
    interpreter lock); it sends what ingest stores and stops on SIGTERM."""
    from cloud.notify.runner import start_notifier_process

    add_station("st-1")
    with http_receiver() as rx:
        route(channel("webhook", rx.url))
        assert start_notifier_process(Settings(db=db_url, notify_interval_s=0)) is None
        proc = start_notifier_process(Settings(db=db_url, notify_interval_s=0.2))
        assert proc is not None
        try:
            # no wait for the child's start: its first poll reads back `notify_lookback_s`
            now = utcnow()
            with engine.begin() as conn:
                edge.apply(conn, [edge.Signal("st-1", "forced_open", True, now, 1)], now)
            wait_for(lambda: rx.received, 15, "the webhook from the child process")
        finally:
            proc.terminate()
            proc.join(15)
    assert proc.exitcode == 0
