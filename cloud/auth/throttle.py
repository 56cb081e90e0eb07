"""Login throttling per username and client IP, kept in the database so every API replica
sees the same count.

After `FREE_FAILURES` failed attempts within `WINDOW`, each further failure locks the pair
for an exponentially growing time (15 s, 30 s, 60 s … up to 15 min); a locked pair gets 429
with Retry-After even for the right password. Unknown usernames are counted the same way,
so throttling tells nothing about which accounts exist. A success clears the count.
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
BASE_LOCK = timedelta(seconds=15)
MAX_LOCK = timedelta(minutes=15)
WINDOW = timedelta(hours=1)  # a failure older than this starts the count afresh


def key(username: str, ip: str | None) -> str:
    return tokens.digest(f"{username}\n{ip or '-'}")


def retry_after(s: Session, k: str, *, now: datetime) -> int | None:
    """Seconds until `k` may try again, or None when it may try now."""
    row = s.get(LoginThrottle, k)
    if row is None or row.locked_until is None or row.locked_until <= now:
        return None
    return max(1, math.ceil((row.locked_until - now).total_seconds()))


def lock_for(failures: int) -> timedelta | None:
    if failures < FREE_FAILURES:
        return None
    return min(BASE_LOCK * 2 ** (failures - FREE_FAILURES), MAX_LOCK)


def record_failure(engine: Engine, k: str, *, now: datetime) -> None:
    """Count one failure in its own transaction. When two replicas record the first failure
    of a pair at once, the loser of the insert retries as an update."""
    for attempt in range(2):
        with Session(engine) as s:
            row = s.get(LoginThrottle, k)
            if row is None:
                row = LoginThrottle(key=k, failures=0, last_failure_at=now)
            elif now - row.last_failure_at > WINDOW:
                row.failures = 0
            row.failures += 1
            row.last_failure_at = now
            lock = lock_for(row.failures)
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
