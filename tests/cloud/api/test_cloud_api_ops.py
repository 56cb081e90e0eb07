"""The ops health API over HTTP: roles, fleet summary, station table and page, alarm inbox and
acknowledge (audited), telemetry series, uptime. Data arrives the real way: station messages
through the ingestor, then a monitor run."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from cloud.alarms.monitor import Monitor
from cloud.auth import Role
from cloud.auth.models import AuditEntry
from cloud.db import session
from cloud.ingest.ingestor import Ingestor
from cloud.models import DEFAULT_TZ, Station
from protocol import topics
from protocol.messages import AlarmEvent, Payload, StatePayload, TelemetryPayload

OPS = "/api/v1/ops"


@pytest.fixture(autouse=True)
def _now(clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clock.now = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def viewer(as_role: Callable[[Role], dict[str, str]]) -> dict[str, str]:
    return as_role(Role.VIEWER)


class Fleet3:
    """Three stations through real ingest: `sz-ok` healthy, `sz-down` lost, `sh-warm` with a
    fridge warm for 15 minutes (a warning)."""

    def __init__(self, engine: Engine, clock: Any, add_station: Callable[..., Station]) -> None:
        self.engine, self.clock = engine, clock
        self.ing = Ingestor(engine, clock=clock)
        self.monitor = Monitor(engine, clock=clock)
        add_station("sz-ok", city="深圳", operator="总工会")
        add_station("sz-down", city="深圳", operator="顺丰")
        add_station("sh-warm", name="Fridge Station", city="上海", operator="总工会")
        self.seq = 0

    def send(self, topic: str, payload: Payload) -> None:
        self.ing.handle(topic, payload.to_bytes())
        self.ing.flush()

    def birth(self, sid: str) -> None:
        self.send(
            topics.state(sid), StatePayload(sid=sid, status="online", sess=1, ts=self.clock.now)
        )

    def heartbeat(self, sid: str, **fields: Any) -> None:
        payload = TelemetryPayload(sid=sid, uptime_s=1, ts=self.clock.now, **fields)
        self.send(topics.telemetry(sid), payload)

    def alarm(self, sid: str, name: str, state: str) -> None:
        self.seq += 1
        event = AlarmEvent(
            sid=sid, event_id=uuid4(), seq=self.seq, alarm=name, state=state, ts=self.clock.now
        )
        self.send(topics.events(sid), event)

    def play(self) -> None:
        for sid in ("sz-ok", "sz-down", "sh-warm"):
            self.birth(sid)
        self.send(
            topics.state("sz-down"),
            StatePayload(sid="sz-down", status="lost", sess=1, ts=self.clock.now),
        )
        for _ in range(32):  # 16 minutes of heartbeats
            self.heartbeat("sz-ok", cpu_temp_c=50.0, sensors={"fridge_c": 4.0})
            self.heartbeat("sh-warm", cpu_temp_c=60.0, sensors={"fridge_c": 9.5})
            self.monitor.run_once()
            self.clock.advance(30)
        self.heartbeat("sz-ok", cpu_temp_c=50.0)
        self.heartbeat("sh-warm", cpu_temp_c=60.0, sensors={"fridge_c": 9.5})
        self.monitor.run_once()


@pytest.fixture
def fleet3(engine: Engine, clock: Any, add_station: Callable[..., Station]) -> Fleet3:
    f = Fleet3(engine, clock, add_station)
    f.play()
    return f


def test_ops_api_needs_a_login(client: TestClient, viewer: dict[str, str]) -> None:
    for path in ("/fleet", "/stations", "/alarms", "/stations/x", "/stations/x/uptime"):
        response = client.get(OPS + path)
        assert response.status_code == 401, path
        assert "WWW-Authenticate" in response.headers
    assert client.get(OPS + "/fleet", headers=viewer).status_code == 200
    bogus = {"Authorization": "Bearer wst_not-a-token"}
    assert client.get(OPS + "/fleet", headers=bogus).status_code == 401


def test_fleet_summary_counts_health_status_and_alarms(
    client: TestClient, viewer: dict[str, str], fleet3: Fleet3
) -> None:
    body = client.get(OPS + "/fleet", headers=viewer).json()
    assert body["stations"] == 3
    assert body["by_health"] == {"ok": 1, "degraded": 1, "down": 1, "unknown": 0}
    assert body["by_status"] == {"online": 2, "lost": 1}
    # lost for 16 minutes: offline over 10 minutes is an alarm of its own
    assert body["alarms_by_rule"] == {"fridge_warm": 1, "station_offline": 1}
    assert body["alarms_raised"] == 2
    assert body["alarms_unacknowledged"] == 2


def test_station_table_filters_and_puts_the_worst_first(
    client: TestClient, viewer: dict[str, str], fleet3: Fleet3
) -> None:
    def ids(**params: Any) -> list[str]:
        body = client.get(OPS + "/stations", params=params, headers=viewer).json()
        assert body["total"] == len(body["items"])
        return [s["id"] for s in body["items"]]

    assert ids() == ["sz-down", "sh-warm", "sz-ok"]
    assert ids(health=["down", "degraded"]) == ["sz-down", "sh-warm"]
    assert ids(city="深圳") == ["sz-down", "sz-ok"]
    assert ids(operator="总工会", health="ok") == ["sz-ok"]
    assert ids(q="FRIDGE") == ["sh-warm"]
    page = client.get(OPS + "/stations", params={"limit": 1, "offset": 1}, headers=viewer).json()
    assert (page["total"], [s["id"] for s in page["items"]]) == (3, ["sh-warm"])
    (warm,) = client.get(OPS + "/stations", params={"q": "sh-"}, headers=viewer).json()["items"]
    assert (warm["alarms"], warm["health"], warm["status"]) == (1, "degraded", "online")
    bad = client.get(OPS + "/stations", params={"health": "fine"}, headers=viewer)
    assert bad.status_code == 422


def test_station_page_is_judged_live(
    client: TestClient, viewer: dict[str, str], fleet3: Fleet3
) -> None:
    page = client.get(OPS + "/stations/sh-warm", headers=viewer).json()
    assert (page["status"], page["health"], page["open_now"]) == ("online", "degraded", True)
    assert [a["rule"] for a in page["alarms"]] == ["fridge_warm"]
    assert page["telemetry"]["sensors"] == {"fridge_c": 9.5}
    assert page["station"]["city"] == "上海"
    assert (page["basis"], page["closed_reason"]) == ("live", None)
    down = client.get(OPS + "/stations/sz-down", headers=viewer).json()
    assert (down["status"], down["health"], down["open_now"]) == ("lost", "down", False)
    assert (down["basis"], down["closed_reason"]) == ("live", "station_down")
    assert client.get(OPS + "/stations/nope", headers=viewer).status_code == 404


def test_alarm_inbox_says_which_station_where_since_when_and_what_the_value_measures(
    client: TestClient, viewer: dict[str, str], fleet3: Fleet3
) -> None:
    """Story: the inbox listed `sz-down` and "(600.633602)" with nothing saying that the
    number was seconds offline, where the station is, or for how long."""
    fleet3.alarm("sz-ok", "camera_down", "raised")
    items = {a["rule"]: a for a in client.get(OPS + "/alarms", headers=viewer).json()["items"]}
    offline = items["station_offline"]
    assert (offline["station_name"], offline["station_city"]) == ("Station sz-down", "深圳")
    assert offline["station_tz"] == "Asia/Shanghai"
    assert offline["metric"] == "offline_s"
    assert offline["value"] > 600
    assert offline["since"] <= offline["raised_at"]
    warm = items["fridge_warm"]
    assert (warm["station_name"], warm["station_city"], warm["metric"]) == (
        "Fridge Station",
        "上海",
        "fridge_c",
    )
    assert warm["value"] == 9.5
    assert items["camera_down"]["metric"] is None  # the station's own alarm: no number
    detail = client.get(OPS + "/stations/sh-warm", headers=viewer).json()
    assert [a["metric"] for a in detail["alarms"]] == ["fridge_c"]


def test_alarm_inbox_and_acknowledge_by_an_operator_only(
    client: TestClient,
    engine: Engine,
    as_role: Callable[[Role], dict[str, str]],
    viewer: dict[str, str],
    fleet3: Fleet3,
) -> None:
    fleet3.alarm("sz-ok", "camera_down", "raised")
    fleet3.alarm("sz-ok", "camera_down", "cleared")
    inbox = client.get(OPS + "/alarms", headers=viewer).json()
    assert [a["rule"] for a in inbox["items"]] == ["station_offline", "fridge_warm"]
    everything = client.get(OPS + "/alarms", params={"state": "all"}, headers=viewer).json()
    rules = ["camera_down", "station_offline", "fridge_warm"]
    assert [a["rule"] for a in everything["items"]] == rules
    first = client.get(OPS + "/alarms", params={"state": "all", "limit": 2}, headers=viewer)
    cursor = first.json()["next_before"]
    rest = client.get(OPS + "/alarms", params={"state": "all", "before": cursor}, headers=viewer)
    assert [a["rule"] for a in rest.json()["items"]] == ["fridge_warm"]
    assert rest.json()["next_before"] is None
    cleared = client.get(OPS + "/alarms", params={"state": "cleared"}, headers=viewer).json()
    assert [(a["rule"], a["station_id"]) for a in cleared["items"]] == [("camera_down", "sz-ok")]
    in_sh = client.get(OPS + "/alarms", params={"city": "上海"}, headers=viewer).json()
    assert [a["rule"] for a in in_sh["items"]] == ["fridge_warm"]

    alarm_id = inbox["items"][1]["id"]
    assert client.post(f"{OPS}/alarms/{alarm_id}/ack", headers=viewer).status_code == 403
    operator = as_role(Role.OPERATOR)
    acked = client.post(f"{OPS}/alarms/{alarm_id}/ack", headers=operator).json()
    assert acked["acknowledged_by"].startswith("operator-")
    assert acked["state"] == "raised"  # seen, not solved: it stays raised
    again = client.post(f"{OPS}/alarms/{alarm_id}/ack", headers=as_role(Role.ADMIN)).json()
    assert again["acknowledged_by"] == acked["acknowledged_by"]  # the first one stands
    with session(engine) as s:
        log = list(s.exec(select(AuditEntry).where(AuditEntry.action == "alarm.ack")))
    assert [(e.target, e.username) for e in log] == [
        (f"alarm:{alarm_id}", acked["acknowledged_by"])
    ]
    unacked = client.get(OPS + "/alarms", params={"unacknowledged": True}, headers=viewer)
    assert [a["rule"] for a in unacked.json()["items"]] == ["station_offline"]
    assert client.post(f"{OPS}/alarms/999999/ack", headers=operator).status_code == 404


def test_telemetry_series_buckets_any_number_in_the_heartbeat(
    client: TestClient, viewer: dict[str, str], fleet3: Fleet3, clock: Any
) -> None:
    since = (clock.now - timedelta(minutes=20)).isoformat()
    until = (clock.now + timedelta(seconds=1)).isoformat()  # ranges are half-open
    params = {"metric": "sensors.fridge_c", "since": since, "until": until, "bucket_s": 600}
    body = client.get(OPS + "/stations/sh-warm/telemetry", params=params, headers=viewer).json()
    assert body["bucket_s"] == 600
    assert sum(p["n"] for p in body["points"]) == 33
    assert {(p["min"], p["max"]) for p in body["points"]} == {(9.5, 9.5)}
    cpu = client.get(
        OPS + "/stations/sz-ok/telemetry", params={"metric": "cpu_temp_c"}, headers=viewer
    ).json()
    assert sum(p["n"] for p in cpu["points"]) == 32  # the last 24 h up to now, excluded
    assert cpu["points"][0]["mean"] == 50.0

    def status(**params: Any) -> int:
        return client.get(
            OPS + "/stations/sz-ok/telemetry", params=params, headers=viewer
        ).status_code

    assert status(metric="cpu temp") == 422
    assert status(metric="cpu_temp_c", since="2026-01-01T00:00:00") == 422  # naive
    assert status(metric="cpu_temp_c", since="2020-01-01T00:00:00Z") == 422  # too long
    assert status(metric="cpu_temp_c", bucket_s=1) == 422  # too many points
    assert status() == 422
    assert (
        client.get(
            OPS + "/stations/nope/telemetry", params={"metric": "x"}, headers=viewer
        ).status_code
        == 404
    )


def test_uptime_splits_each_local_day_by_status(
    client: TestClient, viewer: dict[str, str], fleet3: Fleet3
) -> None:
    # the 16 minutes just played end now; from 23:44 to 00:00 in the station's zone they
    # started yesterday, and the part before local midnight belongs to yesterday's row
    local = fleet3.clock.now.astimezone(ZoneInfo(DEFAULT_TZ))
    since_midnight = (local - local.replace(hour=0, minute=0, second=0)).total_seconds()
    in_today = min(16 * 60, since_midnight)
    days = client.get(OPS + "/stations/sz-ok/uptime", params={"days": 2}, headers=viewer).json()
    assert len(days) == 2
    yesterday, today = days
    assert today["day"] == local.date().isoformat()
    assert today["seconds"]["online"] == pytest.approx(in_today, abs=1)
    assert yesterday["seconds"].get("online", 0.0) == pytest.approx(16 * 60 - in_today, abs=1)
    assert set(today["seconds"]) <= {"online", "unknown"}
    down = client.get(OPS + "/stations/sz-down/uptime", params={"days": 1}, headers=viewer)
    (day,) = down.json()
    assert day["seconds"]["lost"] == pytest.approx(in_today, abs=1)
    assert day["up_pct"] is not None
    assert day["up_pct"] < 100


def test_uptime_splits_the_minutes_either_side_of_local_midnight(
    client: TestClient,
    viewer: dict[str, str],
    engine: Engine,
    clock: Any,
    add_station: Callable[..., Station],
) -> None:
    """Played so that local midnight falls in the middle: 6 minutes yesterday, 10 today."""
    zone = ZoneInfo(DEFAULT_TZ)
    midnight = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    clock.now = (midnight - timedelta(minutes=6)).astimezone(UTC)
    Fleet3(engine, clock, add_station).play()
    days = client.get(OPS + "/stations/sz-ok/uptime", params={"days": 2}, headers=viewer).json()
    assert [d["day"] for d in days] == [
        (midnight - timedelta(days=1)).date().isoformat(),
        midnight.date().isoformat(),
    ]
    assert days[0]["seconds"]["online"] == pytest.approx(6 * 60, abs=1)
    assert days[1]["seconds"]["online"] == pytest.approx(10 * 60, abs=1)


def test_metrics_need_the_token_or_a_local_scraper(
    db_url: str, engine: Engine, clock: Any, fleet3: Fleet3
) -> None:
    from cloud.main import create_app
    from cloud.settings import Settings

    plain = create_app(Settings(db=db_url, index_refresh_s=0), clock=clock)
    with TestClient(plain) as remote:
        assert remote.get("/metrics").status_code == 403
    with TestClient(plain, client=("127.0.0.1", 40000)) as local:
        text = local.get("/metrics").text
    assert 'waystation_stations{health="down"} 1.0' in text
    assert 'waystation_stations{health="degraded"} 1.0' in text
    assert 'waystation_alarms_raised{rule="fridge_warm",severity="warning"} 1.0' in text
    assert "waystation_alarms_unacknowledged 2.0" in text
    assert "sz-down" not in text  # no station ids in labels
    guarded = create_app(
        Settings(db=db_url, index_refresh_s=0, metrics_token="s3cret"), clock=clock
    )
    with TestClient(guarded, client=("127.0.0.1", 40000)) as c:
        assert c.get("/metrics").status_code == 403  # a token set is needed even locally
        ok = c.get("/metrics", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200
        assert ok.headers["content-type"].startswith("text/plain")
