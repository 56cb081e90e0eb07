"""Scoped ops accounts, route by route (`cloud.auth.scope`, `cloud.api.scoping`), on SQLite
and PostgreSQL.

Three stations: a-1 (partner 甲银行 in 滨州), a-2 (甲银行 in 济南), b-1 (乙邮政 in 滨州). An
account scoped to 甲银行 gets 404 (or 403 where its role is short anyway) for every read
and write about b-1 and sees only a-1 and a-2 in every list, summary, map and live stream; a
city account for 滨州 sees a-1 and b-1; a union account sees all three. Each refusal sits
next to the matching acceptance, so a test cannot pass because everything is refused.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any
from uuid import uuid4

import pytest
from fastapi import Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import Engine, insert, select
from sqlmodel import Session

from cloud.alarms.models import Alarm
from cloud.api.ops_live import LiveConfig, LiveHub
from cloud.api.scoping import scoped
from cloud.auth import Role, issue_token, require_role
from cloud.auth.scope import make_scope
from cloud.auth.users import add_user
from cloud.clock import utcnow
from cloud.commands.models import Command
from cloud.feedback.models import StationReport, StationSuggestion
from cloud.models import FootfallInterval, Station, table

ALARM, REPORT, COMMAND = table(Alarm), table(StationReport), table(Command)
SUGGESTION, FOOTFALL = table(StationSuggestion), table(FootfallInterval)
OPS = "/api/v1/ops"
A, B = "甲银行", "乙邮政"
PASSWORD = "correct horse battery"


@pytest.fixture
def world(engine: Engine, clock: Any, add_station: Callable[..., Station]) -> dict[str, Any]:
    """The three stations, an alarm, a report, a command and footfall on each, a suggestion."""
    add_station("a-1", operator=A, city="滨州")
    add_station("a-2", operator=A, city="济南")
    add_station("b-1", operator=B, city="滨州")
    now = clock.now
    ids: dict[str, Any] = {"alarm": {}, "report": {}, "cmd": {}}
    with engine.begin() as conn:
        for sid in ("a-1", "a-2", "b-1"):
            ids["alarm"][sid] = conn.execute(
                insert(ALARM).values(
                    station_id=sid, rule="camera_down", severity="warning", source="cloud",
                    state="raised", since=now, raised_at=now, updated_at=now,
                ).returning(ALARM.c.id)
            ).scalar_one()  # fmt: skip
            ids["report"][sid] = conn.execute(
                insert(REPORT)
                .values(station_id=sid, kind="dirty", text="", created_at=now)
                .returning(REPORT.c.id)
            ).scalar_one()
            ids["cmd"][sid] = f"cmd-{sid}"
            conn.execute(
                insert(COMMAND).values(
                    cmd_id=f"cmd-{sid}", station_id=sid, name="unlock", args={}, state="sent",
                    requested_by="root", requested_at=now, expires_at=now + timedelta(seconds=30),
                )
            )  # fmt: skip
            conn.execute(
                insert(FOOTFALL).values(
                    station_id=sid, interval_start=now - timedelta(minutes=30), seconds=300,
                    entries=10 if sid == "b-1" else 1, exits=0, occupancy=0, seq=1,
                    received_at=now,
                )
            )  # fmt: skip
        ids["suggestion"] = conn.execute(
            insert(SUGGESTION)
            .values(lat=37.4, lon=118.0, name="这里", note="", created_at=now)
            .returning(SUGGESTION.c.id)
        ).scalar_one()
    return ids


@pytest.fixture
def account(engine: Engine) -> Callable[..., dict[str, str]]:
    """An account with a role and a scope; its bearer-token headers."""

    def make(role: Role, operators: tuple[str, ...] = (), cities: tuple[str, ...] = ()) -> Any:
        name = f"{role.value}-{uuid4().hex[:6]}"
        with Session(engine) as s:
            scope = make_scope(operators, cities)
            add_user(s, name, role, PASSWORD, now=utcnow(), scope=scope)
            s.commit()
        return {"Authorization": f"Bearer {issue_token(engine, name)}"}

    return make


def _reads(sid: str, world: dict[str, Any]) -> list[str]:
    """Every GET about one station."""
    return [
        f"{OPS}/stations/{sid}",
        f"{OPS}/stations/{sid}/telemetry?metric=cpu_temp",
        f"{OPS}/stations/{sid}/uptime",
        f"{OPS}/stations/{sid}/events",
        f"{OPS}/stations/{sid}/commands",
        f"{OPS}/commands/{world['cmd'][sid]}",
        f"{OPS}/footfall/stations/{sid}",
        f"{OPS}/footfall/stations/{sid}/busiest-hours",
    ]


def test_a_partner_account_reads_its_stations_and_gets_404_for_the_others(
    client: TestClient, world: dict[str, Any], account: Callable[..., dict[str, str]]
) -> None:
    partner = account(Role.OPERATOR, operators=(A,))
    for path in _reads("a-1", world):
        assert client.get(path, headers=partner).status_code == 200, path
    for path in _reads("b-1", world):
        r = client.get(path, headers=partner)
        assert r.status_code == 404, path
    # the same answer as for a station that does not exist: nothing reveals b-1
    hidden = client.get(f"{OPS}/stations/b-1", headers=partner).json()
    missing = client.get(f"{OPS}/stations/zz-9", headers=partner).json()
    assert hidden["detail"].replace("b-1", "X") == missing["detail"].replace("zz-9", "X")
    union = account(Role.OPERATOR)
    for path in _reads("b-1", world):
        assert client.get(path, headers=union).status_code == 200, path
    # config: the partner reads its own station's (404: none stored yet, as for the union)
    own = client.get(f"{OPS}/stations/a-1/config", headers=partner)
    other = client.get(f"{OPS}/stations/b-1/config", headers=partner)
    assert own.status_code == other.status_code == 404
    assert "desired config" in own.json()["detail"]
    assert other.json()["detail"] == "no station 'b-1'"


def test_a_partner_account_cannot_act_on_another_partners_station(
    client: TestClient, engine: Engine, world: dict[str, Any], account: Callable[..., Any]
) -> None:
    sent: list[Any] = []
    client.app.state.publish = sent.extend  # type: ignore[attr-defined]
    partner = account(Role.OPERATOR, operators=(A,))
    unlock = {"name": "unlock"}

    assert (
        client.post(f"{OPS}/stations/b-1/commands", json=unlock, headers=partner).status_code == 404
    )
    assert sent == []
    r = client.post(f"{OPS}/stations/a-1/commands", json=unlock, headers=partner)
    assert r.status_code == 202, r.text
    assert len(sent) == 1
    reboot = {"name": "reboot"}
    assert client.post(
        f"{OPS}/stations/b-1/commands", json=reboot, headers=partner
    ).status_code in (403, 404)
    put = {"override": {}}
    assert client.put(f"{OPS}/stations/b-1/config", json=put, headers=partner).status_code in (
        403,
        404,
    )

    b_alarm, a_alarm = world["alarm"]["b-1"], world["alarm"]["a-1"]
    assert client.post(f"{OPS}/alarms/{b_alarm}/ack", headers=partner).status_code == 404
    assert client.post(f"{OPS}/alarms/{a_alarm}/ack", headers=partner).status_code == 200
    b_report, a_report = world["report"]["b-1"], world["report"]["a-1"]
    assert client.post(f"{OPS}/reports/{b_report}/resolve", headers=partner).status_code == 404
    assert client.post(f"{OPS}/reports/{a_report}/resolve", headers=partner).status_code == 200
    suggestion = world["suggestion"]
    assert (
        client.post(f"{OPS}/suggestions/{suggestion}/resolve", headers=partner).status_code == 404
    )

    with engine.connect() as conn:
        acked = dict(conn.execute(select(ALARM.c.station_id, ALARM.c.acknowledged_by)).all())
        resolved = dict(conn.execute(select(REPORT.c.station_id, REPORT.c.resolved_at)).all())
    assert acked["b-1"] is None
    assert acked["a-1"] is not None
    assert resolved["b-1"] is None
    assert resolved["a-1"] is not None

    union = account(Role.OPERATOR)
    assert client.post(f"{OPS}/alarms/{b_alarm}/ack", headers=union).status_code == 200
    assert client.post(f"{OPS}/suggestions/{suggestion}/resolve", headers=union).status_code == 200


def _ids(client: TestClient, headers: dict[str, str]) -> dict[str, set[str]]:
    """What each list and summary shows the account."""
    fleet = client.get(f"{OPS}/fleet", headers=headers).json()
    stations = client.get(f"{OPS}/stations", headers=headers).json()
    alarms = client.get(f"{OPS}/alarms", headers=headers).json()
    reports = client.get(f"{OPS}/reports", headers=headers).json()
    map_rows = client.get(f"{OPS}/map/stations", headers=headers).json()
    return {
        "fleet": {str(fleet["stations"]), str(fleet["alarms_raised"])},
        "stations": {s["id"] for s in stations["items"]},
        "alarms": {a["station_id"] for a in alarms["items"]},
        "reports": {r["station_id"] for r in reports["items"]},
        "map": {row[0] for row in map_rows["rows"]},
        "suggestions": {
            s["name"] for s in client.get(f"{OPS}/suggestions", headers=headers).json()["items"]
        },
    }


def test_lists_summaries_and_the_map_show_only_the_scope(
    client: TestClient, world: dict[str, Any], account: Callable[..., Any]
) -> None:
    partner = _ids(client, account(Role.VIEWER, operators=(A,)))
    city = _ids(client, account(Role.VIEWER, cities=("滨州",)))
    both = _ids(client, account(Role.VIEWER, operators=(A,), cities=("滨州",)))
    union = _ids(client, account(Role.VIEWER))
    for key in ("stations", "alarms", "reports", "map"):
        assert partner[key] == {"a-1", "a-2"}, key
        assert city[key] == {"a-1", "b-1"}, key
        assert both[key] == {"a-1"}, key
        assert union[key] == {"a-1", "a-2", "b-1"}, key
    assert partner["fleet"] == {"2"}  # 2 stations, 2 raised alarms
    assert union["fleet"] == {"3"}
    assert partner["suggestions"] == set()
    assert union["suggestions"] == {"这里"}


def test_city_footfall_counts_only_the_stations_in_scope(
    client: TestClient, world: dict[str, Any], account: Callable[..., Any]
) -> None:
    def entries(headers: dict[str, str], city: str) -> Any:
        r = client.get(f"{OPS}/footfall/cities/{city}?resolution=hour", headers=headers)
        return r.json()["entries"] if r.status_code == 200 else r.status_code

    partner = account(Role.VIEWER, operators=(A,))
    city = account(Role.VIEWER, cities=("济南",))
    union = account(Role.VIEWER)
    assert entries(union, "滨州") == 11  # a-1 (1) and b-1 (10)
    assert entries(partner, "滨州") == 1  # a-1 only
    assert entries(city, "滨州") == 404
    assert entries(city, "济南") == 1
    busiest = f"{OPS}/footfall/cities/滨州/busiest-hours"
    assert client.get(busiest, headers=city).status_code == 404
    assert client.get(busiest, headers=partner).status_code == 200


def test_a_scope_change_applies_at_the_next_request(
    client: TestClient, engine: Engine, world: dict[str, Any], account: Callable[..., Any]
) -> None:
    admin = account(Role.ADMIN)
    viewer = account(Role.VIEWER, operators=(A,))
    me = client.get(f"{OPS}/auth/me", headers=viewer).json()
    assert me["scope"] == {"everything": False, "operators": [A], "cities": []}
    name = me["username"]
    assert client.get(f"{OPS}/stations/b-1", headers=viewer).status_code == 404

    r = client.put(f"{OPS}/auth/users/{name}/scope", json={"operators": [B]}, headers=admin)
    assert r.status_code == 200, r.text
    assert client.get(f"{OPS}/stations/b-1", headers=viewer).status_code == 200
    assert client.get(f"{OPS}/stations/a-1", headers=viewer).status_code == 404
    assert [s["username"] for s in client.get(f"{OPS}/auth/scopes", headers=admin).json()] == [name]
    r = client.put(f"{OPS}/auth/users/{name}/scope", json={}, headers=admin)
    assert r.json()["everything"] is True
    assert client.get(f"{OPS}/stations/a-1", headers=viewer).status_code == 200
    # an admin is union-wide; a viewer may not manage scopes
    admin_name = client.get(f"{OPS}/auth/me", headers=admin).json()["username"]
    r = client.put(f"{OPS}/auth/users/{admin_name}/scope", json={"cities": ["滨州"]}, headers=admin)
    assert r.status_code == 422
    assert client.put(f"{OPS}/auth/users/{name}/scope", json={}, headers=viewer).status_code == 403
    audit = client.get(f"{OPS}/audit?action=user.scope", headers=admin).json()["items"]
    assert [e["detail"]["to"] for e in audit] == ["all", f"operator={B}"]


# --- the live stream ---------------------------------------------------------------------


def _stream(client: TestClient, headers: dict[str, str], into: list[str]) -> None:
    with client.stream("GET", f"{OPS}/live", headers=headers) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            into.append(line)


def test_the_live_stream_never_sends_events_of_out_of_scope_stations(
    client: TestClient,
    engine: Engine,
    clock: Any,
    world: dict[str, Any],
    account: Callable[..., Any],
) -> None:
    hub = LiveHub(engine, LiveConfig(interval_s=0.05, heartbeat_s=0.5, max_stream_s=2.0))
    client.app.state.ops_live = hub  # type: ignore[attr-defined]
    partner, union = account(Role.VIEWER, operators=(A,)), account(Role.VIEWER)
    got: dict[str, list[str]] = {"partner": [], "union": []}
    threads = [
        threading.Thread(target=_stream, args=(client, h, got[k]))
        for k, h in (("partner", partner), ("union", union))
    ]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while hub.listeners < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert hub.listeners == 2
    # Past the baseline poll, and one more so both listeners are greeted: what follows is
    # news (a sleep here lost the race under load: the alarms became part of the baseline).
    polls = hub.polls
    while hub.polls < polls + 2 and time.monotonic() < deadline + 5:
        time.sleep(0.02)
    assert hub.polls >= polls + 2
    later = clock.now + timedelta(seconds=5)
    with engine.begin() as conn:
        for sid in ("a-2", "b-1"):
            conn.execute(
                insert(ALARM).values(
                    station_id=sid, rule="fridge_warm", severity="warning", source="cloud",
                    state="raised", since=later, raised_at=later, updated_at=later,
                )
            )  # fmt: skip
        conn.execute(
            insert(ALARM).values(
                station_id=None, rule="cloud_blind", severity="critical", source="cloud",
                state="raised", since=later, raised_at=later, updated_at=later,
            )
        )  # fmt: skip
    for t in threads:
        t.join(10)
    partner_text, union_text = "\n".join(got["partner"]), "\n".join(got["union"])
    assert "event: hello" in partner_text
    assert "event: hello" in union_text
    assert '"station_id":"a-2"' in partner_text
    assert '"station_id":"b-1"' not in partner_text
    assert "b-1" not in partner_text
    assert "cloud_blind" not in partner_text
    assert '"station_id":"b-1"' in union_text
    assert "cloud_blind" in union_text
    hello = next(
        line for line in got["partner"] if line.startswith("data:") and "by_health" in line
    )
    assert '"stations":2' in hello


# --- every ops route says how it handles scope -------------------------------------------

# What a path parameter names, and the scope rule a route taking it must declare.
PARAM_RULE = {
    "sid": "station",
    "alarm_id": "alarm",
    "report_id": "report",
    "cmd_id": "command",
    "city": "city",
    "suggestion_id": "suggestion",
    "ticket": "ticket",
    "item_id": "feedback",
}


def _ops_routes(app: FastAPI) -> list[tuple[str, Dependant]]:
    """(path, dependant) of every route under /api/v1/ops, routers' own dependencies in."""
    out = []
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        if context.path and context.path.startswith(OPS) and dependant is not None:
            out.append((context.path, dependant))
    return out


