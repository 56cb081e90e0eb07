"""`cloud.notify.poller`: alarm changes become events and deliveries once, whatever the
timing of polls; escalation, quiet hours and digests. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, select, update

from cloud.alarms.models import Alarm
from cloud.models import table
from cloud.notify.models import DELIVERY, EVENT
from cloud.notify.poller import Poller
from tests.cloud.conftest import T0
from tests.cloud.notify.conftest import clear, events, outbox

ALARM = table(Alarm)


def test_raise_and_clear_each_notify_once_where_the_rules_match(
    engine: Engine, add_station: Callable[..., Any], channel: Callable[..., int],
    route: Callable[..., int], alarm: Callable[..., int],
) -> None:  # fmt: skip
    add_station("st-1", city="滨州", operator="建设银行")
    add_station("st-2", city="济南")
    everything, binzhou, critical = channel(name="all"), channel(name="bz"), channel(name="crit")
    route(everything)
    route(binzhou, cities=["滨州"])
    route(critical, min_severity="critical")
    poller = Poller(engine)
    poller.run_once(T0)
    warm = alarm("st-1", "fridge_warm", T0 + timedelta(seconds=1))
    alarm("st-2", "disk_full", T0 + timedelta(seconds=1))
    report = poller.run_once(T0 + timedelta(seconds=2))
    assert (report.events, report.deliveries) == (2, 3)
    assert outbox(engine) == [
        (f"alarm:{warm}:raised", "raised", everything),
        (f"alarm:{warm}:raised", "raised", binzhou),
        (f"alarm:{warm + 1}:raised", "raised", everything),
    ]
    assert poller.run_once(T0 + timedelta(seconds=3)).events == 0  # read again: nothing new
    clear(engine, warm, T0 + timedelta(seconds=4))
    poller.run_once(T0 + timedelta(seconds=5))
    assert outbox(engine)[3:] == [
        (f"alarm:{warm}:cleared", "cleared", everything),
        (f"alarm:{warm}:cleared", "cleared", binzhou),
    ]


def test_raised_and_cleared_between_two_polls_still_tells_both(
    engine: Engine, add_station: Callable[..., Any], channel: Callable[..., int],
    route: Callable[..., int], alarm: Callable[..., int],
) -> None:  # fmt: skip
    add_station("st-1")
    route(channel())
    poller = Poller(engine)
    poller.run_once(T0)
    flap = alarm("st-1", "camera_down", T0 + timedelta(seconds=1))
    clear(engine, flap, T0 + timedelta(seconds=2))
    momentary = alarm(
        "st-1", "tailgating", T0 + timedelta(seconds=2), state="cleared",
        cleared_at=T0 + timedelta(seconds=2),
    )  # fmt: skip
    poller.run_once(T0 + timedelta(seconds=3))
    assert events(engine) == [
        f"alarm:{flap}:raised",
        f"alarm:{flap}:cleared",
        f"alarm:{momentary}:raised",  # an incident has no clear to tell
    ]


def test_a_row_stamped_before_the_cursor_but_committed_later_is_not_lost(
    engine: Engine, add_station: Callable[..., Any], channel: Callable[..., int],
    route: Callable[..., int], alarm: Callable[..., int],
) -> None:  # fmt: skip
    """A slow transaction stamps `updated_at` with its start time and commits after a poll
    has moved the cursor past it: the lookback reads it anyway."""
    add_station("st-1")
    route(channel())
    poller = Poller(engine, lookback_s=60)
    alarm("st-1", "camera_down", T0 + timedelta(seconds=10))
    poller.run_once(T0 + timedelta(seconds=11))  # cursor at T0+10 s
    late = alarm("st-1", "fridge_warm", T0 + timedelta(seconds=2))  # stamped earlier
    poller.run_once(T0 + timedelta(seconds=12))
    assert f"alarm:{late}:raised" in events(engine)


def test_no_clear_where_the_rule_says_so_but_the_decision_is_kept(
    engine: Engine, add_station: Callable[..., Any], channel: Callable[..., int],
    route: Callable[..., int], alarm: Callable[..., int],
) -> None:  # fmt: skip
    add_station("st-1")
    route(channel(), notify_clear=False)
    poller = Poller(engine)
    poller.run_once(T0)
    a = alarm("st-1", "camera_down", T0)
    clear(engine, a, T0 + timedelta(seconds=1))
    poller.run_once(T0 + timedelta(seconds=2))
    assert [k for k, _, _ in outbox(engine)] == [f"alarm:{a}:raised"]
    assert f"alarm:{a}:cleared" in events(engine)


def test_an_unacknowledged_alarm_escalates_after_n_minutes(
    engine: Engine, add_station: Callable[..., Any], channel: Callable[..., int],
    route: Callable[..., int], alarm: Callable[..., int],
) -> None:  # fmt: skip
    add_station("st-1")
    add_station("st-2")
    first, boss = channel(name="first"), channel(name="boss")
    rule = route(first, escalate_after_min=30, escalate_channel_id=boss)
    poller = Poller(engine)
    poller.run_once(T0)
    ignored = alarm("st-1", "camera_down", T0)
    seen = alarm("st-2", "camera_down", T0)
    poller.run_once(T0 + timedelta(minutes=29))
    assert not [k for k in events(engine) if "escalated" in k]
    with engine.begin() as conn:
        conn.execute(update(ALARM).where(ALARM.c.id == seen).values(acknowledged_at=T0))
    poller.run_once(T0 + timedelta(minutes=31))
    poller.run_once(T0 + timedelta(minutes=32))
    escalated = [o for o in outbox(engine) if o[1] == "escalated"]
    assert escalated == [(f"alarm:{ignored}:escalated:{rule}", "escalated", boss)]
    with engine.connect() as conn:
        facts = conn.execute(select(EVENT.c.facts).where(EVENT.c.kind == "escalated")).scalar()
    assert facts["after_min"] == 30


def test_quiet_hours_defer_a_warning_but_not_a_critical_alarm(
    engine: Engine, add_station: Callable[..., Any], channel: Callable[..., int],
    route: Callable[..., int], alarm: Callable[..., int],
) -> None:  # fmt: skip
    add_station("st-1")
    # T0 is 10:00 in Shanghai: quiet 09:00–12:00 there
    route(channel(quiet_start="09:00", quiet_end="12:00", tz="Asia/Shanghai"))
    poller = Poller(engine)
    poller.run_once(T0)
    alarm("st-1", "fridge_warm", T0)  # warning
    alarm("st-1", "camera_down", T0)  # critical
    poller.run_once(T0 + timedelta(seconds=1))
    with engine.connect() as conn:
        due = dict(
            conn.execute(
                select(EVENT.c.severity, DELIVERY.c.next_at).join(
                    EVENT, EVENT.c.id == DELIVERY.c.event_id
                )
            ).all()
        )
    assert due["warning"] == T0 + timedelta(hours=2)  # 12:00 Shanghai
    assert due["critical"] == T0 + timedelta(seconds=1)


def test_a_daily_digest_per_scope_once_a_day(
    engine: Engine, add_station: Callable[..., Any], channel: Callable[..., int],
    alarm: Callable[..., int],
) -> None:  # fmt: skip
    from cloud.notify import service

    add_station("st-1", city="滨州")
    add_station("st-2", city="济南")
    mail = channel("email", "ops@example.org")
    with engine.begin() as conn:
        service.add_digest(
            conn, service.DigestIn(name="滨州日报", channel_id=mail, city="滨州", hour=11), T0
        )
        service.add_digest(conn, service.DigestIn(name="全部", channel_id=mail, hour=11), T0)
    alarm("st-1", "fridge_warm", T0 - timedelta(hours=1))
    alarm("st-2", "camera_down", T0 - timedelta(hours=1))
    alarm("st-2", "disk_full", T0 - timedelta(hours=30))  # before the window
    poller = Poller(engine)
    poller.run_once(T0)  # 10:00 Shanghai: not yet
    assert not [k for k in events(engine) if k.startswith("digest")]
    poller.run_once(T0 + timedelta(hours=1))  # 11:00
    poller.run_once(T0 + timedelta(hours=2))  # again the same day: nothing
    with engine.connect() as conn:
        digests = conn.execute(
            select(EVENT.c.key, EVENT.c.facts).where(EVENT.c.kind == "digest").order_by(EVENT.c.id)
        ).all()
    assert [d.key for d in digests] == ["digest:1:2025-06-02", "digest:2:2025-06-02"]
    binzhou, everything = digests[0].facts, digests[1].facts
    assert binzhou["raised"] == {"critical": 0, "warning": 1}
    assert everything["raised"] == {"critical": 1, "warning": 1}
    assert everything["open"] == 3
    assert "范围：滨州（过去 24 小时）" in binzhou["lines"]
    poller.run_once(T0 + timedelta(days=1, hours=1))  # the next day
    assert len([k for k in events(engine) if k.startswith("digest")]) == 4


def test_an_old_alarm_read_again_is_history_not_news(
    engine: Engine, add_station: Callable[..., Any], channel: Callable[..., int],
    route: Callable[..., int], alarm: Callable[..., int],
) -> None:  # fmt: skip
    """An alarm acknowledged weeks after it was raised is written again (`updated_at`): the
    poller reads it but tells nothing (its events may have been purged by then)."""
    add_station("st-1")
    route(channel())
    poller = Poller(engine, max_age_s=7 * 86_400)
    old = alarm("st-1", "camera_down", T0 - timedelta(days=8))
    with engine.begin() as conn:
        conn.execute(update(ALARM).where(ALARM.c.id == old).values(updated_at=T0))
    poller.run_once(T0 + timedelta(seconds=1))
    assert events(engine) == []
