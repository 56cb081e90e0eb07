"""Helpers for notification tests: channels, rules and alarms written as production does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from cloud.alarms import rows as alarm_rows
from cloud.alarms.rules import THRESHOLDS, edge_rule
from cloud.notify import service
from cloud.notify.models import DELIVERY, EVENT

RULES = {r.name: r for r in THRESHOLDS}


@pytest.fixture
def channel(engine: Engine, clock: Any) -> Callable[..., int]:
    def make(kind: str = "webhook", target: str = "http://127.0.0.1:9/hook", **fields: Any) -> int:
        name = fields.pop("name", f"{kind}-{target}")[:80]
        body = service.ChannelIn(name=name, kind=kind, target=target, **fields)  # type: ignore[arg-type]
        with engine.begin() as conn:
            return service.add_channel(conn, body, clock()).id

    return make


@pytest.fixture
def route(engine: Engine, clock: Any) -> Callable[..., int]:
    def make(channel_id: int, **fields: Any) -> int:
        body = service.RuleIn(name=fields.pop("name", "r"), channel_id=channel_id, **fields)
        with engine.begin() as conn:
            return service.add_rule(conn, body, clock()).id

    return make


@pytest.fixture
def alarm(engine: Engine) -> Callable[..., int]:
    """Raise an alarm (a cloud threshold rule by name, else an edge rule) as the writers do."""

    def make(sid: str | None, rule: str, at: datetime, **values: Any) -> int:
        spec = RULES.get(rule) or edge_rule(rule)
        fields = {"state": "raised", "since": at, "raised_at": at} | values
        with engine.begin() as conn:
            return alarm_rows.add(conn, sid, spec, "cloud", fields, at)

    return make


def clear(engine: Engine, alarm_id: int, at: datetime) -> None:
    with engine.begin() as conn:
        alarm_rows.change(conn, alarm_id, {"state": "cleared", "cleared_at": at}, at)


def outbox(engine: Engine) -> list[tuple[str, str, int]]:
    """(event key, kind, channel) of every delivery, in order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(EVENT.c.key, EVENT.c.kind, DELIVERY.c.channel_id)
            .join(EVENT, EVENT.c.id == DELIVERY.c.event_id)
            .order_by(DELIVERY.c.id)
        )
        return [tuple(r) for r in rows]  # type: ignore[misc]


def events(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(select(EVENT.c.key).order_by(EVENT.c.id)).scalars())
