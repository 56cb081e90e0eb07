"""Managing notifications: channels, routing rules and digests (create, list, change, delete),
a test message, and the delivery log. Shared by the ops API and the CLI.

Secrets are write-only: `ChannelView` says whether one is set (`has_secret`), never what it
is; a change that leaves `secret` out keeps the stored one.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import Connection, delete, insert, or_, select, update

from cloud.notify.formats import render
from cloud.notify.models import ATTEMPT, CHANNEL, DELIVERY, DIGEST, EVENT, RULE
from cloud.notify.poller import add_event
from cloud.notify.routing import parse_hhmm

Kind = Literal["webhook", "wecom", "dingtalk", "feishu", "email"]
Severity = Literal["warning", "critical"]
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")


class NotifyError(ValueError):
    """A refused change (unknown channel, a name in use); the API answers 404/409 with it."""


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    kind: Kind
    target: str = Field(
        min_length=1, max_length=2000, description="URL, or e-mail addresses comma-separated"
    )
    secret: str = Field(default="", max_length=200, description="write-only signing key")
    tz: str = Field(default="Asia/Shanghai", max_length=64)
    quiet_start: str | None = Field(default=None, description="HH:MM local, with quiet_end")
    quiet_end: str | None = None
    quiet_bypass_critical: bool = True
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    enabled: bool = True

    @field_validator("tz")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (KeyError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("quiet_start", "quiet_end")
    @classmethod
    def _hhmm(cls, value: str | None) -> str | None:
        return None if value in (None, "") else parse_hhmm(value)

    @model_validator(mode="after")
    def _target(self) -> ChannelIn:
        if (self.quiet_start is None) != (self.quiet_end is None):
            raise ValueError("quiet hours need both quiet_start and quiet_end")
        if self.kind == "email":
            bad = [a for a in self.target.split(",") if not _EMAIL.match(a.strip())]
            if bad:
                raise ValueError(f"not an e-mail address: {bad[0].strip()!r}")
        elif not self.target.startswith(("http://", "https://")):
            raise ValueError("the target of a webhook or robot is an http(s):// URL")
        return self


class ChannelView(BaseModel):
    id: int
    name: str
    kind: str
    target: str = Field(description="a URL's key parts are cut (write-only, like `secret`)")
    has_secret: bool
    tz: str
    quiet_start: str | None
    quiet_end: str | None
    quiet_bypass_critical: bool
    timeout_s: float
    enabled: bool


class RuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    channel_id: int = Field(ge=1)
    min_severity: Severity = "warning"
    rules: list[str] = Field(default_factory=list, max_length=50)
    cities: list[str] = Field(default_factory=list, max_length=50)
    operators: list[str] = Field(default_factory=list, max_length=50)
    stations: list[str] = Field(default_factory=list, max_length=500)
    notify_clear: bool = True
    escalate_after_min: float | None = Field(default=None, gt=0, le=7 * 24 * 60)
    escalate_channel_id: int | None = Field(default=None, ge=1)
    enabled: bool = True

    @model_validator(mode="after")
    def _escalation(self) -> RuleIn:
        if (self.escalate_after_min is None) != (self.escalate_channel_id is None):
            raise ValueError("escalation needs both escalate_after_min and escalate_channel_id")
        return self


class RuleView(RuleIn):
    id: int


class DigestIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80)
    channel_id: int = Field(ge=1)
    city: str | None = Field(default=None, max_length=60)
    operator: str | None = Field(default=None, max_length=120)
    hour: int = Field(default=8, ge=0, le=23, description="local hour (the channel's zone)")
    enabled: bool = True


class DigestView(DigestIn):
    id: int


class AttemptView(BaseModel):
    at: datetime
    ok: bool
    status: int | None
    error: str | None
    ms: float


class DeliveryView(BaseModel):
    id: int
    event_id: int
    kind: str
    title: str
    alarm_id: int | None
    channel_id: int
    channel: str | None
    status: str
    attempts: int
    next_at: datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    tries: list[AttemptView] = Field(default_factory=list)


def redact_url(url: str) -> str:
    """A robot's URL carries its key (企业微信 `key=`, 钉钉 `access_token=`, 飞书 the last path
    segment): shown with query values and the last segment cut to 4 characters."""
    parts = urlsplit(url)
    head, _, last = parts.path.rpartition("/")
    path = f"{head}/{last[:4]}…" if len(last) > 4 else parts.path
    query = "&".join(
        f"{k}={v[:4]}…" if len(v) > 4 else f"{k}={v}" for k, v in parse_qsl(parts.query)
    )
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def _channel_view(row: Any) -> ChannelView:
    fields = {k: getattr(row, k) for k in ChannelView.model_fields if k != "has_secret"}
    if row.kind != "email":
        fields["target"] = redact_url(row.target)
    return ChannelView(**fields, has_secret=bool(row.secret))


def channels(conn: Connection) -> list[ChannelView]:
    return [_channel_view(r) for r in conn.execute(select(CHANNEL).order_by(CHANNEL.c.id))]


def channel(conn: Connection, channel_id: int) -> ChannelView:
    row = conn.execute(select(CHANNEL).where(CHANNEL.c.id == channel_id)).first()
    if row is None:
        raise NotifyError(f"no channel {channel_id}")
    return _channel_view(row)


def _name_free(conn: Connection, name: str, but: int | None = None) -> None:
    query = select(CHANNEL.c.id).where(CHANNEL.c.name == name)
    if but is not None:
        query = query.where(CHANNEL.c.id != but)
    if conn.execute(query).first() is not None:
        raise NotifyError(f"a channel named {name!r} exists")


def add_channel(conn: Connection, body: ChannelIn, now: datetime) -> ChannelView:
    _name_free(conn, body.name)
    new = conn.execute(
        insert(CHANNEL).values(**body.model_dump(), created_at=now).returning(CHANNEL.c.id)
    ).scalar_one()
    return channel(conn, int(new))


def change_channel(
    conn: Connection, channel_id: int, body: ChannelIn, *, keep_secret: bool
) -> ChannelView:
    """Change a channel. A `target` sent back exactly as `ChannelView` shows it (a robot URL
    with its key cut) keeps the stored one, so a form can change the rest without the key."""
    stored = conn.execute(select(CHANNEL.c.target).where(CHANNEL.c.id == channel_id)).first()
    if stored is None:
        raise NotifyError(f"no channel {channel_id}")
    _name_free(conn, body.name, but=channel_id)
    values = body.model_dump(exclude={"secret"} if keep_secret else set())
    if body.kind != "email" and body.target == redact_url(stored.target):
        del values["target"]
    conn.execute(update(CHANNEL).where(CHANNEL.c.id == channel_id).values(**values))
    return channel(conn, channel_id)


def remove_channel(conn: Connection, channel_id: int) -> None:
    """Delete a channel and the rules and digests that lead to it; its delivery log stays
    (owed deliveries are dropped when the worker finds the channel gone)."""
    channel(conn, channel_id)
    conn.execute(
        update(RULE)
        .where(RULE.c.escalate_channel_id == channel_id)
        .values(escalate_channel_id=None, escalate_after_min=None)
    )
    conn.execute(delete(RULE).where(RULE.c.channel_id == channel_id))
    conn.execute(delete(DIGEST).where(DIGEST.c.channel_id == channel_id))
    conn.execute(delete(CHANNEL).where(CHANNEL.c.id == channel_id))


def _check_channels(conn: Connection, *ids: int | None) -> None:
    for channel_id in ids:
        if channel_id is not None:
            channel(conn, channel_id)


def rules(conn: Connection) -> list[RuleView]:
    rows = conn.execute(select(RULE).order_by(RULE.c.id))
    return [RuleView.model_validate(r, from_attributes=True) for r in rows]


def rule(conn: Connection, rule_id: int) -> RuleView:
    row = conn.execute(select(RULE).where(RULE.c.id == rule_id)).first()
    if row is None:
        raise NotifyError(f"no rule {rule_id}")
    return RuleView.model_validate(row, from_attributes=True)


def add_rule(conn: Connection, body: RuleIn, now: datetime) -> RuleView:
    _check_channels(conn, body.channel_id, body.escalate_channel_id)
    new = conn.execute(
        insert(RULE).values(**body.model_dump(), created_at=now).returning(RULE.c.id)
    ).scalar_one()
    return rule(conn, int(new))


def change_rule(conn: Connection, rule_id: int, body: RuleIn) -> RuleView:
    rule(conn, rule_id)
    _check_channels(conn, body.channel_id, body.escalate_channel_id)
    conn.execute(update(RULE).where(RULE.c.id == rule_id).values(**body.model_dump()))
    return rule(conn, rule_id)


def remove_rule(conn: Connection, rule_id: int) -> None:
    rule(conn, rule_id)
    conn.execute(delete(RULE).where(RULE.c.id == rule_id))


def digests(conn: Connection) -> list[DigestView]:
    rows = conn.execute(select(DIGEST).order_by(DIGEST.c.id))
    return [DigestView.model_validate(r, from_attributes=True) for r in rows]


def add_digest(conn: Connection, body: DigestIn, now: datetime) -> DigestView:
    _check_channels(conn, body.channel_id)
    new = conn.execute(
        insert(DIGEST).values(**body.model_dump(), created_at=now).returning(DIGEST.c.id)
    ).scalar_one()
    row = conn.execute(select(DIGEST).where(DIGEST.c.id == new)).one()
    return DigestView.model_validate(row, from_attributes=True)


def remove_digest(conn: Connection, digest_id: int) -> None:
    if not conn.execute(delete(DIGEST).where(DIGEST.c.id == digest_id)).rowcount:
        raise NotifyError(f"no digest {digest_id}")


def test_send(conn: Connection, channel_id: int, by: str, now: datetime) -> int:
    """Queue a test message to one channel (it ignores quiet hours); the event id."""
    view = channel(conn, channel_id)
    facts = {
        "title": f"{view.name}：通道测试",
        "lines": [f"这是一条测试消息，由 {by} 发出。收到即表示通道可用。"],
        "severity": "critical",  # a test ignores quiet hours (when critical may pass)
    }
    key = f"test:{channel_id}:{now.isoformat()}"
    event_id = add_event(conn, key, "test", facts, {channel_id}, now)
    if event_id is None:
        raise NotifyError("a test to this channel was just queued")
    conn.execute(update(DELIVERY).where(DELIVERY.c.event_id == event_id).values(next_at=now))
    return event_id


def deliveries(
    conn: Connection,
    *,
    channel_id: int | None = None,
    event_id: int | None = None,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[DeliveryView]:
    """The delivery log, newest first, with every try of each delivery."""
    query = (
        select(
            DELIVERY,
            EVENT.c.kind,
            EVENT.c.alarm_id,
            EVENT.c.facts,
            EVENT.c.severity,
            CHANNEL.c.name.label("channel"),
        )
        .join(EVENT, EVENT.c.id == DELIVERY.c.event_id)
        .outerjoin(CHANNEL, CHANNEL.c.id == DELIVERY.c.channel_id)
        .order_by(DELIVERY.c.id.desc())
        .limit(limit)
    )
    if channel_id is not None:
        query = query.where(DELIVERY.c.channel_id == channel_id)
    if event_id is not None:
        query = query.where(DELIVERY.c.event_id == event_id)
    if status is not None:
        query = query.where(DELIVERY.c.status == status)
    if before is not None:
        query = query.where(DELIVERY.c.id < before)
    rows = conn.execute(query).all()
    tries: dict[int, list[AttemptView]] = {}
    if rows:
        ids = [r.id for r in rows]
        attempts = conn.execute(
            select(ATTEMPT).where(ATTEMPT.c.delivery_id.in_(ids)).order_by(ATTEMPT.c.id)
        )
        for a in attempts:
            tries.setdefault(a.delivery_id, []).append(
                AttemptView(at=a.at, ok=a.ok, status=a.status, error=a.error, ms=a.ms)
            )
    return [
        DeliveryView(
            id=r.id,
            event_id=r.event_id,
            kind=r.kind,
            title=render(r.kind, r.facts).title,
            alarm_id=r.alarm_id,
            channel_id=r.channel_id,
            channel=r.channel,
            status=r.status,
            attempts=r.attempts,
            next_at=r.next_at,
            last_status=r.last_status,
            last_error=r.last_error,
            created_at=r.created_at,
            sent_at=r.sent_at,
            tries=tries.get(r.id, []),
        )
        for r in rows
    ]


def find_channel(conn: Connection, ref: str) -> int:
    """A channel by id or name (the CLI's argument)."""
    query = select(CHANNEL.c.id).where(
        or_(CHANNEL.c.name == ref, CHANNEL.c.id == (int(ref) if ref.isdigit() else -1))
    )
    found = conn.execute(query).scalar_one_or_none()
    if found is None:
        raise NotifyError(f"no channel {ref!r}")
    return int(found)
