"""`cloud.stations.detail`: a station's page says how recently anything confirmed it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from uuid import uuid4

from sqlalchemy import Engine
from sqlmodel import Session

from cloud.db import session
from cloud.models import Event, Station, StationState
from cloud.stations.detail import get_detail
from cloud.stations.liveness import DEFAULT_POLICY


def test_last_seen_and_last_granted_entry(
    engine: Engine,
    add_station: Callable[..., Station],
    set_state: Callable[..., StationState],
    clock: Any,
) -> None:
    now = clock.now
    add_station("s-agent")
    add_station("s-none")
    set_state("s-agent", status="online", sess=1, status_at=now - timedelta(hours=2),
              last_heartbeat=now - timedelta(seconds=20), heartbeat_interval_s=30.0)  # fmt: skip
    with session(engine) as s:
        for n, (granted, minutes) in enumerate([(True, 40), (False, 5), (True, 9)]):
            at = now - timedelta(minutes=minutes)
            s.add(Event(station_id="s-agent", event_id=uuid4(), seq=n + 1, type="access",
                        ts=at, received_at=at, granted=granted))  # fmt: skip
        s.add(Event(station_id="s-none", event_id=uuid4(), seq=1, type="door", ts=now,
                    received_at=now, action="door_opened"))  # fmt: skip
    with Session(engine) as s:
        agent = get_detail(s, station_id="s-agent", now=now, policy=DEFAULT_POLICY)
        none = get_detail(s, station_id="s-none", now=now, policy=DEFAULT_POLICY)
        missing = get_detail(s, station_id="s-missing", now=now, policy=DEFAULT_POLICY)
    assert agent is not None
    assert agent.last_seen_at == now - timedelta(seconds=20)
    assert agent.last_entry_at == now - timedelta(minutes=9)  # newest granted, not the refusal
    assert (agent.open_now, agent.basis) == (True, "live")
    assert none is not None
    assert (none.last_seen_at, none.last_entry_at, none.basis) == (None, None, "schedule")
    assert missing is None
