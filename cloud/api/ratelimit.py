"""Per-client token buckets and request size limits, as ASGI middleware.

- `PublicLimits`: rate and size limits for the public station API.
- `AuthLimits`: a rate limit per client address on the routes that do expensive work for
  anonymous callers (password login: one Argon2 hash each; member enrolment and certificate
  renewal: a signature check and a signature), checked before the route reads its body. The
  per-username login lock-out lives in the database (`cloud.auth.throttle`); this one caps
  the work one address can cause, whatever names it tries.

The client is `scope["client"]`: the peer address, or the forwarded one only when the server
trusts the proxy it came through (`WAYSTATION_FORWARDED_ALLOW_IPS`, `cloud serve
--forwarded-allow-ips`; by default nobody, so an `X-Forwarded-For` header changes nothing).
Clients are counted by `cloud.client_address.address_key`: an IPv6 client by its /64. A
client over its budget gets 429 with `Retry-After` (whole seconds until a token is back). The
state lives in this process: with N replicas behind a balancer a client gets up to N× the
rate, which is fine for abuse control (a shared limit would need Redis or the like).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

from cloud.client_address import address_key

log = logging.getLogger(__name__)

# Clients remembered at once; the least recently seen is forgotten first (and so starts again
# with a full bucket). 100,000 × ~150 bytes ≈ 15 MB.
MAX_CLIENTS = 100_000
# Longest query string accepted, bytes: a nearby query with every amenity repeated is ~400.
MAX_QUERY_BYTES = 2_048
# Largest request body on the public (read-only, GET) routes, bytes.
MAX_BODY_BYTES = 1_024
# Anonymous POST routes that cost real work per call (AuthLimits).
LOGIN_PATH: Final = "/api/v1/ops/auth/login"
ENROL_PATH: Final = "/api/v1/members/enroll"
RENEW_PATH: Final = "/api/v1/members/renew"
AUTH_PATHS: Final = (LOGIN_PATH, ENROL_PATH, RENEW_PATH)
FORWARDING_HEADERS: Final = (b"forwarded", b"x-forwarded-for", b"x-real-ip")


@dataclass(slots=True)
class Bucket:
    tokens: float
    at: float  # monotonic seconds of the last update


class TokenBuckets:
    """`rate` tokens per second up to `burst`; one bucket per key."""

    def __init__(
        self, rate: float, burst: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """Spend one token: 0.0 if allowed, else seconds until one is available."""
        now = self._clock()
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            bucket = Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        self._buckets[key] = bucket
        if len(self._buckets) > MAX_CLIENTS:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


class PublicLimits:
    """Rate and size limits for paths under `prefix`; everything else passes untouched."""

    def __init__(self, app: ASGIApp, *, buckets: TokenBuckets, prefix: str) -> None:
        self.app = app
        self.buckets = buckets
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        if len(scope.get("query_string", b"")) > MAX_QUERY_BYTES:
            await json_error(send, 414, f"query string longer than {MAX_QUERY_BYTES} bytes")
            return
        length = dict(scope.get("headers", [])).get(b"content-length", b"0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            await json_error(send, 413, f"request body over {MAX_BODY_BYTES} bytes")
            return
        client = scope.get("client")
        wait = self.buckets.take(address_key(client[0] if client else None))
        if wait > 0:
            await too_many(send, wait, "too many requests")
            return
        await self.app(scope, receive, send)


class AuthLimits:
    """A token bucket per client address and route for POSTs to `paths` (exact paths), so
    one address cannot make the server hash passwords or sign certificates without end.

    `proxies_trusted` says whether the server was told to trust a proxy's X-Forwarded-For;
    when it was not and requests carry one, every client may be arriving through an
    unconfigured proxy and sharing its address (and its budget): that is logged once."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        buckets: TokenBuckets,
        paths: Iterable[str] = AUTH_PATHS,
        proxies_trusted: bool = False,
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.paths = frozenset(paths)
        self.proxies_trusted = proxies_trusted
        self._warned = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        if not self.proxies_trusted and not self._warned:
            self._check_forwarding(scope)
        client = scope.get("client")
        wait = self.buckets.take(f"{scope['path']} {address_key(client[0] if client else None)}")
        if wait > 0:
            await too_many(send, wait, "too many attempts from this address; try again later")
            return
        await self.app(scope, receive, send)

    def _check_forwarding(self, scope: Scope) -> None:
        names = {name for name, _ in scope.get("headers", [])}
        if any(h in names for h in FORWARDING_HEADERS):
            self._warned = True
            log.warning(
                "requests arrive with forwarding headers but no proxy is trusted "
                "(WAYSTATION_FORWARDED_ALLOW_IPS): if a proxy is in front, every client "
                "has its address and shares its login and rate limits"
            )


async def too_many(send: Send, wait: float, detail: str) -> None:
    """429 with Retry-After: whole seconds until a token is back."""
    retry = str(max(1, math.ceil(wait)))
    await json_error(send, 429, detail, [(b"retry-after", retry.encode())])


async def json_error(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """Answer `{"detail": …}` with `status`, as FastAPI's HTTPException would."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
