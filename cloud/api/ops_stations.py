"""Stations managed over HTTP: create, edit, retire, reinstate, and import a registry file.

Admins anywhere; operators within their scope (`cloud.api.scoping`; the rules on what a
scoped account may create or move are `cloud.stations.edit`'s). Every change is written to
the audit log with the changed fields' values before and after, in the change's own
transaction: `station.create`, `station.edit`, `station.retire`, `station.reinstate`, and
one `station.import` row per station a file created or changed.

An edit that moves a station's hours or position also refreshes and publishes its desired
config (the door hours follow the registry: `cloud.stations.desired_config`) when the
station has an agent or was ever given a config; `config` in the answer says how that went.
The workers' map shows the change within `WAYSTATION_INDEX_REFRESH_S` seconds.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Engine, select

from cloud.api.deps import ContextDep
from cloud.api.ops_commands import publisher
from cloud.api.scoping import no_station_data, scoped, station_access
from cloud.auth import Principal, Role, audit
from cloud.auth.scope import Scope
from cloud.commands import service
from cloud.models import Station, StationState, table
from cloud.mqttpub import PublishError
from cloud.sheetfile import SheetError, decode
from cloud.stations import desired_config, edit, registry
from cloud.transaction import session
from protocol.amenities import VOCABULARY

Operator = Annotated[Principal, Depends(scoped(Role.OPERATOR))]
StationOperator = Annotated[Principal, Depends(station_access(Role.OPERATOR))]
Publish = Annotated[service.Publish, Depends(publisher)]
STATION, STATE = table(Station), table(StationState)
MAX_AUDITED = 5_000  # stations one import may change; past it, use `waystation stations import`

router = APIRouter(prefix="/api/v1/ops", tags=["ops"])


class AmenityWord(BaseModel):
    name: str
    zh: str
    en: str


@router.get("/amenities", response_model=list[AmenityWord])
def amenities(_: Annotated[Principal, Depends(no_station_data(Role.VIEWER))]) -> list[AmenityWord]:
    """The amenity vocabulary (`protocol.amenities`) with its labels, for the station form."""
    return [AmenityWord(name=a.name, zh=a.zh, en=a.en) for a in VOCABULARY]


class StationFields(BaseModel):
    """Fields of a station; in a PATCH only those given change. `coord_system`: the datum
    of `lat`/`lon` (`gcj02`: as Amap/Tencent maps show them; stored as WGS-84)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    lat: float | None = None
    lon: float | None = None
    coord_system: edit.CoordSystem = "wgs84"
    amenities: list[str] | str | None = None
    opening_hours: str | None = None
    operator: str | None = None
    address: str | None = None
    city: str | None = None
    capacity: int | None = None
    entrance_hint: str | None = None
    contact_phone: str | None = None

    def values(self) -> dict[str, Any]:
        given = self.model_dump(exclude={"coord_system"}, exclude_unset=True)
        return edit.wgs84(given, self.coord_system)


class NewStation(StationFields):
    id: str = Field(max_length=40, description="lower-case, [a-z0-9-]{3,40}")
    name: str  # type: ignore[assignment]
    lat: float  # type: ignore[assignment]
    lon: float  # type: ignore[assignment]


class StationChange(BaseModel):
    station_id: str
    changed: bool
    before: dict[str, Any]
    after: dict[str, Any]
    config: Literal["sent", "not_sent", "none"] = Field(
        default="none",
        description="the desired config: sent, not_sent (broker unreachable; `waystation "
        "stations push-config` later), none (no agent, or nothing it carries changed)",
    )


class ImportResult(BaseModel):
    dry_run: bool
    created: int
    updated: int
    unchanged: int
    encoding: str = Field(description="how the file was read: utf-8, utf-8-sig, gb18030")


def _refused(exc: edit.EditError) -> HTTPException:
    return HTTPException(exc.status, str(exc))


def _push_config(engine: Engine, change: edit.Change, publish: service.Publish, now: Any) -> str:
    """Publish the station's refreshed desired config if it has an agent or had one."""
    if not change.needs_config:
        return "none"
    sid = change.station_id
    with engine.connect() as conn:
        agent = conn.execute(select(STATE.c.station_id).where(STATE.c.station_id == sid)).first()
        given = conn.execute(select(desired_config.DESIRED.c.station_id).where(
            desired_config.DESIRED.c.station_id == sid)).first()  # fmt: skip
    if agent is None and given is None:
        return "none"
    try:
        desired_config.push(engine, publish, [sid], now)
    except PublishError:
        return "not_sent"
    return "sent"


def _answer(change: edit.Change, config: str = "none") -> StationChange:
    return StationChange(
        station_id=change.station_id,
        changed=change.changed,
        before=change.before,
        after=change.after,
        config=config,  # type: ignore[arg-type]
    )


def _jsonable(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in values.items()}


def _audit(s: Any, principal: Principal, action: str, change: edit.Change, now: Any) -> None:
    detail = {"before": _jsonable(change.before), "after": _jsonable(change.after)}
    audit(s, principal, action, f"station:{change.station_id}", detail, at=now)


