"""Cross-origin access for the wallet module embedded in a union app's own page.

A union's H5 page (in its app's WebView or a mini-program `web-view`) usually lives on the
union's domain, not the service's. For the origins in `WAYSTATION_WALLET_ORIGINS` only, this
middleware lets such a page load the module (`/static/wallet/v1/…`: module scripts are
fetched in CORS mode) and call the three routes the wallet uses: `POST
/api/v1/members/enroll`, `POST /api/v1/members/renew`, `GET /api/v1/members/clock`. None of
them uses cookies or any ambient authority (each carries its own proof: a one-time code, a
device-key signature), and `Access-Control-Allow-Credentials` is never sent, so the listed
pages can do nothing a script without a browser could not. Everything else stays
same-origin (`cloud.api.security.PublicCors` covers the public station API separately).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.api.ratelimit import json_error

MODULE_PREFIX: Final = "/static/wallet/"
# path → the one method the wallet uses on it
ROUTES: Final = {
    "/api/v1/members/enroll": b"POST",
    "/api/v1/members/renew": b"POST",
    "/api/v1/members/clock": b"GET",
}
ALLOWED_HEADERS: Final = frozenset({"content-type"})
MAX_AGE_S: Final = 600  # browsers cache a preflight answer this long


def _method_for(path: str) -> bytes | None:
    if path.startswith(MODULE_PREFIX):
        return b"GET"
    return ROUTES.get(path)


class WalletCors:
    """CORS for the wallet's module and routes, from `origins` only; others pass untouched."""

    def __init__(self, app: ASGIApp, *, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method = _method_for(scope["path"]) if scope["type"] == "http" else None
        if method is None or not self.origins:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", []))
        origin = headers.get(b"origin", b"").decode("latin-1")
        asked = headers.get(b"access-control-request-method")
        if scope["method"] == "OPTIONS" and asked is not None:
            requested = {
                h.strip().lower()
                for h in headers.get(b"access-control-request-headers", b"")
                .decode("latin-1")
                .split(",")
                if h.strip()
            }
            await self._preflight(send, origin, asked.upper() == method, requested)
            return
        allowed = origin in self.origins

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                if allowed:
                    out["Access-Control-Allow-Origin"] = origin
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(self, send: Send, origin: str, method_ok: bool, asked: set[str]) -> None:
        vary = [(b"vary", b"Origin")]
        if origin not in self.origins:
            await json_error(send, 403, "CORS: origin not allowed for the wallet", vary)
            return
        if not method_ok or not asked <= ALLOWED_HEADERS:
            await json_error(send, 403, "CORS: method or header not allowed here", vary)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 204,
                "headers": [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-allow-methods", b"GET, POST"),
                    (b"access-control-allow-headers", b"content-type"),
                    (b"access-control-max-age", str(MAX_AGE_S).encode()),
                    *vary,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b""})
