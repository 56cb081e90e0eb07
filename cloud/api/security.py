"""HTTP hardening for every route, as ASGI middleware: security headers, CORS, size limits.

- `SecurityHeaders`: `nosniff`, `Referrer-Policy`, framing refused (`X-Frame-Options` and a
  `frame-ancestors` CSP) on every response that does not bring its own CSP (the finder and
  the ops pages do, and keep theirs); the member page (`/member/…`, which holds the phone's
  device key) gets the same strict policy as those pages: scripts, styles, requests and its
  service worker from this origin only, no inline script or style; HSTS only when
  `behind_https` says the service is reached over HTTPS (HSTS on plain http would lock a
  demo's browser out); `no-store` on the ops API, whose answers are private and change by
  the second.
- `PublicCors`: cross-origin reads for the public read-only routes only (stations, signed
  trust lists), from the origins in `WAYSTATION_CORS_ORIGINS`, without credentials. The ops
  and member routes never answer cross-origin: a browser page on another site cannot read
  them, whatever cookie it holds (the one exception: the wallet module and its enrol, renew
  and clock routes for the union app pages in `WAYSTATION_WALLET_ORIGINS`,
  `cloud.api.walletcors`).
- `SizeLimits`: a global cap on the query string (414) and the request body (413), also for
  bodies without a `Content-Length` (chunked); a NUL character in the path or query is a
  400 (PostgreSQL cannot compare text with one: every lookup would be a 500). The public
  station routes have stricter caps of their own (`cloud.api.ratelimit.PublicLimits`), which
  run inside this one.
- `value_refused`: the exception handler turning a value the database refuses into a 422.
- `hashing_busy`: every password-hashing slot is taken (`cloud.auth.passwords`): 503 with
  Retry-After, at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Final
from urllib.parse import unquote_to_bytes

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.api.ratelimit import json_error
from cloud.auth.passwords import HashingBusyError

log = logging.getLogger(__name__)

MAX_QUERY_BYTES: Final = 8_192  # longest query string on any route
MAX_BODY_BYTES: Final = 65_536  # largest request body on any route (ops JSON, feedback, enrol)
# Routes that take a file: their own cap instead (a registry CSV of ~5,000 stations is ~1 MB).
LARGE_BODY_PATHS: Final = {"/api/v1/ops/stations/import": 4 * 1024 * 1024}
HSTS: Final = "max-age=31536000; includeSubDomains"  # one year
OPS_API_PREFIX: Final = "/api/v1/ops/"
FRAME_CSP: Final = "frame-ancestors 'none'"  # JSON and anything else without its own
MEMBER_PATH: Final = "/member"
# The member page: as the finder's and the ops pages' (cloud.web.finder.page.csp), plus its
# service worker; the QR code is drawn on a canvas.
MEMBER_CSP: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
# Public, read-only, no personal data: the only routes other sites' pages may read.
CORS_PREFIXES: Final = ("/api/v1/stations", "/api/v1/trust/")
CORS_METHODS: Final = "GET, HEAD"
CORS_REQUEST_HEADERS: Final = frozenset({"accept", "accept-language", "if-none-match"})
CORS_MAX_AGE_S: Final = 600  # browsers cache a preflight answer this long
BODY_METHODS: Final = frozenset({"POST", "PUT", "PATCH"})


class SecurityHeaders:
    """Adds the security headers to each response start; never replaces a route's own."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        ops_api = path.startswith(OPS_API_PREFIX)
        member = path == MEMBER_PATH or path.startswith(MEMBER_PATH + "/")
        policy = MEMBER_CSP if member else FRAME_CSP

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if "content-security-policy" not in headers:
                    headers["Content-Security-Policy"] = policy
                    headers.setdefault("X-Frame-Options", "DENY")
                if member:
                    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                if self.https:
                    headers.setdefault("Strict-Transport-Security", HSTS)
                if ops_api:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class PublicCors:
    """CORS for `CORS_PREFIXES` and `origins` only; other requests pass through untouched.

    A preflight (`OPTIONS` with `Access-Control-Request-Method`) on a public route is answered
    here: 204 with the allowed methods for a listed origin asking for GET/HEAD and only
    simple headers, else 403 without CORS headers (the browser then blocks the request).
    `Access-Control-Allow-Credentials` is never sent: cookies stay out of cross-origin reads.
    """

    def __init__(self, app: ASGIApp, *, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.origins
            or not scope["path"].startswith(CORS_PREFIXES)
        ):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        origin = headers.get(b"origin", b"").decode("latin-1")
        asked = headers.get(b"access-control-request-method")
        if scope["method"] == "OPTIONS" and asked is not None:
            await self._preflight(send, origin, asked, headers)
            return
        allowed = origin in self.origins

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")  # caches must not serve one origin's answer
                if allowed:
                    out["Access-Control-Allow-Origin"] = origin
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(
        self, send: Send, origin: str, method: bytes, headers: dict[bytes, bytes]
    ) -> None:
        requested = {
            h.strip().lower()
            for h in headers.get(b"access-control-request-headers", b"")
            .decode("latin-1")
            .split(",")
            if h.strip()
        }
        if origin not in self.origins:
            await json_error(send, 403, "CORS: origin not allowed", [(b"vary", b"Origin")])
            return
        if method.upper() not in (b"GET", b"HEAD"):
            await json_error(send, 403, "CORS: only GET and HEAD", [(b"vary", b"Origin")])
            return
        if not requested <= CORS_REQUEST_HEADERS:
            await json_error(send, 403, "CORS: header not allowed", [(b"vary", b"Origin")])
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-methods", CORS_METHODS.encode()),
                    (b"access-control-allow-headers", ", ".join(sorted(requested)).encode()),
                    (b"access-control-max-age", str(CORS_MAX_AGE_S).encode()),
                    (b"vary", b"Origin"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})


