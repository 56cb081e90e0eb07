"""One station created, edited, retired or reinstated by an ops account (the dashboard's
station form and `cloud.api.ops_stations`), in the caller's transaction.

The fields are checked by the registry's own rules (`cloud.stations.registry.check_record`:
the same as a row of an imported file), so a station the form saves can always be exported
and imported back. Coordinates are stored in WGS-84, as the registry stores them; the form
may send GCJ-02 (what Amap and Tencent maps show) and they are converted here.

Scope (`cloud.auth.scope`): an account limited to some operators/cities may only create a
station inside its scope and may not move one out of it (by its operator or city): what it
could no longer see, it may not make.

Retiring takes a station off the map, the nearby search, its public page and the fleet
lists, and keeps its row, its events, footfall, alarms and audit history (`retired_at`);
reinstating puts it back as it was. Nothing here deletes a station.

Every change bumps `updated_at` with the wall clock, which is what moves the registry
version the nearby index and the map check every `index_refresh_s` seconds
(`cloud.stations.index`): an edit is on the workers' map within those seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session

from cloud.auth.scope import Scope
from cloud.clock import utcnow
from cloud.models import Station
from cloud.stations import gcj02
from cloud.stations.registry import RegistryError, check_record
from protocol.registry import CSV_COLUMNS, OPTIONAL_COLUMNS

# What the form and the API may set; `id` only when creating.
EDITABLE = tuple(c for c in (*CSV_COLUMNS, *OPTIONAL_COLUMNS) if c != "id")
# Fields the cloud puts into the station's desired config (cloud.stations.desired_config).
CONFIG_FIELDS = frozenset({"opening_hours", "lat", "lon"})
CoordSystem = Literal["wgs84", "gcj02"]


class EditError(ValueError):
    """A refused change; the message starts with the field's name. `status` fits HTTP."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Change:
    """What one action changed: the changed fields' old and new values (`before` is empty
    for a new station). Empty both: nothing changed."""

    station_id: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.after)

    @property
    def needs_config(self) -> bool:
        """The station's desired config (door hours, position) changed with it."""
        return bool(CONFIG_FIELDS & set(self.after))


def wgs84(values: dict[str, Any], coord_system: CoordSystem) -> dict[str, Any]:
    """`values` with `lat`/`lon` in WGS-84; GCJ-02 ones need both (one alone cannot be
    converted)."""
    if coord_system == "wgs84" or ("lat" not in values and "lon" not in values):
        return values
    lat, lon = values.get("lat"), values.get("lon")
    if lat is None or lon is None:
        missing = "lon" if lon is None else "lat"
        raise EditError(f"{missing}: GCJ-02 coordinates need both lat and lon")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon)):
        raise EditError("lat: GCJ-02 coordinates must be numbers")
    wlat, wlon = gcj02.gcj02_to_wgs84(float(lat), float(lon))
    return values | {"lat": round(wlat, 7), "lon": round(wlon, 7)}


def _checked(values: dict[str, Any]) -> dict[str, Any]:
    try:
        record = check_record(values)
    except RegistryError as exc:
        raise EditError("; ".join(exc.errors)) from exc
    return record.model_dump(include=set(EDITABLE))


def _in_scope(scope: Scope, values: dict[str, Any]) -> None:
    if not scope.allows(values.get("operator"), values.get("city")):
        raise EditError(
            f"operator: {values.get('operator')!r} in city {values.get('city')!r} is outside "
            f"your scope ({scope.describe()})",
            403,
        )


def fields_of(station: Station) -> dict[str, Any]:
    """The station's editable fields as stored."""
    return {k: getattr(station, k) for k in EDITABLE}


def create(s: Session, values: dict[str, Any], *, scope: Scope) -> Change:
    """Add a station (`values` with `id`, `name`, `lat`, `lon` and any of `EDITABLE`)."""
    sid = values.get("id")
    if isinstance(sid, str) and s.get(Station, sid.strip()) is not None:
        raise EditError(f"id: a station {sid.strip()!r} exists already", 409)
    checked = _checked(values)
    _in_scope(scope, checked)
    sid = str(values["id"]).strip()
    now = utcnow()
    s.add(Station(id=sid, created_at=now, updated_at=now, **checked))
    s.flush()
    return Change(sid, {}, checked)


def edit(s: Session, sid: str, patch: dict[str, Any], *, scope: Scope) -> Change | None:
    """Change the fields `patch` names; None when there is no such station. Fields the
    patch leaves out are kept; a patch that changes nothing changes nothing (no bump)."""
    station = s.get(Station, sid)
    if station is None:
        return None
    unknown = sorted(set(patch) - set(EDITABLE))
    if unknown:
        raise EditError(f"{unknown[0]}: not a field that can be edited")
    current = fields_of(station)
    after = _checked({"id": sid, **current, **patch})
    changed = {k: after[k] for k in patch if after[k] != current[k]}
    if not changed:
        return Change(sid)
    _in_scope(scope, after)
    for k, v in changed.items():
        setattr(station, k, v)
    station.updated_at = utcnow()
    s.add(station)
    s.flush()
    return Change(sid, {k: current[k] for k in changed}, changed)


def set_retired(s: Session, sid: str, retired: bool, *, now: datetime) -> Change | None:
    """Retire (off the map and the lists, rows kept) or reinstate a station; None when
    there is no such station; an empty Change when it already was."""
    station = s.get(Station, sid)
    if station is None:
        return None
    if (station.retired_at is not None) == retired:
        return Change(sid)
    before = {"retired_at": station.retired_at}
    station.retired_at = now if retired else None
    station.updated_at = utcnow()
    s.add(station)
    s.flush()
    return Change(sid, before, {"retired_at": station.retired_at})