def _rules(dependant: Dependant) -> set[str]:
    found: set[str] = set()
    todo = [dependant]
    while todo:
        dep = todo.pop()
        rule = getattr(dep.call, "scope_rule", None)
        if rule:
            found.add(rule)
        todo.extend(dep.dependencies)
    return found


def undeclared(app: FastAPI) -> list[str]:
    """Routes under /api/v1/ops that do not declare their scope handling, or that take a
    station-like path parameter without the matching check."""
    bad = []
    for path, dependant in _ops_routes(app):
        rules = _rules(dependant)
        if not rules:
            bad.append(f"{path}: no scope rule")
            continue
        if "admin" in rules:
            continue  # admins are union-wide
        for param in dependant.path_params:
            need = PARAM_RULE.get(param.name)
            if need is not None and need not in rules:
                bad.append(f"{path}: {{{param.name}}} without the {need!r} check")
    return sorted(set(bad))


def test_every_ops_route_declares_its_scope_handling(client: TestClient) -> None:
    app = client.app
    assert isinstance(app, FastAPI)
    assert len(_ops_routes(app)) > 30
    assert undeclared(app) == []


RoleOnly = Annotated[Any, Depends(require_role(Role.VIEWER))]
ListOnly = Annotated[Any, Depends(scoped(Role.VIEWER))]


