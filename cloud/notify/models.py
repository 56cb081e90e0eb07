"""Tables of alarm notifications: where to send (channels), what (rules, digests), and the
outbox of what was decided (events), what is owed to each channel (deliveries) and what
happened on each try (attempts, the delivery log).

Secrets (a webhook's HMAC key, a robot's signing secret) are stored so the sender can sign;
they are written by admins and never returned by the API or the CLI.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from cloud.clock import utcnow
from cloud.models import BigId, table
from cloud.sql.types import UTCDateTime

KINDS = ("webhook", "wecom", "dingtalk", "feishu", "email")
# delivery states: pending (due at next_at), sending (leased to a worker until lease_until),
# sent, failed (attempts used up), dropped (the channel was deleted or disabled)
PENDING, SENDING, SENT, FAILED, DROPPED = "pending", "sending", "sent", "failed", "dropped"


class NotifyChannel(SQLModel, table=True):
    """One place notifications go: a URL (webhook or group robot) or e-mail addresses."""

    __tablename__ = "notify_channel"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    name: str = Field(max_length=80, unique=True)
    kind: str = Field(max_length=16, description="webhook, wecom, dingtalk, feishu or email")
    target: str = Field(sa_type=Text, description="URL, or e-mail addresses comma-separated")
    secret: str = Field(default="", max_length=200, description="signing key; never returned")
    tz: str = Field(default="Asia/Shanghai", max_length=64, description="IANA zone of quiet hours")
    quiet_start: str | None = Field(default=None, max_length=5, description="HH:MM local")
    quiet_end: str | None = Field(default=None, max_length=5, description="HH:MM local")
    quiet_bypass_critical: bool = Field(default=True, description="critical alarms ignore quiet")
    timeout_s: float = Field(default=10.0, description="per request, seconds")
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NotifyRule(SQLModel, table=True):
    """Which alarms go to a channel. Empty filter lists match everything."""

    __tablename__ = "notify_rule"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    name: str = Field(max_length=80)
    channel_id: int = Field(foreign_key="notify_channel.id", sa_type=BigId)
    min_severity: str = Field(default="warning", max_length=16, description="warning or critical")
    rules: list[str] = Field(default_factory=list, sa_type=JSON, description="alarm rule names")
    cities: list[str] = Field(default_factory=list, sa_type=JSON)
    operators: list[str] = Field(default_factory=list, sa_type=JSON)
    stations: list[str] = Field(default_factory=list, sa_type=JSON)
    notify_clear: bool = Field(default=True, description="also tell when the alarm clears")
    escalate_after_min: float | None = Field(
        default=None, description="unacknowledged this many minutes while raised: escalate"
    )
    escalate_channel_id: int | None = Field(
        default=None, foreign_key="notify_channel.id", sa_type=BigId
    )
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NotifyDigest(SQLModel, table=True):
    """A daily summary of one scope (all stations, or a city and/or operator) to a channel,
    sent at `hour` in the channel's time zone."""

    __tablename__ = "notify_digest"

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    name: str = Field(max_length=80)
    channel_id: int = Field(foreign_key="notify_channel.id", sa_type=BigId)
    city: str | None = Field(default=None, max_length=60)
    operator: str | None = Field(default=None, max_length=120)
    hour: int = Field(default=8, ge=0, le=23, description="local hour of sending")
    enabled: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NotifyEvent(SQLModel, table=True):
    """Something to tell, decided once: an alarm raised or cleared, an escalation, a digest,
    a test. `key` makes the decision idempotent across pollers and restarts."""

    __tablename__ = "notify_event"
    __table_args__ = (Index("ix_notify_event_created", "created_at"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    key: str = Field(max_length=120, unique=True, description="e.g. alarm:42:raised")
    kind: str = Field(max_length=16, description="raised, cleared, escalated, digest or test")
    alarm_id: int | None = Field(default=None, sa_type=BigId)
    severity: str = Field(default="warning", max_length=16)
    facts: dict[str, Any] = Field(default_factory=dict, sa_type=JSON, description="the message")
    created_at: datetime = Field(sa_type=UTCDateTime)


class NotifyDelivery(SQLModel, table=True):
    """One event owed to one channel (the outbox row the worker claims)."""

    __tablename__ = "notify_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "channel_id", name="uq_notify_delivery_event_channel"),
        Index("ix_notify_delivery_due", "status", "next_at"),
        Index("ix_notify_delivery_channel", "channel_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    event_id: int = Field(foreign_key="notify_event.id", sa_type=BigId)
    channel_id: int = Field(sa_type=BigId, description="not a foreign key: the log outlives it")
    status: str = Field(default=PENDING, max_length=16)
    attempts: int = 0
    next_at: datetime = Field(sa_type=UTCDateTime, description="due (quiet hours, backoff)")
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status: int | None = Field(default=None, description="HTTP status or SMTP code")
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NotifyAttempt(SQLModel, table=True):
    """One try of a delivery: the delivery log ops read."""

    __tablename__ = "notify_attempt"
    __table_args__ = (Index("ix_notify_attempt_delivery", "delivery_id"),)

    id: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    delivery_id: int = Field(foreign_key="notify_delivery.id", sa_type=BigId)
    at: datetime = Field(sa_type=UTCDateTime)
    ok: bool
    status: int | None = Field(default=None, description="HTTP status or SMTP reply code")
    error: str | None = Field(default=None, max_length=300)
    ms: float = Field(description="milliseconds the try took")


class NotifyCursor(SQLModel, table=True):
    """How far the poller has read the alarm table (by `alarm.updated_at`)."""

    __tablename__ = "notify_cursor"

    name: str = Field(primary_key=True, max_length=32)
    at: datetime = Field(sa_type=UTCDateTime)


CHANNEL = table(NotifyChannel)
RULE = table(NotifyRule)
DIGEST = table(NotifyDigest)
EVENT = table(NotifyEvent)
DELIVERY = table(NotifyDelivery)
ATTEMPT = table(NotifyAttempt)
CURSOR = table(NotifyCursor)
TABLES: list[Table] = [CHANNEL, RULE, DIGEST, EVENT, DELIVERY, ATTEMPT, CURSOR]
