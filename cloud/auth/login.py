"""Password login: throttled, without user enumeration, rehashing on parameter change.

An unknown username, a disabled account and a wrong password all get the same refusal
after the same work (one Argon2 verification), and all count towards the throttle: per
username and client address, and per client address alone (password spraying: one wrong
password for each of many usernames). Both locks are checked before any hashing. When every
hashing slot of the process is taken the attempt is refused at once
(`passwords.HashingBusyError`) and counts as nothing: no password was checked.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from cloud.auth import passwords, sessions, throttle
from cloud.auth.auditlog import audit
from cloud.auth.models import USERNAME_PATTERN, OpsUser
from cloud.auth.roles import Principal, Role
from cloud.client_address import address_key

log = logging.getLogger(__name__)


class LoginRefusedError(Exception):
    """Wrong username or password (deliberately not saying which)."""


class LoginThrottledError(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed logins; retry in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class LoggedIn:
    principal: Principal
    session: sessions.OpenedSession


def login(
    engine: Engine,
    username: str,
    password: str,
    *,
    now: datetime,
    ip: str | None,
    user_agent: str | None,
    idle: timedelta,
    max_age: timedelta,
) -> LoggedIn:
    """Check the password and open a session (committed), or raise LoginRefusedError /
    LoginThrottledError (or passwords.HashingBusyError)."""
    import re

    name = username.strip().lower()[:64]
    where = address_key(ip)
    k = throttle.key(name, where)
    by_address = throttle.address_key(where)
    with Session(engine, expire_on_commit=False) as s:
        waits = [throttle.retry_after(s, key, now=now) for key in (by_address, k)]
        wait = max((w for w in waits if w is not None), default=None)
        if wait is not None:
            raise LoginThrottledError(wait)
        user = s.get(OpsUser, name) if re.fullmatch(USERNAME_PATTERN, name) else None
        if user is None or len(password) > passwords.MAX_LENGTH:
            passwords.burn(password[: passwords.MAX_LENGTH])
            ok = False
        else:
            ok = passwords.verify_password(user.password_hash, password) and not user.disabled
        if not ok or user is None:
            s.rollback()
        else:
            if passwords.needs_rehash(user.password_hash):
                # optional work: with every slot taken it waits for the next login
                user.password_hash = passwords.try_hash_password(password) or user.password_hash
            user.last_login_at = now
            s.add(user)
            throttle.clear(s, k)  # the address's own count stays: see cloud.auth.throttle
            sessions.purge_expired(s, now=now, idle=idle)
            opened = sessions.open_session(
                s, user, now=now, max_age=max_age, ip=ip, user_agent=user_agent
            )
            principal = Principal(user.username, Role(user.role), "session", ip)
            audit(s, principal, "auth.login", user.username, {}, at=now)
            s.commit()
            return LoggedIn(principal, opened)
    throttle.record_failure(engine, k, now=now)
    throttle.record_failure(engine, by_address, now=now, free=throttle.ADDRESS_FREE_FAILURES)
    log.info("failed ops login from %s", ip or "?")
    raise LoginRefusedError("wrong username or password")
