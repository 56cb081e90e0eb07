"""`cloud.feedback.inbox`: reports and suggestions in one list (filters, paging, scope
conditions), assigning, replying and closing, and the open counts per station."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection

from cloud.auth.scope import make_scope
from cloud.feedback import inbox, records
from cloud.feedback.city import CITY_RADIUS_M, city_near
from cloud.feedback.inbox import InboxFilter

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _world(db: Connection, put_station: Callable[..., str]) -> dict[str, int]:
    """Two stations of two partners in two cities; a report on each and a suggestion near
    the first, filed a minute apart (oldest first)."""
    put_station("bz-1", city="滨州", operator="甲", lat=37.38, lon=117.97)
    put_station("jn-1", city="济南", operator="乙", lat=36.65, lon=117.12)
    at = [T0 + timedelta(minutes=i) for i in range(3)]
    return {
        "bz": records.add_report(db, station_id="bz-1", kind="locked", text="锁着", now=at[0]),
        "jn": records.add_report(db, station_id="jn-1", kind="dirty", text="脏", now=at[1]),
        "sug": records.add_suggestion(
            db, lat=37.39, lon=117.98, name="新站", note="这里人多", now=at[2]
        ),
    }


def _keys(page: inbox.InboxPage) -> list[tuple[str, int]]:
    return [(i.kind, i.id) for i in page.items]


def test_reports_and_suggestions_list_together_newest_first(
    db: Connection, put_station: Callable[..., str]
) -> None:
    ids = _world(db, put_station)
    page = inbox.listing(db, InboxFilter())
    assert page.total == 3
    assert _keys(page) == [("suggestion", ids["sug"]), ("report", ids["jn"]), ("report", ids["bz"])]
    sug, _, bz = page.items
    assert (sug.name, sug.text, sug.city, sug.category, sug.station_id) == (
        "新站", "这里人多", "滨州", "", None,
    )  # fmt: skip
    assert (bz.station_name, bz.city, bz.operator, bz.category, bz.text) == (
        "Station bz-1", "滨州", "甲", "locked", "锁着",
    )  # fmt: skip
    paged = inbox.listing(db, InboxFilter(limit=2, offset=2))
    assert (paged.total, _keys(paged)) == (3, [("report", ids["bz"])])


def test_filters_by_kind_station_city_category_and_state(
    db: Connection, put_station: Callable[..., str]
) -> None:
    ids = _world(db, put_station)

    def keys(**f: object) -> list[tuple[str, int]]:
        return _keys(inbox.listing(db, InboxFilter(**f)))  # type: ignore[arg-type]

    assert keys(kind="suggestion") == [("suggestion", ids["sug"])]
    assert keys(station="bz-1") == [("report", ids["bz"])]  # a station: reports only
    assert keys(city="滨州") == [("suggestion", ids["sug"]), ("report", ids["bz"])]
    assert keys(category="dirty") == [("report", ids["jn"])]
    inbox.assign(db, "report", ids["bz"], "ops-a", T0)
    assert keys(state="assigned") == [("report", ids["bz"])]
    assert keys(state="open") == [("suggestion", ids["sug"]), ("report", ids["jn"])]
    assert keys(assignee="ops-a") == [("report", ids["bz"])]
    assert inbox.close(db, "report", ids["jn"], outcome="declined", by="x", note="", now=T0)
    assert keys(state="resolved") == [("report", ids["jn"])]
    assert len(keys(state="unresolved")) == 2
    assert len(keys(state="all")) == 3


def test_the_scope_conditions_limit_reports_by_station_and_suggestions_by_city(
    db: Connection, put_station: Callable[..., str]
) -> None:
    ids = _world(db, put_station)

    def seen(scope_args: dict[str, list[str]]) -> list[tuple[str, int]]:
        scope = make_scope(**scope_args)
        page = inbox.listing(
            db,
            InboxFilter(),
            stations_within=scope.where(),
            places_within=scope.places(inbox.SUGGESTION.c.city),
        )
        return _keys(page)

    assert seen({"operators": ["乙"]}) == [("report", ids["jn"])]  # no suggestions
    assert seen({"cities": ["滨州"]}) == [("suggestion", ids["sug"]), ("report", ids["bz"])]
    assert len(seen({})) == 3


def test_assign_and_reply_move_a_received_ticket_under_review_and_close_keeps_the_reply(
    db: Connection, put_station: Callable[..., str]
) -> None:
    ids = _world(db, put_station)
    later = T0 + timedelta(hours=1)
    inbox.reply(db, "report", ids["bz"], "已派人去开门", later)
    item = inbox.get_item(db, "report", ids["bz"])
    assert item is not None
    assert (item.state, item.state_at, item.reply, item.replied_at) == (
        "under_review", later, "已派人去开门", later,
    )  # fmt: skip
    inbox.assign(db, "report", ids["bz"], "ops-a", later + timedelta(minutes=5))
    item = inbox.get_item(db, "report", ids["bz"])
    assert item is not None
    assert (item.assignee, item.state_at) == ("ops-a", later)  # already under review
    done = later + timedelta(hours=1)
    assert inbox.close(db, "report", ids["bz"], outcome="resolved", by="ops-a", note="", now=done)
    assert not inbox.close(db, "report", ids["bz"], outcome="declined", by="x", note="n", now=done)
    item = inbox.get_item(db, "report", ids["bz"])
    assert item is not None
    assert (item.state, item.reply, item.resolved_by) == ("resolved", "已派人去开门", "ops-a")
    inbox.assign(db, "report", ids["bz"], None, done)
    item = inbox.get_item(db, "report", ids["bz"])
    assert item is not None
    assert (item.assignee, item.assigned_at) == (None, None)


def test_open_counts_are_per_station_and_leave_out_closed_reports(
    db: Connection, put_station: Callable[..., str]
) -> None:
    ids = _world(db, put_station)
    records.add_report(db, station_id="bz-1", kind="other", text="", now=T0)
    assert inbox.open_counts(db, ["bz-1", "jn-1", "nowhere"]) == {"bz-1": 2, "jn-1": 1}
    inbox.close(db, "report", ids["jn"], outcome="resolved", by="x", note="", now=T0)
    assert inbox.open_counts(db, ["bz-1", "jn-1"]) == {"bz-1": 2}
    assert inbox.open_counts(db, []) == {}


def test_a_suggestion_takes_the_city_of_the_nearest_station_within_the_radius(
    db: Connection, put_station: Callable[..., str]
) -> None:
    put_station("bz-1", city="滨州", lat=37.38, lon=117.97)
    put_station("jn-1", city="济南", lat=36.65, lon=117.12)
    put_station("nc-1", city="", lat=37.0, lon=117.5)  # no city: never claims a point
    assert city_near(db, 37.40, 117.95) == "滨州"
    assert city_near(db, 36.70, 117.10) == "济南"
    # ~0.27° of latitude is ~30 km: just outside the radius of 滨州's station.
    far = 37.38 + (CITY_RADIUS_M + 500) / 111_195
    assert city_near(db, far, 117.97) is None
    assert city_near(db, 37.0, 117.5) is None  # on nc-1, 50+ km from the stations with one
    assert city_near(db, 40.0, 120.0) is None
