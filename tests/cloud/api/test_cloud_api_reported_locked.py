"""Workers' reports count (SQLite and PostgreSQL): a `locked` report takes the station off the
open map at once (reason `reported_locked`) and raises an ops alarm, until an operator
resolves it or the station's own door admits a member; a door that just admitted a member
outweighs one report; the reports' rate limit counts an IPv6 client by its /64."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from cloud.api.reports import FEEDBACK_BURST
from cloud.auth import Role
from cloud.feedback.locked import DOOR_PROOF_S
from cloud.ingest.ingestor import Ingestor
from cloud.main import create_app
from cloud.models import Station
from cloud.settings import Settings
from protocol import topics
from protocol.credential import Reason
from protocol.messages import AccessEvent, DoorEvent, StatePayload, TelemetryPayload

SID = "st-001"
OPS = "/api/v1/ops"
NEAR = {"lat": 31.2304, "lon": 121.4737, "radius_m": 1000}


@pytest.fixture
def api(db_url: str, engine: Engine, clock: Any) -> Iterator[TestClient]:
    """The app as deployed: live states cached for a minute (a report must still show on
    the next search), the feedback limit as configured."""
    clock.now = datetime.now(UTC).replace(microsecond=0)
    settings = Settings(db=db_url, index_refresh_s=0, live_state_ttl_s=60, rate_limit_burst=1_000)
    with TestClient(create_app(settings, clock=clock)) as c:
        yield c


@pytest.fixture(autouse=True)
def _station(add_station: Callable[..., Station]) -> None:
    add_station(SID, opening_hours="24/7")


class Door:
    """The station's agent: birth, heartbeat, entries, through ingest (stamped by the clock)."""

    def __init__(self, engine: Engine, clock: Any) -> None:
        self.ing, self.clock, self.seq = Ingestor(engine, clock=clock), clock, 0

    def _send(self, topic: str, payload: Any) -> None:
        self.ing.handle(topic, payload.to_bytes())
        self.ing.flush()

    def live(self) -> None:
        self._send(topics.state(SID), StatePayload(sid=SID, status="online", sess=1, ts=self.now))
        beat = TelemetryPayload(sid=SID, uptime_s=1, interval_s=30, ts=self.now)
        self._send(topics.telemetry(SID), beat)

    @property
    def now(self) -> datetime:
        return self.clock.now  # type: ignore[no-any-return]

    def _event(self, event_type: type[Any], **fields: Any) -> None:
        self.seq += 1
        event = event_type(sid=SID, event_id=uuid4(), seq=self.seq, ts=self.now, **fields)
        self._send(topics.events(SID), event)

    def entry(self, *, granted: bool = True, opened: bool = True) -> None:
        reason = Reason.GRANTED if granted else Reason.EXPIRED
        self._event(AccessEvent, granted=granted, reason=reason)
        if opened:
            self._event(DoorEvent, action="door_opened", cause="grant" if granted else "exit")


@pytest.fixture
def door(engine: Engine, clock: Any) -> Door:
    return Door(engine, clock)


def _search(
    api: TestClient, status: str = "any", *, ingested: bool = False
) -> dict[str, Any] | None:
    """The station as the nearby search shows it now. Ingest writes from another process:
    the API sees its changes within `live_state_ttl_s` (1 s by default), so after ingest
    (`ingested`) the cache is dropped first; a report's own change must show at once."""
    if ingested:
        api.app.state.ctx.live.forget(SID)  # type: ignore[attr-defined]
    r = api.get("/api/v1/stations/nearby", params=NEAR | {"status": status})
    assert r.status_code == 200, r.text
    return next((s for s in r.json()["stations"] if s["id"] == SID), None)


def _report(api: TestClient, kind: str = "locked") -> int:
    r = api.post("/api/v1/reports", json={"station_id": SID, "kind": kind})
    assert r.status_code == 201, r.text
    return int(r.json()["id"])


