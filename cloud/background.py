"""One database read at a time on a thread of its own, and a way to wait for it at shutdown.

The API's cached views (`cloud.stations.index.StationIndex`, `cloud.alarms.sightwatch.SightWatch`)
refresh on a background thread so no request waits for the database. Such a thread holds a
pooled connection while it reads. If the engine is disposed meanwhile (the app's shutdown),
the connection goes back to a pool nobody owns any more and is later garbage-collected
unclosed: psycopg then warns "connection deleted while still open" at a random moment in
whatever code runs next. `close` refuses new reads and waits for the one in flight, so the
owner disposes of the engine only after every connection is back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

# Seconds `close` waits for a read in flight: longer than any registry or sight read
# (a registry rebuild at 200,000 stations takes ~2 s on this hardware class).
CLOSE_WAIT_S = 10.0


class BackgroundRead:
    """Runs `read` on a daemon thread when asked, never two at once, none after `close`."""

    def __init__(self, read: Callable[[], object], name: str) -> None:
        self._read = read
        self._name = name
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def start(self) -> bool:
        """Start a read unless one is under way or the owner has closed; True if started."""
        with self._lock:
            if self._closed or self.running:
                return False
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
            return True

    def _run(self) -> None:
        try:
            self._read()
        except Exception:  # logged; the next due read tries again
            log.exception("%s failed", self._name)

    def close(self, timeout_s: float = CLOSE_WAIT_S) -> None:
        """No more reads; wait up to `timeout_s` for the one in flight to give its connection
        back."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("%s still running after %.0f s at shutdown", self._name, timeout_s)
