"""Sensor alarm thresholds over HTTP: a station's effective thresholds (default or its
override), set or drop its overrides, and one change for many stations.

The cloud's monitor judges them (`cloud.alarms.thresholds`); nothing is sent to the station.
`GET` needs `viewer`; writes need `admin` (a threshold set too high silences an alarm). A `PUT`
body is the station's whole set of overrides, as the config card's `PUT` is: a rule it does
not name goes back to its default. Every write is audited with the overrides before and after.
The fleet-wide `POST /thresholds/bulk` selects stations as `POST /config/bulk` does
(`cloud.stations.desired_config.select_stations`) and previews unless `apply` is true.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field
from sqlalchemy import Connection

from cloud.alarms import thresholds
from cloud.api.deps import ContextDep
from cloud.api.ops_config import BulkTarget, bulk_stations
from cloud.api.scoping import no_station_data, scoped, station_access
from cloud.auth import Principal, Role, audit

Viewer = Annotated[Principal, Depends(station_access(Role.VIEWER))]
Admin = Annotated[Principal, Depends(station_access(Role.ADMIN))]
FleetAdmin = Annotated[Principal, Depends(scoped(Role.ADMIN))]
Anyone = Annotated[Principal, Depends(no_station_data(Role.VIEWER))]

router = APIRouter(prefix="/api/v1/ops", tags=["ops"])


class Limits(BaseModel):
    """One rule's override; a field left out or null keeps the default. Limits are in the
    metric's unit (°C, %, hours), durations in seconds."""

    raise_above: float | None = None
    clear_below: float | None = None
    raise_after_s: float | None = Field(default=None, ge=0, le=thresholds.MAX_DURATION_S)
    clear_after_s: float | None = Field(default=None, ge=0, le=thresholds.MAX_DURATION_S)


class ThresholdsIn(BaseModel):
    rules: dict[str, Limits] = Field(max_length=16, description="rule → override; the whole set")


class RuleDefault(BaseModel):
    rule: str
    metric: str
    low: float = Field(description="lowest limit the metric allows")
    high: float = Field(description="highest limit the metric allows")
    default: dict[str, float]


class RuleView(RuleDefault):
    override: dict[str, float | None] | None
    effective: dict[str, float] = Field(description="what the monitor judges the station by")
    set_by: str | None
    changed_at: datetime | None


class ThresholdsView(BaseModel):
    station_id: str
    rules: list[RuleView]


class BulkThresholdsIn(BulkTarget):
    """Overrides set on every station matching all the filters given: a named rule's override
    replaces each station's own, a null one sends it back to the default, a rule not named
    keeps each station's own. `apply: false` previews."""

    rules: dict[str, Limits | None] = Field(min_length=1, max_length=16)
    apply: bool = False


class BulkThresholdsOut(BaseModel):
    matched: int = Field(description="stations the filters select")
    station_ids: list[str] = Field(description="the first 50 of them")
    applied: bool


def _limits(rules: dict[str, Any]) -> dict[str, dict[str, float | None] | None]:
    return {k: None if v is None else v.model_dump() for k, v in rules.items()}


def _store(conn: Connection, sids: list[str], rules: dict[str, Any], by: str, now: datetime,
           *, whole: bool, field: str) -> None:  # fmt: skip
    try:
        thresholds.put(conn, sids, rules, by=by, now=now, whole=whole)
    except thresholds.ThresholdError as exc:
        raise HTTPException(422, f"{field}.{exc}") from exc


def _plain(overrides: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Overrides as the audit log keeps them (the limits only)."""
    return {rule: {k: v[k] for k in thresholds.FIELDS} for rule, v in overrides.items()}


def _view(conn: Connection, sid: str) -> ThresholdsView:
    rules = [RuleView.model_validate(r) for r in thresholds.view(conn, sid)]
    return ThresholdsView(station_id=sid, rules=rules)


@router.get("/thresholds", response_model=list[RuleDefault])
def default_thresholds(_: Anyone) -> list[RuleDefault]:
    """The rules a station may have its own thresholds for, with their defaults."""
    return [RuleDefault.model_validate(r) for r in thresholds.defaults()]


@router.get("/stations/{sid}/thresholds", response_model=ThresholdsView)
def station_thresholds(ctx: ContextDep, _: Viewer, sid: str) -> ThresholdsView:
    with ctx.engine.connect() as conn:
        return _view(conn, sid)


@router.put("/stations/{sid}/thresholds", response_model=ThresholdsView)
def set_station_thresholds(
    ctx: ContextDep, principal: Admin, sid: str, body: ThresholdsIn
) -> ThresholdsView:
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        before = _plain(thresholds.station_overrides(conn, sid))
        _store(conn, [sid], _limits(body.rules), principal.username, now, whole=True,
               field="rules")  # fmt: skip
        after = _plain(thresholds.station_overrides(conn, sid))
        detail = {"before": before, "after": after}
        audit(conn, principal, "thresholds.set", f"station:{sid}", detail, at=now)
        return _view(conn, sid)


@router.delete("/stations/{sid}/thresholds", response_model=ThresholdsView)
def drop_station_thresholds(
    ctx: ContextDep,
    principal: Admin,
    sid: str,
    rule: Annotated[str | None, Query(max_length=40, description="one rule; none: all")] = None,
) -> ThresholdsView:
    """Back to the defaults: one rule's override, or all of the station's."""
    now = ctx.clock()
    with ctx.engine.begin() as conn:
        if rule is not None and rule not in thresholds.TUNABLE:
            raise HTTPException(422, f"rule: {rule!r} is not a station sensor threshold")
        before = _plain(thresholds.station_overrides(conn, sid))
        thresholds.remove(conn, sid, rule)
        after = _plain(thresholds.station_overrides(conn, sid))
        detail = {"before": before, "after": after, "rule": rule}
        audit(conn, principal, "thresholds.reset", f"station:{sid}", detail, at=now)
        return _view(conn, sid)


@router.post("/thresholds/bulk", response_model=BulkThresholdsOut)
def set_fleet_thresholds(
    ctx: ContextDep, principal: FleetAdmin, body: BulkThresholdsIn
) -> BulkThresholdsOut:
    """Preview (`apply: false`, the default) or apply one threshold change to many stations,
    checked whole first, stored and audited in one transaction."""
    now = ctx.clock()
    rules = _limits(body.rules)
    with ctx.engine.begin() as conn:
        sids = bulk_stations(conn, body, principal)
        # A preview checks too (nothing written): the admin learns of a bad limit first.
        _store(conn, sids if body.apply else [], rules, principal.username, now, whole=False,
               field="rules")  # fmt: skip
        if body.apply:
            filters = body.model_dump(include={"city", "operator"}, exclude_none=True)
            detail = {"filters": filters, "after": rules, "stations": len(sids)}
            audit(conn, principal, "thresholds.bulk", f"stations:{len(sids)}", detail, at=now)
    return BulkThresholdsOut(matched=len(sids), station_ids=sids[:50], applied=body.apply)
