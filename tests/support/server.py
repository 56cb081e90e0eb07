"""An ASGI app under a real uvicorn on loopback, in a thread, for tests that speak HTTP.

One place for what six test modules did by hand: pick a free port, start uvicorn in a daemon
thread, wait until it listens (or its thread died), and on exit ask it to stop and join it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from tests.support.wait import wait_for
from waystation.mosquitto import free_port

START_TIMEOUT_S = 20.0  # a loaded CI runner has taken >10 s to import and start an app


@contextmanager
def uvicorn_thread(app: Any, **options: Any) -> Iterator[int]:
    """Serve `app` on 127.0.0.1 (uvicorn `options` on top of log_level="warning"); the port."""
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **{"log_level": "warning", **options})
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    wait_for(lambda: server.started or not thread.is_alive(), START_TIMEOUT_S, "uvicorn to start")
    assert server.started, "uvicorn did not start (its thread ended)"
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(10)