@router.post("/stations", status_code=201, response_model=StationChange)
def create_station(ctx: ContextDep, principal: Operator, body: NewStation) -> StationChange:
    """A new station (admins anywhere; operators inside their scope)."""
    now = ctx.clock()
    values = {"id": body.id, **body.values()}
    with session(ctx.engine) as s:
        try:
            change = edit.create(s, values, scope=principal.scope)
        except edit.EditError as exc:
            raise _refused(exc) from exc
        _audit(s, principal, "station.create", change, now)
    return _answer(change)


@router.patch("/stations/{sid}", response_model=StationChange)
def edit_station(
    ctx: ContextDep, principal: StationOperator, sid: str, body: StationFields, publish: Publish
) -> StationChange:
    """Change the fields given; an operator may not move a station out of its scope."""
    now = ctx.clock()
    with session(ctx.engine) as s:
        try:
            change = edit.edit(s, sid, body.values(), scope=principal.scope)
        except edit.EditError as exc:
            raise _refused(exc) from exc
        if change is None:
            raise HTTPException(404, f"no station {sid!r}")
        if change.changed:
            _audit(s, principal, "station.edit", change, now)
    return _answer(change, _push_config(ctx.engine, change, publish, now))


def _retire(ctx: Any, principal: Principal, sid: str, retired: bool) -> StationChange:
    now = ctx.clock()
    with session(ctx.engine) as s:
        change = edit.set_retired(s, sid, retired, now=now)
        if change is None:
            raise HTTPException(404, f"no station {sid!r}")
        if change.changed:
            action = "station.retire" if retired else "station.reinstate"
            _audit(s, principal, action, change, now)
    return _answer(change)


@router.post("/stations/{sid}/retire", response_model=StationChange)
def retire_station(ctx: ContextDep, principal: StationOperator, sid: str) -> StationChange:
    """Off the map, the nearby search, its public page and the fleet lists; its rows and
    history stay, and `reinstate` puts it back."""
    return _retire(ctx, principal, sid, True)


@router.post("/stations/{sid}/reinstate", response_model=StationChange)
def reinstate_station(ctx: ContextDep, principal: StationOperator, sid: str) -> StationChange:
    """Undo a retirement: the station is back on the map and in the lists as it was."""
    return _retire(ctx, principal, sid, False)


def _scope_errors(
    engine: Engine, lines: list[tuple[int, registry.StationRecord]], scope: Scope
) -> list[str]:
    """`line N: …` for each record an account may not write: a new station outside its
    scope, or an existing one it cannot see (or would move out of it)."""
    if scope.everything:
        return []
    ids = [r.id for _, r in lines]
    owners: dict[str, tuple[str, str]] = {}
    with engine.connect() as conn:
        for i in range(0, len(ids), 500):
            query = select(STATION.c.id, STATION.c.operator, STATION.c.city).where(
                STATION.c.id.in_(ids[i : i + 500])
            )
            owners |= {r.id: (r.operator, r.city) for r in conn.execute(query)}
    errors = []
    for line, r in lines:
        owner = owners.get(r.id)
        if owner is not None and not scope.allows(*owner):
            errors.append(f"line {line}: id: {r.id!r} is not one of your stations")
        elif not scope.allows(r.operator, r.city):
            errors.append(
                f"line {line}: operator: {r.operator!r} in city {r.city!r} is outside your "
                f"scope ({scope.describe()})"
            )
    return errors


@router.post("/stations/import", response_model=ImportResult)
async def import_stations(
    request: Request,
    ctx: ContextDep,
    principal: Operator,
    format: Annotated[Literal["csv", "geojson"], Query(description="the body's format")] = "csv",
    dry_run: Annotated[bool, Query(description="check and count only, change nothing")] = False,
) -> ImportResult:
    """A registry file as the body (CSV as Excel writes it, or GeoJSON), all or nothing, by
    the rules of `waystation stations import`; 422 with `detail.errors`, one `line N: …` per
    problem (403 when the problems are the account's scope). `dry_run=1` answers the same
    counts without changing anything."""
    raw = await request.body()  # at most LARGE_BODY_PATHS' cap (cloud.api.security)
    if not raw.strip():
        raise HTTPException(422, "file: empty")
    return await run_in_threadpool(_import, ctx, principal, raw, format == "geojson", dry_run)


def _import(
    ctx: Any, principal: Principal, raw: bytes, geojson: bool, dry_run: bool
) -> ImportResult:
    try:
        text, encoding = decode(raw)
        lines = registry.parse_lines(text, geojson=geojson)
    except SheetError as exc:
        raise HTTPException(422, {"errors": [str(exc)]}) from exc
    except registry.RegistryError as exc:
        raise HTTPException(422, {"errors": exc.errors}) from exc
    if len(lines) > MAX_AUDITED:
        raise HTTPException(
            422, f"file: {len(lines)} stations, at most {MAX_AUDITED} here (use the CLI import)"
        )
    errors = _scope_errors(ctx.engine, lines, principal.scope)
    if errors:
        raise HTTPException(403, {"errors": errors})
    now = ctx.clock()

    def audited(s: Any, sid: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        _audit(s, principal, "station.import", edit.Change(sid, before, after), now)

    records = [r for _, r in lines]
    report = registry.upsert(
        ctx.engine, records, encoding=encoding, on_change=audited, dry_run=dry_run
    )
    return ImportResult(
        dry_run=dry_run,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        encoding=encoding,
    )