def test_a_new_route_without_a_scope_rule_is_caught(client: TestClient) -> None:
    """A route added with only a role check (the easy mistake) fails the walk above."""
    app = client.app
    assert isinstance(app, FastAPI)

    def forgotten(sid: str, _: RoleOnly) -> None: ...

    def half(sid: str, _: ListOnly) -> None: ...

    app.add_api_route(f"{OPS}/stations/{{sid}}/forgotten", forgotten)
    app.add_api_route(f"{OPS}/stations/{{sid}}/half", half)
    assert undeclared(app) == [
        f"{OPS}/stations/{{sid}}/forgotten: no scope rule",
        f"{OPS}/stations/{{sid}}/half: {{sid}} without the 'station' check",
    ]


def test_a_partner_moves_only_its_own_stations_tickets(
    client: TestClient, world: dict[str, Any], account: Callable[..., Any]
) -> None:
    """Feedback tickets (`/ops/tickets/{ticket}/state`): a report's by its station's scope, a
    suggestion's by union accounts only."""
    tickets = {}
    for sid in ("a-1", "b-1"):
        sent = client.post("/api/v1/reports", json={"station_id": sid, "kind": "dirty"})
        assert sent.status_code in (200, 201), sent.text
        tickets[sid] = sent.json()["ticket"]
    suggested = client.post(
        "/api/v1/suggestions", json={"name": "新站", "lat": 37.38, "lon": 117.97, "note": "这里缺"}
    )
    assert suggested.status_code in (200, 201), suggested.text
    partner, union = account(Role.OPERATOR, operators=(A,)), account(Role.OPERATOR)
    review = {"state": "under_review", "note": "收到"}

    def move(ticket: str, headers: dict[str, str]) -> int:
        url = f"{OPS}/tickets/{ticket}/state"
        return client.post(url, json=review, headers=headers).status_code

    assert move(tickets["b-1"], partner) == 404
    assert move(suggested.json()["ticket"], partner) == 404
    assert move(tickets["a-1"], partner) == 200
    assert move(tickets["b-1"], union) == 200
    assert move(suggested.json()["ticket"], union) == 200


def test_every_station_route_answers_404_for_a_station_that_does_not_exist(
    client: TestClient, world: dict[str, Any], account: Callable[..., dict[str, str]]
) -> None:
    """`station_access` looks the station up for union accounts too: a misspelt `{sid}` is a
    404 before any route code runs (a route that forgot its own check used to write rows
    about no station — the maintenance route did)."""
    app = client.app
    assert isinstance(app, FastAPI)
    admin = account(Role.ADMIN)
    tried = []
    for context in iter_route_contexts(app.routes):
        dependant = getattr(context, "dependant", None)
        path = context.path or ""
        if dependant is None or "{sid}" not in path or "station" not in _rules(dependant):
            continue
        url = re.sub(r"\{[a-z_]+\}", "1", path.replace("{sid}", "no-such-station"))
        for method in sorted(set(getattr(context, "methods", None) or {"GET"}) - {"HEAD"}):
            r = client.request(method, url, headers=admin, json={})
            tried.append(f"{method} {path}")
            assert r.status_code == 404, f"{method} {url}: {r.status_code} {r.text}"
            assert "no-such-station" in r.json()["detail"]
    assert len(tried) > 15, tried
