"""Per-client token buckets and request size limits for the public API, as ASGI middleware.

The client is `scope["client"]`: the peer address, or the forwarded one when uvicorn runs
with `--proxy-headers --forwarded-allow-ips=<the proxy>`. A client over its budget gets 429
with `Retry-After` (whole seconds until a token is back). The state lives in this process:
with N replicas behind a balancer a client gets up to N× the rate, which is fine for abuse
control (a shared limit would need Redis or the like).
"""

from __future__ import annotations

import json
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Receive, Scope, Send

# Clients remembered at once; the least recently seen is forgotten first (and so starts again
# with a full bucket). 100,000 × ~150 bytes ≈ 15 MB.
MAX_CLIENTS = 100_000
# Longest query string accepted, bytes: a nearby query with every amenity repeated is ~400.
MAX_QUERY_BYTES = 2_048
# Largest request body on the public (read-only, GET) routes, bytes.
MAX_BODY_BYTES = 1_024


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
        wait = self.buckets.take(client[0] if client else "unknown")
        if wait > 0:
            retry = str(max(1, math.ceil(wait)))
            await json_error(send, 429, "too many requests", [(b"retry-after", retry.encode())])
            return
        await self.app(scope, receive, send)


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
