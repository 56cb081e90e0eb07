"""`cloud.notify.summary`: the digest's figures for a scope."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Connection

from cloud.alarms import rows as alarm_rows
from cloud.alarms.rules import edge_rule
from cloud.notify.summary import digest_facts
from tests.cloud.conftest import T0


def test_counts_of_the_last_24_hours_in_scope(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("st-1", city="滨州", operator="邮政")
    put_station("st-2", city="滨州", operator="建设银行")
    hour = T0 - timedelta(hours=1)
    for sid, rule in (("st-1", "camera_down"), ("st-1", "door_held_open"), ("st-2", "camera_down")):
        alarm_rows.add(
            db,
            sid,
            edge_rule(rule),
            "edge",
            {"state": "raised", "since": hour, "raised_at": hour},
            hour,
        )
    alarm_rows.add(
        db,
        None,
        edge_rule("cloud_blind"),
        "cloud",
        {"state": "cleared", "since": hour, "raised_at": hour, "cleared_at": T0},
        hour,
    )
    post = digest_facts(db, name="日报", city="滨州", operator="邮政", now=T0)
    assert post["raised"] == {"critical": 1, "warning": 1}
    assert (post["open"], post["unacknowledged"], post["cleared"]) == (2, 2, 0)
    assert post["title"] == "日报：滨州、邮政"
    everything = digest_facts(db, name="日报", city=None, operator=None, now=T0)
    assert everything["raised"] == {"critical": 2, "warning": 2}  # the cloud's own alarm too
    assert everything["lines"][3] == "最多的告警：摄像头故障 2，云端看不到站点 1，门长时间未关 1"
    assert everything["lines"][4] == "最多告警的站点：Station st-1 2，Station st-2 1"
