"""`cloud.auth.sessions`: sessions and API tokens resolved with both expiries and the
account's state checked on every request; only digests stored; expired sessions deleted."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Connection
from sqlmodel import Session, select

from cloud.auth import sessions, tokens
from cloud.auth.models import ApiToken, OpsSession, OpsUser

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
IDLE = timedelta(minutes=30)
MAX_AGE = timedelta(hours=8)


@pytest.fixture
def s(db: Connection) -> Iterator[Session]:
    """A session inside the test's rolled-back transaction."""
    with Session(bind=db, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def user(s: Session) -> OpsUser:
    account = OpsUser(username="li", role="operator", password_hash="x", created_at=T0)
    s.add(account)
    s.flush()
    return account


def open_session(s: Session, user: OpsUser, **kw: object) -> sessions.OpenedSession:
    args: dict[str, object] = {"now": T0, "max_age": MAX_AGE, "ip": "10.0.0.1", "user_agent": "ua"}
    return sessions.open_session(s, user, **(args | kw))  # type: ignore[arg-type]


def test_a_session_stores_only_the_cookies_digest(s: Session, user: OpsUser) -> None:
    opened = open_session(s, user, ip="1" * 100, user_agent="u" * 300)
    assert opened.expires_at == T0 + MAX_AGE
    assert opened.csrf_token != opened.cookie
    (row,) = s.exec(select(OpsSession)).all()
    assert row.id_hash == tokens.digest(opened.cookie)
    assert opened.cookie not in (row.id_hash, row.csrf_token)
    assert (len(row.ip or ""), len(row.user_agent or "")) == (64, 255)  # cut to the columns


def test_a_live_session_resolves_and_is_touched_at_most_once_a_minute(
    s: Session, user: OpsUser
) -> None:
    opened = open_session(s, user)
    found = sessions.resolve_session(s, opened.cookie, now=T0 + timedelta(seconds=30), idle=IDLE)
    assert found is not None
    assert found[0].username == "li"
    assert found[1].last_seen_at == T0  # under TOUCH_EVERY: no write
    later = T0 + sessions.TOUCH_EVERY
    found = sessions.resolve_session(s, opened.cookie, now=later, idle=IDLE)
    assert found is not None
    assert found[1].last_seen_at == later


def test_activity_keeps_a_session_alive_past_the_idle_limit_but_not_past_max_age(
    s: Session, user: OpsUser
) -> None:
    opened = open_session(s, user)
    now = T0
    while now + IDLE - timedelta(minutes=1) < T0 + MAX_AGE:
        now += IDLE - timedelta(minutes=1)
        assert sessions.resolve_session(s, opened.cookie, now=now, idle=IDLE) is not None
    assert sessions.resolve_session(s, opened.cookie, now=T0 + MAX_AGE, idle=IDLE) is None
    assert s.exec(select(OpsSession)).all() == []  # deleted on sight


def test_an_idle_session_ends_and_is_deleted(s: Session, user: OpsUser) -> None:
    opened = open_session(s, user)
    assert sessions.resolve_session(s, opened.cookie, now=T0 + IDLE, idle=IDLE) is None
    assert s.exec(select(OpsSession)).all() == []


@pytest.mark.parametrize("cookie", ["", "x" * 129, "not-a-cookie"])
def test_a_bad_cookie_resolves_to_nothing(s: Session, user: OpsUser, cookie: str) -> None:
    open_session(s, user)
    assert sessions.resolve_session(s, cookie, now=T0, idle=IDLE) is None


def test_a_disabled_user_loses_the_session_at_once(s: Session, user: OpsUser) -> None:
    opened = open_session(s, user)
    user.disabled = True
    s.add(user)
    s.flush()
    assert sessions.resolve_session(s, opened.cookie, now=T0, idle=IDLE) is None


def test_logout_and_purge(s: Session, user: OpsUser) -> None:
    gone = open_session(s, user)
    stale = open_session(s, user, now=T0 - timedelta(hours=1))  # idle for an hour
    live = open_session(s, user)
    sessions.close_session(s, tokens.digest(gone.cookie))
    assert sessions.resolve_session(s, gone.cookie, now=T0, idle=IDLE) is None
    assert sessions.purge_expired(s, now=T0, idle=IDLE) == 1
    assert [r.id_hash for r in s.exec(select(OpsSession)).all()] == [tokens.digest(live.cookie)]
    assert stale.cookie != live.cookie


def add_token(s: Session, user: OpsUser, **fields: object) -> str:
    token = tokens.new_api_token()
    s.add(
        ApiToken(
            token_hash=tokens.digest(token),
            name="ci",
            username=user.username,
            created_at=T0,
            **fields,
        )
    )
    s.flush()
    return token


def last_used(s: Session) -> datetime | None:
    s.expire_all()
    return s.exec(select(ApiToken)).one().last_used_at


def test_a_live_token_resolves_and_notes_its_use_at_most_once_a_minute(
    s: Session, user: OpsUser
) -> None:
    token = add_token(s, user)
    found = sessions.resolve_token(s, token, now=T0)
    assert found is not None
    assert found.username == "li"
    assert last_used(s) == T0
    sessions.resolve_token(s, token, now=T0 + timedelta(seconds=59))
    assert last_used(s) == T0
    sessions.resolve_token(s, token, now=T0 + timedelta(seconds=60))
    assert last_used(s) == T0 + timedelta(seconds=60)


def test_revoked_expired_or_foreign_tokens_resolve_to_nothing(s: Session, user: OpsUser) -> None:
    revoked = add_token(s, user, revoked_at=T0)
    expiring = add_token(s, user, expires_at=T0 + timedelta(days=1))
    assert sessions.resolve_token(s, revoked, now=T0) is None
    assert sessions.resolve_token(s, expiring, now=T0) is not None
    assert sessions.resolve_token(s, expiring, now=T0 + timedelta(days=1)) is None
    assert sessions.resolve_token(s, tokens.new_api_token(), now=T0) is None  # unknown
    assert sessions.resolve_token(s, "Bearer " + expiring, now=T0) is None  # no prefix
    assert sessions.resolve_token(s, tokens.TOKEN_PREFIX + "x" * 200, now=T0) is None


def test_a_disabled_users_tokens_stop_at_once(s: Session, user: OpsUser) -> None:
    token = add_token(s, user)
    user.disabled = True
    s.add(user)
    s.flush()
    assert sessions.resolve_token(s, token, now=T0) is None
