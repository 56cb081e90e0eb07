"""`cloud.httpcork`: a response's writes leave as one, unchanged, and uvicorn still serves
keep-alive, HEAD, streamed bodies and `Connection: close` on it."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cloud.httpcork import CorkedHttpToolsProtocol, CorkedTransport
from tests.support.server import uvicorn_thread
from waystation.cli.cloud import http_protocol


class FakeTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = self.aborted = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed or self.aborted

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> Any:
        return f"extra:{name}"


def test_writes_of_one_loop_turn_leave_as_one_in_order() -> None:
    async def scenario() -> None:
        fake = FakeTransport()
        corked = CorkedTransport(fake, asyncio.get_running_loop())  # type: ignore[arg-type]
        corked.write(b"HTTP/1.1 200 OK\r\n\r\n")
        corked.writelines([b"{", memoryview(b'"a":1'), bytearray(b"}")])
        corked.write(b"")
        assert fake.writes == []  # nothing leaves before the turn ends
        assert corked.get_write_buffer_size() == 26
        await asyncio.sleep(0)
        assert fake.writes == [b'HTTP/1.1 200 OK\r\n\r\n{"a":1}']
        corked.write(b"next")
        corked.close()  # what is pending goes first
        assert fake.writes[1:] == [b"next"]
        assert fake.closed
        corked.write(b"late")
        await asyncio.sleep(0)
        assert fake.writes[2:] == []  # the transport is closing: dropped, as uvloop would
        aborted = FakeTransport()
        corked = CorkedTransport(aborted, asyncio.get_running_loop())  # type: ignore[arg-type]
        corked.write(b"lost")
        corked.abort()
        await asyncio.sleep(0)
        assert (aborted.writes, aborted.aborted) == ([], True)
        assert corked.get_extra_info("peername") == "extra:peername"  # the rest is delegated

    asyncio.run(scenario())


async def _json(request: Request) -> Response:
    return JSONResponse({"path": request.url.path, "q": request.query_params.get("q")})


async def _stream(_request: Request) -> Response:
    async def chunks() -> Any:
        for i in range(3):
            yield f"chunk{i};".encode()
            await asyncio.sleep(0.01)

    return StreamingResponse(chunks(), media_type="text/plain")


@pytest.fixture
def server() -> Iterator[int]:
    app = Starlette(routes=[Route("/j", _json, methods=["GET", "HEAD"]), Route("/s", _stream)])
    with uvicorn_thread(app, http=CorkedHttpToolsProtocol) as port:
        yield port


def _read_response(sock: socket.socket, buf: bytearray) -> tuple[bytes, bytes]:
    """(head, body) of the next response; `buf` keeps bytes read past it."""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        assert data, "connection closed early"
        buf += data
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    buf[:] = rest
    lower = head.lower()
    if b"transfer-encoding: chunked" in lower:
        while b"0\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        body, _, rest = bytes(buf).partition(b"0\r\n\r\n")
        buf[:] = rest
        return head, body
    length = int(lower.split(b"content-length:")[1].split(b"\r\n")[0])
    while len(buf) < length:
        buf += sock.recv(65536)
    body = bytes(buf[:length])
    buf[:] = buf[length:]
    return head, body


@pytest.mark.usefixtures("library_classes")
def test_uvicorn_serves_keep_alive_head_streams_and_close_on_it(server: int) -> None:
    with socket.create_connection(("127.0.0.1", server), timeout=10) as sock:
        buf = bytearray()
        for q in ("a", "b"):
            sock.sendall(f"GET /j?q={q} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            head, body = _read_response(sock, buf)
            assert head.startswith(b"HTTP/1.1 200")
            assert body == f'{{"path":"/j","q":"{q}"}}'.encode()
        sock.sendall(b"HEAD /j HTTP/1.1\r\nHost: t\r\n\r\n")
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, _, rest = bytes(buf).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"content-length: 22" in head.lower()  # {"path":"/j","q":null}, not sent
        buf[:] = rest
        sock.sendall(b"GET /s HTTP/1.1\r\nHost: t\r\n\r\n")
        head, body = _read_response(sock, buf)
        assert head.startswith(b"HTTP/1.1 200")  # right after HEAD's head: no body came
        assert b"chunk0;" in body
        assert b"chunk2;" in body
        sock.sendall(b"GET /j?q=z HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        head, body = _read_response(sock, buf)
        assert body == b'{"path":"/j","q":"z"}'
        assert b"connection: close" in head.lower()
        assert sock.recv(65536) == b""  # the server closed after sending everything


def test_serve_uses_the_corked_protocol() -> None:
    assert http_protocol() is CorkedHttpToolsProtocol
