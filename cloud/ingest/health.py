"""`/healthz` of one ingest worker, served with its Prometheus metrics on `--metrics-port`.

A worker can look alive (the process runs) and do nothing: paho reconnecting to a broker that
is away, or the writer thread dead of a bug while paho keeps filling the queue. `/healthz`
answers 503 in both cases, so an orchestrator restarts the worker or a probe pages someone;
the body says what it sees, and how far behind the worker is (`lag_s`), which a slow or
unreachable database shows long before anything dies. Every other path is the metrics.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from pydantic import BaseModel, Field

HEALTH_PATH = "/healthz"


class IngestHealth(BaseModel):
    """What `/healthz` answers; `ok` decides 200 or 503."""

    client_id: str = Field(description="the worker's MQTT client id")
    connected: bool = Field(description="connected to the broker and subscribed")
    writer_alive: bool = Field(description="the thread that writes batches is running")
    lag_s: float = Field(
        description="age of the oldest message received and not yet committed, seconds "
        "(0: nothing waits); grows while the database is slow or away"
    )
    queue: int = Field(description="messages received, not yet in a batch")
    pending: int = Field(description="messages in the batch being written")
    dropped: int = Field(description="messages dropped since start (queue full; edges re-send)")

    @property
    def failing(self) -> list[str]:
        return [name for name in ("connected", "writer_alive") if not getattr(self, name)]

    @property
    def ok(self) -> bool:
        return not self.failing

    def body(self) -> bytes:
        status = {"status": "ok" if self.ok else "error", "failing": self.failing}
        return json.dumps(status | self.model_dump()).encode()


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a hung scrape never holds the process at exit


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds: no line each."""


def app(registry: CollectorRegistry, health: Callable[[], IngestHealth]) -> Callable[..., Any]:
    """WSGI app: `/healthz` from `health()`, anything else the metrics of `registry`."""
    metrics = make_wsgi_app(registry)

    def dispatch(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != HEALTH_PATH:
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        now = health()
        body = now.body()
        status = "200 OK" if now.ok else "503 Service Unavailable"
        headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        start_response(status, headers)
        return [body]

    return dispatch


def serve(
    registry: CollectorRegistry,
    health: Callable[[], IngestHealth],
    port: int,
    addr: str = "0.0.0.0",  # noqa: S104 - scraped and probed by ops
) -> WSGIServer:
    """Serve metrics and `/healthz` on `addr:port` from a daemon thread; `shutdown()` stops.
    OSError when the port is taken."""
    server_class = _Server6 if ":" in addr else _Server
    server = make_server(addr, port, app(registry, health), server_class, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="ingest-metrics", daemon=True).start()
    return server