def _alarms(api: TestClient, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = api.get(f"{OPS}/stations/{SID}", headers=headers)
    assert r.status_code == 200, r.text
    return [a for a in r.json()["alarms"] if a["rule"] == "reported_locked"]


def test_one_locked_report_takes_a_schedule_station_off_the_map_and_raises_an_alarm(
    api: TestClient, as_role: Callable[[Role], dict[str, str]], clock: Any
) -> None:
    # Story: a worker finds the door of a station without an agent locked and says so; the
    # next worker's search (even one served from the live-state cache) no longer sends them.
    viewer = as_role(Role.VIEWER)
    assert _search(api, "open") is not None  # open by its hours, and now cached
    _report(api, "dirty")  # not about the door
    assert _search(api, "open") is not None
    _report(api, "locked")
    assert _search(api, "open") is None
    hit = _search(api)
    assert hit is not None
    assert (hit["open_now"], hit["basis"], hit["reason"]) == (False, "schedule", "reported_locked")
    assert hit["reported_locked_at"].startswith(clock.now.strftime("%Y-%m-%dT%H:%M"))
    kept = _search(api, "open_or_reported")  # what the finder asks: it says why
    assert kept is not None
    assert kept["reason"] == "reported_locked"
    [alarm] = _alarms(api, viewer)
    assert (alarm["severity"], alarm["detail"]) == ("warning", "locked")
    detail = api.get(f"{OPS}/stations/{SID}", headers=viewer).json()
    assert detail["closed_reason"] == "reported_locked"
    assert detail["reported_locked_at"] is not None


def test_resolving_the_report_puts_the_station_back(
    api: TestClient, as_role: Callable[[Role], dict[str, str]]
) -> None:
    operator = as_role(Role.OPERATOR)
    rid = _report(api, "closed")
    assert _search(api, "open") is None
    r = api.post(f"{OPS}/reports/{rid}/resolve", json={"note": "opened it"}, headers=operator)
    assert r.status_code == 200, r.text
    assert _search(api, "open") is not None
    assert _alarms(api, operator) == []  # cleared, no longer raised


def test_a_granted_entry_through_the_door_clears_the_flag(
    api: TestClient, door: Door, as_role: Callable[[Role], dict[str, str]], clock: Any
) -> None:
    # Story: the report was wrong (or the door was fixed): the next member who gets in
    # proves it, and the station is back on the map without anyone touching the report.
    viewer = as_role(Role.VIEWER)
    clock.advance(-2 * DOOR_PROOF_S)
    door.live()
    door.entry()  # an old entry: long before the report, so it does not outweigh it
    clock.advance(2 * DOOR_PROOF_S)
    door.live()
    _report(api, "locked")
    hit = _search(api)
    assert hit is not None
    assert (hit["basis"], hit["reason"]) == ("live", "reported_locked")
    clock.advance(60)
    door.entry(granted=False)  # refused, and someone walked out: proves nothing
    assert _search(api, "open", ingested=True) is None
    clock.advance(5)
    door.entry(granted=True, opened=False)  # granted but never opened: proves nothing
    assert _search(api, "open", ingested=True) is None
    clock.advance(5)
    door.entry()
    assert _search(api, "open", ingested=True) is not None
    assert _alarms(api, viewer) == []


def test_one_report_does_not_outweigh_a_door_that_just_admitted_a_member(
    api: TestClient, door: Door, clock: Any
) -> None:
    door.live()
    door.entry()
    clock.advance(DOOR_PROOF_S - 60)
    door.live()
    _report(api, "locked")  # stored for ops, but the door spoke a few minutes ago
    assert _search(api, "open", ingested=True) is not None
    clock.advance(120)  # the last entry is now older than the window
    door.live()
    _report(api, "broken")
    assert (_search(api) or {}).get("reason") == "reported_locked"


def test_reports_are_limited_per_ipv6_prefix_not_per_address(api: TestClient, clock: Any) -> None:
    # Story: one phone hopping addresses inside its own /64 cannot flag stations at will.
    app = api.app
    codes = []
    for n in range(FEEDBACK_BURST + 1):
        phone = TestClient(app, client=(f"2001:db8:1:2::{n + 1:x}", 40000))
        r = phone.post("/api/v1/reports", json={"station_id": SID, "kind": "locked"})
        codes.append(r.status_code)
    assert codes == [201] * FEEDBACK_BURST + [429]
    other = TestClient(app, client=("2001:db8:9:9::1", 40000))  # another subscriber
    r = other.post("/api/v1/reports", json={"station_id": SID, "kind": "other"})
    assert r.status_code == 201


def test_a_retired_station_takes_no_reports(
    api: TestClient, engine: Engine, as_role: Callable[[Role], dict[str, str]]
) -> None:
    # Story: a station closed for good is off the map, but a worker's old link (or a script)
    # still posts a `locked` report: it must not flag the station or raise an alarm.
    admin = as_role(Role.ADMIN)
    assert api.post(f"{OPS}/stations/{SID}/retire", headers=admin).status_code == 200
    r = api.post("/api/v1/reports", json={"station_id": SID, "kind": "locked"})
    assert r.status_code == 404, r.text
    assert SID in r.json()["detail"]
    assert api.post(f"{OPS}/stations/{SID}/reinstate", headers=admin).status_code == 200
    assert _alarms(api, admin) == []  # nothing was raised while it was retired
    assert api.get(f"{OPS}/reports", headers=admin).json()["items"] == []
