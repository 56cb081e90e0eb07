"""The ops feedback inbox over HTTP (SQLite and PostgreSQL): reports and suggestions in one
list, assign → reply → close with an audit row each, the worker's ticket page showing the
union's reply (never the assignee), input errors naming the field, scope (a partner never
sees or touches another partner's items: 404), and the open counts in the fleet table and
on the station page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from cloud.auth import Role, issue_token
from cloud.auth.models import AuditEntry
from cloud.auth.scope import make_scope
from cloud.auth.users import add_user
from cloud.clock import utcnow
from cloud.models import Station

OPS = "/api/v1/ops"
A, B = "甲银行", "乙邮政"


@pytest.fixture(autouse=True)
def _stations(add_station: Callable[..., Station]) -> None:
    add_station("a-1", name="甲一站", operator=A, city="滨州", lat=37.38, lon=117.97)
    add_station("b-1", name="乙一站", operator=B, city="济南", lat=36.65, lon=117.12)


@pytest.fixture
def account(engine: Engine) -> Callable[..., tuple[str, dict[str, str]]]:
    """An account with a role and a scope: its name and bearer-token headers."""

    def make(role: Role, operators: tuple[str, ...] = (), cities: tuple[str, ...] = ()) -> Any:
        name = f"{role.value}-{uuid4().hex[:6]}"
        with Session(engine) as s:
            add_user(s, name, role, "correct horse battery", now=utcnow(),
                     scope=make_scope(operators, cities))  # fmt: skip
            s.commit()
        return name, {"Authorization": f"Bearer {issue_token(engine, name)}"}

    return make


def _report(client: TestClient, sid: str, kind: str = "dirty", text: str = "") -> dict[str, Any]:
    r = client.post("/api/v1/reports", json={"station_id": sid, "kind": kind, "text": text})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _suggest(client: TestClient, lat: float, lon: float, name: str) -> dict[str, Any]:
    r = client.post("/api/v1/suggestions", json={"lat": lat, "lon": lon, "name": name})
    assert r.status_code == 201, r.text
    return dict(r.json())


def _audit(engine: Engine, target: str) -> list[tuple[str, str, dict[str, Any]]]:
    with Session(engine) as s:
        rows = s.exec(
            select(AuditEntry).where(col(AuditEntry.target) == target).order_by(col(AuditEntry.id))
        ).all()
    return [(r.action, r.username, r.detail) for r in rows]


def test_assign_reply_and_resolve_show_on_the_workers_ticket_and_are_audited(
    client: TestClient, engine: Engine, account: Callable[..., Any], clock: Any
) -> None:
    # Story: a worker reports a dirty station; the union assigns it, replies, resolves; the
    # worker's ticket page shows the reply and the state, never who handled it.
    report = _report(client, "a-1", text="地上有水")
    clock.advance(60)
    suggestion = _suggest(client, 37.39, 117.98, "新站")
    lead, lead_h = account(Role.OPERATOR)
    crew, crew_h = account(Role.OPERATOR)
    page = client.get(f"{OPS}/feedback", headers=lead_h).json()
    assert page["total"] == 2
    assert [(i["kind"], i["id"]) for i in page["items"]] == [
        ("suggestion", suggestion["id"]), ("report", report["id"]),
    ]  # fmt: skip
    assert page["items"][0]["city"] == "滨州"  # the nearest station's
    item = f"{OPS}/feedback/report/{report['id']}"

    assignees = client.get(f"{item}/assignees", headers=lead_h).json()
    assert {lead, crew} <= set(assignees)
    r = client.post(f"{item}/assign", json={"assignee": crew}, headers=lead_h)
    assert r.status_code == 200, r.text
    assert (r.json()["assignee"], r.json()["state"]) == (crew, "under_review")
    mine = client.get(f"{OPS}/feedback", params={"mine": "true"}, headers=crew_h).json()
    assert [i["id"] for i in mine["items"]] == [report["id"]]
    assert client.get(f"{OPS}/feedback", params={"mine": "true"}, headers=lead_h).json() == {
        "total": 0, "items": [],
    }  # fmt: skip

    text = "已安排保洁，<b>今天</b>下午处理。\r\n谢谢！"
    r = client.post(f"{item}/reply", json={"text": text}, headers=crew_h)
    assert r.status_code == 200, r.text
    assert r.json()["reply"] == "已安排保洁，<b>今天</b>下午处理。\n谢谢！"
    r = client.post(f"{item}/close", json={"outcome": "resolved"}, headers=crew_h)
    assert r.status_code == 200, r.text
    assert (r.json()["state"], r.json()["resolved_by"]) == ("resolved", crew)
    again = client.post(f"{item}/close", json={"outcome": "declined"}, headers=crew_h)
    assert again.status_code == 409

    ticket = client.get(f"/api/v1/tickets/{report['ticket']}")
    assert ticket.status_code == 200
    public = ticket.json()
    assert (public["state"], public["reply"]) == (
        "resolved",
        "已安排保洁，<b>今天</b>下午处理。\n谢谢！",
    )
    assert crew not in ticket.text
    assert lead not in ticket.text
    target = f"report:{report['id']}"
    assert _audit(engine, target) == [
        ("feedback.assign", lead, {"assignee": crew}),
        ("feedback.reply", crew, {"chars": len(public["reply"])}),
        ("feedback.close", crew, {"outcome": "resolved", "station": "a-1"}),
    ]
    resolved = client.get(f"{OPS}/feedback", params={"state": "resolved"}, headers=lead_h)
    assert [i["id"] for i in resolved.json()["items"]] == [report["id"]]


def test_a_suggestion_is_declined_with_a_note_the_worker_reads(
    client: TestClient, account: Callable[..., Any]
) -> None:
    suggestion = _suggest(client, 37.39, 117.98, "新站")
    _, op = account(Role.OPERATOR)
    item = f"{OPS}/feedback/suggestion/{suggestion['id']}"
    wrong = client.post(f"{item}/close", json={"outcome": "resolved"}, headers=op)
    assert wrong.status_code == 422
    assert "outcome" in wrong.json()["detail"]
    built = client.post(f"{item}/close", json={"outcome": "built"}, headers=op)
    assert (built.status_code, "station_id" in built.json()["detail"]) == (422, True)
    r = client.post(
        f"{item}/close", json={"outcome": "declined", "note": "附近已有驿站"}, headers=op
    )
    assert r.status_code == 200, r.text
    public = client.get(f"/api/v1/tickets/{suggestion['ticket']}").json()
    assert (public["state"], public["reply"]) == ("declined", "附近已有驿站")


def test_closing_a_locked_report_clears_the_stations_flag_as_resolving_does(
    client: TestClient, account: Callable[..., Any]
) -> None:
    report = _report(client, "a-1", kind="locked")
    _, op = account(Role.OPERATOR)
    detail = client.get(f"{OPS}/stations/a-1", headers=op).json()
    assert detail["reported_locked_at"] is not None
    assert [a["rule"] for a in detail["alarms"]] == ["reported_locked"]
    assert detail["feedback_open"] == 1
    r = client.post(
        f"{OPS}/feedback/report/{report['id']}/close",
        json={"outcome": "declined", "note": "门是开着的"},
        headers=op,
    )
    assert r.status_code == 200, r.text
    detail = client.get(f"{OPS}/stations/a-1", headers=op).json()
    assert (detail["reported_locked_at"], detail["alarms"], detail["feedback_open"]) == (
        None,
        [],
        0,
    )


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("reply", {"text": "长" * 1001}, "at most 1000"),
        ("reply", {"text": "   "}, "text"),
        ("reply", {"text": "ok\x07"}, "U+0007"),
        ("assign", {"assignee": "nobody-here"}, "assignee"),
        ("close", {"outcome": "built"}, "outcome"),
        ("close", {"outcome": "resolved", "extra": 1}, "extra"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    client: TestClient, account: Callable[..., Any], path: str, body: dict[str, Any], says: str
) -> None:
    report = _report(client, "a-1")
    _, op = account(Role.OPERATOR)
    r = client.post(f"{OPS}/feedback/report/{report['id']}/{path}", json=body, headers=op)
    assert r.status_code == 422, r.text
    assert says in r.text
    listing = client.get(f"{OPS}/feedback", params={"category": "flooded"}, headers=op)
    assert (listing.status_code, "category" in listing.text) == (422, True)


def test_a_viewer_reads_the_inbox_but_cannot_act(
    client: TestClient, account: Callable[..., Any]
) -> None:
    report = _report(client, "a-1")
    _, viewer = account(Role.VIEWER)
    item = f"{OPS}/feedback/report/{report['id']}"
    assert client.get(item, headers=viewer).status_code == 200
    assert client.post(f"{item}/reply", json={"text": "hi"}, headers=viewer).status_code == 403
    assert client.get(f"{OPS}/feedback/report/999999", headers=viewer).status_code == 404


def test_a_partner_neither_sees_nor_acts_on_another_partners_items(
    client: TestClient, engine: Engine, account: Callable[..., Any]
) -> None:
    mine, theirs = _report(client, "a-1")["id"], _report(client, "b-1")["id"]
    near_a = _suggest(client, 37.39, 117.98, "滨州新站")["id"]
    a_name, a_h = account(Role.OPERATOR, operators=(A,))
    b_name, _ = account(Role.OPERATOR, operators=(B,))
    bz_name, bz_h = account(Role.OPERATOR, cities=("滨州",))
    union_name, union_h = account(Role.OPERATOR)

    def listed(headers: dict[str, str]) -> set[tuple[str, int]]:
        items = client.get(f"{OPS}/feedback", params={"state": "all"}, headers=headers)
        return {(i["kind"], i["id"]) for i in items.json()["items"]}

    assert listed(a_h) == {("report", mine)}  # a partner: no suggestions (no partner yet)
    assert listed(bz_h) == {("report", mine), ("suggestion", near_a)}  # its city's
    assert len(listed(union_h)) == 3

    other = f"{OPS}/feedback/report/{theirs}"
    refusals = [
        client.get(other, headers=a_h),
        client.get(f"{other}/assignees", headers=a_h),
        client.post(f"{other}/assign", json={"assignee": a_name}, headers=a_h),
        client.post(f"{other}/reply", json={"text": "x"}, headers=a_h),
        client.post(f"{other}/close", json={"outcome": "resolved"}, headers=a_h),
        client.get(f"{OPS}/feedback/suggestion/{near_a}", headers=a_h),
    ]
    assert [r.status_code for r in refusals] == [404] * 6
    assert refusals[0].json()["detail"] == f"no report {theirs}"  # as for a missing one
    assert client.get(f"{OPS}/feedback/report/{mine}", headers=a_h).status_code == 200
    assert client.get(f"{OPS}/feedback/suggestion/{near_a}", headers=bz_h).status_code == 200

    # The assignee must see the item too: partner B's operator cannot be put on A's report.
    assignees = set(client.get(f"{OPS}/feedback/report/{mine}/assignees", headers=a_h).json())
    assert {a_name, bz_name, union_name} <= assignees
    assert b_name not in assignees
    r = client.post(f"{OPS}/feedback/report/{mine}/assign", json={"assignee": b_name}, headers=a_h)
    assert (r.status_code, "assignee" in r.text) == (422, True)
    assert _audit(engine, f"report:{theirs}") == []


def test_the_fleet_table_counts_open_feedback_per_station(
    client: TestClient, account: Callable[..., Any]
) -> None:
    first = _report(client, "a-1")
    _report(client, "a-1", kind="other")
    _, op = account(Role.OPERATOR)
    client.post(
        f"{OPS}/feedback/report/{first['id']}/close", json={"outcome": "resolved"}, headers=op
    )
    _report(client, "a-1", kind="broken")
    rows = {
        s["id"]: s["feedback"] for s in client.get(f"{OPS}/stations", headers=op).json()["items"]
    }
    assert rows == {"a-1": 2, "b-1": 0}


def test_a_city_account_handles_the_suggestions_of_its_city_on_every_route(
    client: TestClient, account: Callable[..., Any]
) -> None:
    # Story: suggestions were union-only, so a city's own operators never saw the stations
    # workers asked for in their city.
    near_a = _suggest(client, 37.39, 117.98, "滨州新站")
    near_b = _suggest(client, 36.66, 117.13, "济南新站")
    nowhere = _suggest(client, 40.0, 120.0, "远处")
    _, bz = account(Role.OPERATOR, cities=("滨州",))
    _, partner = account(Role.OPERATOR, operators=(A,))
    listed = client.get(f"{OPS}/suggestions", headers=bz).json()["items"]
    assert [s["name"] for s in listed] == ["滨州新站"]
    assert client.get(f"{OPS}/suggestions", headers=partner).json()["items"] == []
    for other in (near_b, nowhere):
        r = client.post(f"{OPS}/suggestions/{other['id']}/resolve", headers=bz)
        assert r.status_code == 404
        r = client.post(
            f"{OPS}/tickets/{other['ticket']}/state", json={"state": "declined"}, headers=bz
        )
        assert r.status_code == 404
    r = client.post(
        f"{OPS}/tickets/{near_a['ticket']}/state", json={"state": "under_review"}, headers=bz
    )
    assert r.status_code == 200, r.text
    assert client.post(f"{OPS}/suggestions/{near_a['id']}/resolve", headers=bz).status_code == 200


def test_declining_a_locked_reports_ticket_clears_the_flag_too(
    client: TestClient, account: Callable[..., Any]
) -> None:
    report = _report(client, "a-1", kind="locked")
    _, op = account(Role.OPERATOR)
    r = client.post(
        f"{OPS}/tickets/{report['ticket']}/state",
        json={"state": "declined", "note": "门是开着的"},
        headers=op,
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "declined"
    detail = client.get(f"{OPS}/stations/a-1", headers=op).json()
    assert (detail["reported_locked_at"], detail["alarms"]) == (None, [])