class SizeLimits:
    """414 past `max_query` bytes of query string, 413 past `max_body` bytes of body (or
    the path's own cap in `LARGE_BODY_PATHS`).

    A declared `Content-Length` is judged before the app runs (the server never delivers
    more than it declares). A body without one (chunked, or a POST that declares nothing) is
    read here first, up to the cap, and handed to the app in one piece: a route never sees
    more than `max_body` bytes, and FastAPI would turn an error raised mid-read into a 400.
    """

    def __init__(
        self, app: ASGIApp, *, max_query: int = MAX_QUERY_BYTES, max_body: int = MAX_BODY_BYTES
    ) -> None:
        self.app = app
        self.max_query = max_query
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = scope.get("query_string", b"")
        if len(query) > self.max_query:
            await json_error(send, 414, f"query string longer than {self.max_query} bytes")
            return
        if "\x00" in scope["path"] or b"\x00" in unquote_to_bytes(query):
            # never meaningful, and PostgreSQL refuses NUL in text: it would be a 500 there
            await json_error(send, 400, "NUL character in the URL")
            return
        headers = _headers(scope)
        length = headers.get(b"content-length")
        cap = LARGE_BODY_PATHS.get(scope["path"], self.max_body)
        if length is not None:
            if not length.strip().isdigit():
                await json_error(send, 400, "Content-Length is not a number")
                return
            if int(length) > cap:
                await json_error(send, 413, f"request body over {cap} bytes")
                return
            await self.app(scope, receive, send)
            return
        if b"transfer-encoding" not in headers and scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)  # no body (GET, the SSE stream, …)
            return
        body = await _read_capped(receive, cap)
        if body is None:
            await json_error(send, 413, f"request body over {cap} bytes")
            return
        await self.app(scope, _replay(body, receive), send)


async def _read_capped(receive: Receive, cap: int) -> bytes | None:
    """The whole body, or None as soon as it is longer than `cap` (or the client left)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives `body` once, then waits on the real one (for the disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def value_refused(_request: Request, exc: Exception) -> JSONResponse:
    """The database refused a value the request carried (PostgreSQL: a NUL character in
    text, a number out of range): the client's input, not a server fault, so 422, not 500.
    Routes validate what they know; this catches what slips through (found by fuzzing)."""
    log.info("database refused a value from the request: %s", getattr(exc, "orig", exc))
    return JSONResponse(
        {"detail": "a value cannot be stored (a NUL character, or a number out of range)"},
        status_code=422,
    )


async def hashing_busy(_request: Request, exc: Exception) -> JSONResponse:
    """Every password-hashing slot of this process is taken: 503 at once, not a queue."""
    retry = getattr(exc, "retry_after", HashingBusyError.retry_after)
    return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(retry)})


def _headers(scope: Scope) -> dict[bytes, bytes]:
    """Request headers by lower-case name (the last one wins; ASGI names are lower-case)."""
    return dict(scope.get("headers", []))
