"""Scope dependencies for the ops routes: role check plus the account's scope, in one place.

Every route under `/api/v1/ops` declares how it handles scope by taking one of these (or
`require_role(Role.ADMIN)`: admins are union-wide) — tests/cloud/api/test_cloud_api_ops_scope.py
walks the app's routes and fails for any route that does not:

- `scoped(role)`: lists and summaries; the route filters with `principal.scope.where()`
  (stations) or `.owns(column)` (rows about a station);
- `station_access(role)`: routes with a `{sid}` path; 404 unless the station is in scope;
- `alarm_access`, `report_access`, `command_access`, `suggestion_access`,
  `feedback_access`: routes about one row; 404 unless the row's station is in scope (a
  suggestion, which has no station: unless its city is, `Scope.allows_place`);
- `city_access(role)`: routes with a `{city}` path; 404 when the scope excludes that city
  (the route still filters the city's stations by the scope);
- `no_station_data(role)`, or `accounts_only` on a router: routes that show nothing about
  stations (login, the caller's account, account management, the map's tile settings).

The rule itself is `cloud.auth.scope.Scope`. An out-of-scope row answers the same 404 as a
missing one, with the same words, so an account learns nothing about stations outside its
scope. Row routes let union accounts through without a lookup (the route's own 404 applies);
`station_access` looks the station up for every account, so an unknown or misspelt `{sid}` is
a 404 before any route code runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import HTTPException, Path, Request
from sqlalchemy import Select, null, select

from cloud.alarms.models import PENDING, Alarm
from cloud.api.deps import MAX_ROW_ID
from cloud.auth.deps import require_role
from cloud.auth.roles import Principal, Role
from cloud.commands.models import Command
from cloud.feedback.models import StationReport, StationSuggestion
from cloud.feedback.tickets import normalise
from cloud.models import Station, table

STATION, ALARM, REPORT, COMMAND = table(Station), table(Alarm), table(StationReport), table(Command)
SUGGESTION = table(StationSuggestion)
RowIdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
FeedbackKind = Literal["report", "suggestion"]

Dependency = Callable[..., Principal]


def _mark(dependency: Any, rule: str, role: Role) -> Any:
    dependency.scope_rule = rule
    dependency.__name__ = f"{rule}_{role.value}"
    return dependency


def _in_scope(
    request: Request,
    principal: Principal,
    query: Select[Any] | None,
    missing: str,
    *,
    must_exist: bool = False,
) -> Principal:
    """`principal` if it sees everything, or if the one station `query` selects (operator,
    city) exists and is in its scope; else 404 `missing`, the words for a row that does not
    exist (a scoped account learns nothing of other partners' rows). `query` None: the row
    has no station (union accounts only). `must_exist`: the row is looked up for accounts
    that see everything too (404 when it is not there)."""
    if principal.scope.everything and not must_exist:
        return principal
    if query is not None:
        with request.app.state.ctx.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is not None and principal.scope.allows(row.operator, row.city):
            return principal
    raise HTTPException(404, missing)


_OWNER = select(STATION.c.operator, STATION.c.city)


def _owner(table: Any, station_id: Any) -> Select[Any]:
    """The (operator, city) of the station a row of `table` is about."""
    return _OWNER.join_from(table, STATION, STATION.c.id == station_id)


# A suggestion's owner for `_in_scope`: no operator/partner, its city (cloud.feedback.city);
# `Scope.allows(None, city)` is then `Scope.allows_place(city)`.
_PLACE = select(null().label("operator"), SUGGESTION.c.city)


def accounts_only() -> None:
    """A router-level marker for routes about accounts, not stations (login, logout, the
    caller's own account, user and token management): nothing to filter."""


accounts_only.scope_rule = "none"  # type: ignore[attr-defined]


def scoped(role: Role) -> Dependency:
    """The caller (with `role`); the route filters what it lists by `principal.scope`."""
    check = require_role(role)

    def dependency(request: Request) -> Principal:
        return check(request)

    return _mark(dependency, "filter", Role(role))


def no_station_data(role: Role) -> Dependency:
    """The caller (with `role`), for routes that carry no station data at all."""
    check = require_role(role)

    def dependency(request: Request) -> Principal:
        return check(request)

    return _mark(dependency, "none", Role(role))


def station_access(role: Role) -> Dependency:
    """The caller, when the `{sid}` of the path is a registered station in its scope; else
    404 — for union accounts too, so no route under it acts on a station that does not exist
    (each used to check for itself, and one that forgot wrote rows about no station)."""
    check = require_role(role)

    def dependency(request: Request, sid: str) -> Principal:
        query = _OWNER.where(STATION.c.id == sid)
        return _in_scope(request, check(request), query, f"no station {sid!r}", must_exist=True)

    return _mark(dependency, "station", Role(role))


def city_access(role: Role) -> Dependency:
    """The caller, unless its scope names cities and `{city}` is not one of them (404). An
    operator-scoped account may ask for any city; the route counts only its stations there."""
    check = require_role(role)

    def dependency(request: Request, city: str) -> Principal:
        principal = check(request)
        cities = principal.scope.cities
        if cities and city.strip() not in cities:
            raise HTTPException(404, f"no station in city {city!r}")
        return principal

    return _mark(dependency, "city", Role(role))


def alarm_access(role: Role) -> Dependency:
    """The caller, when alarm `{alarm_id}` is about a station in its scope; else 404. Alarms
    about no station (the cloud itself) are for union accounts."""
    check = require_role(role)

    def dependency(request: Request, alarm_id: RowIdPath) -> Principal:
        query = _owner(ALARM, ALARM.c.station_id).where(
            ALARM.c.id == alarm_id, ALARM.c.state != PENDING
        )
        return _in_scope(request, check(request), query, f"no alarm {alarm_id}")

    return _mark(dependency, "alarm", Role(role))


def report_access(role: Role) -> Dependency:
    """The caller, when worker report `{report_id}` is about a station in its scope; else 404."""
    check = require_role(role)

    def dependency(request: Request, report_id: RowIdPath) -> Principal:
        query = _owner(REPORT, REPORT.c.station_id).where(REPORT.c.id == report_id)
        return _in_scope(request, check(request), query, f"no report {report_id}")

    return _mark(dependency, "report", Role(role))


def command_access(role: Role) -> Dependency:
    """The caller, when command `{cmd_id}` went to a station in its scope; else 404."""
    check = require_role(role)

    def dependency(request: Request, cmd_id: str) -> Principal:
        query = _owner(COMMAND, COMMAND.c.station_id).where(COMMAND.c.cmd_id == cmd_id)
        return _in_scope(request, check(request), query, f"no command {cmd_id!r}")

    return _mark(dependency, "command", Role(role))


def suggestion_access(role: Role) -> Dependency:
    """The caller, when suggestion `{suggestion_id}` lies in a city of its scope (a
    suggestion has no operator/partner: partner-scoped accounts see none); else 404."""
    check = require_role(role)

    def dependency(request: Request, suggestion_id: RowIdPath) -> Principal:
        query = _PLACE.where(SUGGESTION.c.id == suggestion_id)
        return _in_scope(request, check(request), query, f"no suggestion {suggestion_id}")

    return _mark(dependency, "suggestion", Role(role))


def feedback_access(role: Role) -> Dependency:
    """The caller, when inbox item `{kind}/{item_id}` (a report by its station, a suggestion
    by its city) is in its scope; else 404."""
    check = require_role(role)

    def dependency(request: Request, kind: FeedbackKind, item_id: RowIdPath) -> Principal:
        if kind == "report":
            query = _owner(REPORT, REPORT.c.station_id).where(REPORT.c.id == item_id)
        else:
            query = _PLACE.where(SUGGESTION.c.id == item_id)
        return _in_scope(request, check(request), query, f"no {kind} {item_id}")

    return _mark(dependency, "feedback", Role(role))


def ticket_access(role: Role) -> Dependency:
    """The caller, when feedback ticket `{ticket}` is in its scope: a report's by its
    station, a suggestion's by its city (as `suggestion_access`); else 404."""
    check = require_role(role)

    def dependency(request: Request, ticket: str) -> Principal:
        code = normalise(ticket[:40])
        query = None  # a malformed number: union accounts only (the route's 404 follows)
        if code is not None and code.startswith("R-"):
            query = _owner(REPORT, REPORT.c.station_id).where(REPORT.c.ticket == code)
        elif code is not None:
            query = _PLACE.where(SUGGESTION.c.ticket == code)
        return _in_scope(request, check(request), query, "no such ticket")

    return _mark(dependency, "ticket", Role(role))
