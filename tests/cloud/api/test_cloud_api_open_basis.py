"""Every station on the map, with the basis of "open now" (issue 17, items 1 and 2).

A city that installs Waystation has a few agents and hundreds of stations without one:
1,000 registered stations, 50 of them with agents. The nearby API must list them all (within
the radius and limit), agent-less ones open by their published hours (basis `schedule`),
agents' stations as their agents say (basis `live`); and when the cloud goes blind, the open
count must not drop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert

from cloud.alarms.models import Alarm
from cloud.alarms.monitor import Monitor
from cloud.main import create_app
from cloud.models import StationState, table
from cloud.settings import Settings
from cloud.stations import geo
from cloud.stations.registry import upsert
from firmware_sim.cities import CITIES, make_records
from protocol.registry import StationRecord

NEARBY = "/api/v1/stations/nearby"
DAY, NIGHT = "Mo-Su 08:00-20:00", "Mo-Su 20:00-23:00"  # at T0 (10:00 local): open, closed
# The agents' stations, by what their agent says: (status, lock, expected reason or None).
AGENTS = [("online", "locked", None)] * 40 + [("lost", "locked", "station_down")] * 5
AGENTS += [("online", "fault", "station_fault")] * 5


class City:
    def __init__(self, engine: Engine, clock: Any) -> None:
        records = make_records(1000, seed=17)
        self.records: list[StationRecord] = [
            r.model_copy(update={"opening_hours": DAY if i % 3 else NIGHT})
            for i, r in enumerate(records)
        ]
        upsert(engine, self.records)
        # Every 20th station has an agent (50), heard a moment ago.
        self.agents = {r.id: AGENTS[i // 20] for i, r in enumerate(self.records) if i % 20 == 0}
        rows = [
            {"station_id": sid, "status": status, "sess": 1, "status_at": clock.now,
             "last_heartbeat": clock.now, "heartbeat_interval_s": 30.0, "lock": lock,
             "door": "closed", "alarm_level": "none"}
            for sid, (status, lock, _) in self.agents.items()
        ]  # fmt: skip
        with engine.begin() as conn:
            conn.execute(insert(table(StationState)), rows)
        self.by_id = {r.id: r for r in self.records}

    def expected(self, sid: str) -> tuple[bool, str, str | None]:
        """(open_now, basis, reason) by the rule, at T0, the cloud seeing."""
        day = self.by_id[sid].opening_hours == DAY
        if sid in self.agents:
            reason = self.agents[sid][2] or (None if day else "closed_by_hours")
            return reason is None, "live", reason
        return day, "schedule", None if day else "closed_by_hours"

    def around(self, lat: float, lon: float, n: int) -> tuple[float, set[str]]:
        """A radius holding exactly the `n` nearest stations, and their ids."""
        dist = sorted((geo.haversine_m(lat, lon, r.lat, r.lon), r.id) for r in self.records)
        radius = (dist[n - 1][0] + dist[n][0]) / 2
        return radius, {sid for _, sid in dist[:n]}


@pytest.fixture
def city(engine: Engine, clock: Any) -> City:
    return City(engine, clock)


@pytest.fixture
def api(db_url: str, engine: Engine, clock: Any) -> Iterator[TestClient]:
    settings = Settings(
        db=db_url, index_refresh_s=0, live_state_ttl_s=0, sight_refresh_s=0, rate_limit_burst=1_000
    )
    with TestClient(create_app(settings, clock=clock)) as c:
        yield c


CENTRES = [(lat, lon) for _name, lat, lon in CITIES["shenzhen"].districts]


def test_every_station_is_listed_with_the_basis_of_its_verdict(city: City, api: TestClient) -> None:
    seen: set[str] = set()
    for lat, lon in CENTRES:
        radius, nearest = city.around(lat, lon, 90)
        base = {"lat": lat, "lon": lon, "radius_m": radius, "limit": 100}
        body = api.get(NEARBY, params=base).json()
        got = {s["id"]: (s["open_now"], s["basis"], s["reason"]) for s in body["stations"]}
        assert set(got) == nearest  # all of them, not just the 5 % with an agent
        assert got == {sid: city.expected(sid) for sid in nearest}
        opened = api.get(NEARBY, params=base | {"status": "open"}).json()["stations"]
        assert {s["id"] for s in opened} == {sid for sid in nearest if city.expected(sid)[0]}
        seen |= nearest
    assert {city.expected(sid)[1] for sid in seen} == {"live", "schedule"}
    assert any(sid in city.agents for sid in seen)
    # The station page says the same.
    for sid in sorted(seen)[:20]:
        page = api.get(f"/api/v1/stations/{sid}").json()
        assert (page["open_now"], page["basis"], page["reason"]) == city.expected(sid)


def test_live_confirmed_stations_rank_first_within_50_m(
    add_station: Callable[..., Any], set_state: Callable[..., Any], api: TestClient, clock: Any
) -> None:
    lat, lon = 31.2304, 121.4737
    metre = 1 / 111_195  # degrees of latitude per metre
    add_station("a-sched", lat=lat + 10 * metre, lon=lon)  # 10 m, no agent
    add_station("b-live", lat=lat + 40 * metre, lon=lon)  # 40 m, its agent confirms
    add_station("c-sched", lat=lat + 60 * metre, lon=lon)  # 60 m: the next bucket
    add_station("d-live", lat=lat + 70 * metre, lon=lon)
    for sid in ("b-live", "d-live"):
        set_state(sid, status="online", sess=1, status_at=clock.now, last_heartbeat=clock.now)
    for limit in (1, 2, 4):
        body = api.get(NEARBY, params={"lat": lat, "lon": lon, "limit": limit}).json()
        order = ["b-live", "a-sched", "d-live", "c-sched"][:limit]
        assert [s["id"] for s in body["stations"]] == order, limit


def test_a_blind_cloud_keeps_the_open_count_and_raises_cloud_blind(
    city: City, api: TestClient, engine: Engine, clock: Any
) -> None:
    # Story: with the broker down longer than the stale grace, every agent's station turned
    # `stale` past it and the map lost them, and the monitor raised station_offline for all.
    lat, lon = CENTRES[0]
    radius, _ = city.around(lat, lon, 90)
    params = {"lat": lat, "lon": lon, "radius_m": radius, "limit": 100, "status": "open"}
    before = {s["id"] for s in api.get(NEARBY, params=params).json()["stations"]}
    monitor = Monitor(engine, clock=clock)
    monitor.run_once()
    clock.advance(30 * 60)  # 30 minutes without a word from anyone: past span + stale grace
    report = monitor.run_once()
    assert report.sight is not None
    assert report.sight.reason == "fleet_silence"
    during = api.get(NEARBY, params=params).json()["stations"]
    assert {s["id"] for s in during} == before
    agents_open = [s for s in during if s["id"] in city.agents]
    assert agents_open
    assert {s["basis"] for s in agents_open} == {"schedule"}
    assert alarms(engine) == {(None, "cloud_blind", "raised")}  # and no station_offline
    # Sight returns when most of the fleet speaks again: the alarm clears.
    clock.advance(60)
    back = [sid for sid, (status, *_) in city.agents.items() if status == "online"][:30]
    with engine.begin() as conn:
        conn.execute(
            table(StationState).update().where(table(StationState).c.station_id.in_(back)),
            {"last_heartbeat": clock.now},
        )
    report = monitor.run_once()
    assert report.sight is not None
    assert not report.sight.blind
    # The stations still silent count their silence from when the cloud saw again: no
    # station_offline for them; the five lost before the outage are judged as before.
    lost = {(sid, "station_offline", "raised") for sid, a in city.agents.items() if a[0] == "lost"}
    assert alarms(engine) == {(None, "cloud_blind", "cleared")} | lost
    silent = [sid for sid, a in city.agents.items() if a[0] == "online" and sid not in back]
    for sid in silent:
        page = api.get(f"/api/v1/stations/{sid}").json()
        assert (page["open_now"], page["basis"], page["reason"]) == city.expected(sid)
    # Those that really died leave the map a heartbeat span + the stale grace later.
    clock.advance(3 * 30 + 300 + 1)
    with engine.begin() as conn:  # the others kept talking
        conn.execute(
            table(StationState).update().where(table(StationState).c.station_id.in_(back)),
            {"last_heartbeat": clock.now},
        )
    for sid in silent:
        page = api.get(f"/api/v1/stations/{sid}").json()
        assert (page["open_now"], page["basis"], page["reason"]) == (False, "live", "station_down")


def alarms(engine: Engine) -> set[tuple[str | None, str, str]]:
    """Alarms other than the lock faults of the five stations that have one."""
    with engine.connect() as conn:
        rows = conn.execute(table(Alarm).select()).all()
    return {(r.station_id, r.rule, r.state) for r in rows if r.rule != "lock_fault"}
