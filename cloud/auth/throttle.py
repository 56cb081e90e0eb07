"""Login throttling per username and client address, and per client address alone, kept
in the database so every API replica sees the same count.

After `FREE_FAILURES` failed attempts within `WINDOW`, each further failure locks the pair
for an exponentially growing time (15 s, 30 s, 60 s … up to 15 min); a locked pair gets 429
with Retry-After even for the right password. Unknown usernames are counted the same way,
so throttling tells nothing about which accounts exist. A success clears the pair's count.

The address alone has a count of its own (password spraying: one or two guesses at each of
many usernames never reaches a pair's limit): after `ADDRESS_FREE_FAILURES` failures within
`WINDOW` the address is locked the same way, for every username. A success does not clear
it, or one valid account would let its holder spray the others without end. Addresses are
`cloud.client_address.address_key`s: an IPv6 client counts by its /64, which one subscriber
usually holds whole. The address is the peer's unless the server trusts a proxy
(`WAYSTATION_FORWARDED_ALLOW_IPS`); a rotated X-Forwarded-For changes nothing here.

Both are rows of `login_throttle`, keyed by SHA-256 (of `username\naddress` for a pair, of
`address:` + the address alone), so no schema change was needed for the second.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from cloud.auth import tokens
from cloud.auth.models import LoginThrottle

FREE_FAILURES = 5
# Failures from one address, any usernames, before it is locked: a shared office or NAT
# address with a few people mistyping stays well below, 60 sprayed usernames do not.
ADDRESS_FREE_FAILURES = 20
BASE_LOCK = timedelta(seconds=15)
MAX_LOCK = timedelta(minutes=15)
WINDOW = timedelta(hours=1)  # a failure older than this starts the count afresh


def key(username: str, ip: str | None) -> str:
    return tokens.digest(f"{username}\n{ip or '-'}")


def address_key(ip: str | None) -> str:
    """The key of an address's own count (no newline: never equal to a pair's)."""
    return tokens.digest(f"address:{ip or '-'}")


def retry_after(s: Session, k: str, *, now: datetime) -> int | None:
    """Seconds until `k` may try again, or None when it may try now."""
    row = s.get(LoginThrottle, k)
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return max(1, math.ceil((row.locked_until - now).total_seconds()))


def lock_for(failures: int, free: int = FREE_FAILURES) -> timedelta | None:
    if failures < free:
        return None
    return min(BASE_LOCK * 2 ** min(failures - free, 16), MAX_LOCK)


def record_failure(engine: Engine, k: str, *, now: datetime, free: int = FREE_FAILURES) -> None:
    """Count one failure in its own transaction; `free` failures pass before the first lock.
    When two replicas record the first failure of a key at once, the loser of the insert
    retries as an update."""
    for attempt in range(2):
        with Session(engine) as s:
            row = s.get(LoginThrottle, k)
            if row is None:
                row = LoginThrottle(key=k, failures=0, last_failure_at=now)
            elif now - row.last_failure_at > WINDOW:
                row.failures = 0
            row.failures += 1
            row.last_failure_at = now
            lock = lock_for(row.failures, free)
            row.locked_until = now + lock if lock else None
            s.add(row)
            try:
                s.commit()
                return
            except IntegrityError:
                if attempt:
                    raise


def clear(s: Session, k: str) -> None:
    row = s.get(LoginThrottle, k)
    if row is not None:
        s.delete(row)
        s.flush()
