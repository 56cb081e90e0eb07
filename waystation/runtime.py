"""Process plumbing shared by the long-running commands."""

from __future__ import annotations

import signal
import threading


def stop_on_signals(stop: threading.Event) -> threading.Event:
    """Set `stop` on SIGINT (Ctrl-C) or SIGTERM (systemd, compose) instead of dying mid-write."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def wait_for_signal(stop: threading.Event, timeout_s: float | None = None) -> None:
    """Block until SIGINT/SIGTERM, `stop` set elsewhere, or `timeout_s` elapsed."""
    stop_on_signals(stop).wait(timeout_s)
    stop.set()
