"""uvicorn's httptools protocol with the writes of one event-loop turn sent as one.

uvicorn writes a response's status line and headers, then its body, as two `transport.write`
calls; uvloop sends each at once, so a small JSON answer costs two `send` syscalls, two TCP
segments and, over loopback, two wake-ups of the reader. On the nearby search uvicorn's
send was 19 % of a worker's py-spy samples, 10 % with this. Here the connection's transport
is wrapped so that writes made in one turn of the loop are joined and handed to the real
transport at the end of the turn (`call_soon`): same bytes, same order, one send; `close()`
sends what is pending first. Passed to uvicorn as `Config(http=CorkedHttpToolsProtocol)`,
its documented hook.

The protocol subclasses uvicorn internals, written against uvicorn 0.55 (`UVICORN_TESTED`): on
another version, or with `WAYSTATION_STOCK_CLASSES=1` (`cloud.forks`), each connection is
served by the stock `HttpToolsProtocol` as it is, its transport not wrapped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cloud import forks

UVICORN_TESTED = "0.55"  # the uvicorn major.minor CorkedHttpToolsProtocol was written for


class CorkedTransport:
    """A transport whose `write`s in one loop turn go out as one; the rest is delegated."""

    __slots__ = ("_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        """Hand what is pending to the real transport (a no-op when nothing is)."""
        if not self._pending:
            return
        data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending = []
        if not self._transport.is_closing():
            self._transport.write(data)

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending = []
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def corked() -> bool:
    """Whether connections get the `CorkedTransport` (checked per connection: cheap next to
    accepting one, and a test can flip the switch for one server)."""
    return forks.use_fork("CorkedHttpToolsProtocol", "uvicorn", uvicorn.__version__, UVICORN_TESTED)


class CorkedHttpToolsProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` on a `CorkedTransport`; the stock protocol unless `corked()`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if not corked():
            super().connection_made(transport)
            return
        super().connection_made(CorkedTransport(transport, self.loop))  # type: ignore[arg-type]
