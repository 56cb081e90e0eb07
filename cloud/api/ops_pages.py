"""The ops dashboard's pages: `/ops` (login required, else a redirect to `/ops/login`), the
login form, the page's own static files (vendored Leaflet; no CDN) and the map config.

Every answer carries a strict Content-Security-Policy (scripts only from files of this
server, no inline script or style elements, no framing) and `Referrer-Policy: no-referrer`.
The data itself comes from the ops API, which checks the role on every request; the page
shell holds nothing secret, but is still served only to a logged-in browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from pydantic import BaseModel, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import bindparam, func, select

from cloud.api.deps import ContextDep
from cloud.api.scoping import no_station_data, scoped
from cloud.auth import Principal, Role, optional_principal
from cloud.models import Station, StationState, table
from cloud.sql.types import UTCDateTime
from cloud.stations.maintenance import in_maintenance
from cloud.web import leaflet

WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "ops"
JS = "text/javascript; charset=utf-8"
CSS = "text/css; charset=utf-8"
# The dashboard's files; anything else under /ops/static/ is a 404 (no directory serving).
STATIC = {
    "app.js": JS,
    "api.js": JS,
    "live.js": JS,
    "map.js": JS,
    "charts.js": JS,
    "station.js": JS,
    "config.js": JS,
    "thresholds.js": JS,
    "maintenance.js": JS,
    "alarms.js": JS,
    "accounts.js": JS,
    "inbox.js": JS,
    "fleet.js": JS,
    "stationedit.js": JS,
    "login.js": JS,
    "dom.js": JS,
    "i18n.js": JS,
    "lang.js": JS,
    "strings.js": JS,
    "reports.js": JS,
    "style.css": CSS,
    # the admin pages (members, bulk config, notifications)
    "adminviews.js": JS,
    "strings_admin.js": JS,
    "members.js": JS,
    "bulkconfig.js": JS,
    "notify.js": JS,
    "vendor/leaflet.markercluster.js": JS,
    "vendor/MarkerCluster.css": CSS,
    "vendor/MarkerCluster.Default.css": CSS,
    "vendor/LICENSE.markercluster.txt": "text/plain; charset=utf-8",
}
HTML = "text/html; charset=utf-8"
Viewer = Annotated[Principal, Depends(no_station_data(Role.VIEWER))]
ScopedViewer = Annotated[Principal, Depends(scoped(Role.VIEWER))]
STATION = table(Station)
STATE = table(StationState)
MAP_FIELDS = ("id", "name", "lat", "lon", "city", "operator", "health", "status", "maintenance")

router = APIRouter(tags=["ops pages"], include_in_schema=False)


class OpsMapSettings(BaseSettings):
    """The dashboard map's background, from `WAYSTATION_OPS_MAP_*`. No tile URL (the default)
    draws stations on a plain background with city outlines and a graticule: works offline."""

    model_config = SettingsConfigDict(env_prefix="WAYSTATION_OPS_MAP_", extra="ignore")

    tile_url: str | None = Field(
        default=None,
        description="XYZ tile template, e.g. https://tiles.example.org/{z}/{x}/{y}.png "
        "({s} for subdomains allowed)",
    )
    attribution: str = Field(default="", max_length=300, description="shown on the map")
    max_zoom: int = Field(default=18, ge=1, le=22)

    @field_validator("tile_url", mode="before")
    @classmethod
    def _check_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        text = str(value).strip()
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("tile_url must be an http(s) URL")
        if not all(k in text for k in ("{z}", "{x}", "{y}")):
            raise ValueError("tile_url needs {z}, {x} and {y}")
        return text

    @property
    def tile_origin(self) -> str | None:
        """The tiles' origin for the CSP (`{s}.` becomes a wildcard subdomain)."""
        if self.tile_url is None:
            return None
        parts = urlsplit(self.tile_url)
        return f"{parts.scheme}://{parts.netloc.replace('{s}', '*')}"


class MapConfig(BaseModel):
    tile_url: str | None
    attribution: str
    max_zoom: int


def map_settings(request: Request) -> OpsMapSettings:
    """Read once per app from the environment; tests may set `app.state.ops_map`."""
    found: OpsMapSettings | None = getattr(request.app.state, "ops_map", None)
    if found is None:
        found = OpsMapSettings()
        request.app.state.ops_map = found
    return found


def security_headers(response: Response, tile_origin: str | None) -> Response:
    img = "'self' data:" + (f" {tile_origin}" if tile_origin else "")
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; script-src 'self'; style-src 'self'; "
        f"img-src {img}; connect-src 'self'; font-src 'self'; manifest-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    return response


def _page(request: Request, name: str) -> Response:
    response = FileResponse(WEB_DIR / name, media_type=HTML)
    response.headers["Cache-Control"] = "no-store"
    return security_headers(response, map_settings(request).tile_origin)


def _signed_in(request: Request) -> Principal | None:
    """The caller, or None for no login, an expired session or a bad cookie: a page
    answers those with the login form, not a 401."""
    try:
        return optional_principal(request)
    except HTTPException as exc:
        if exc.status_code == 401:
            return None
        raise


@router.get("/ops")
@router.get("/ops/")
def ops_page(request: Request) -> Response:
    """The dashboard (map, fleet, alarms, station pages), or a redirect to the login form."""
    if _signed_in(request) is None:
        login = "/ops/login" + (f"?{request.url.query}" if request.url.query else "")  # ?lang=
        return security_headers(RedirectResponse(login, status_code=303), None)
    return _page(request, "index.html")


@router.get("/ops/login")
def login_page(request: Request) -> Response:
    return _page(request, "login.html")


@router.get("/ops/static/{name:path}")
def static_file(request: Request, name: str) -> Response:
    """The dashboard's own files (public: code and styles, no data)."""
    if name in leaflet.FILES:
        path, media = leaflet.FILES[name]
    elif name in STATIC:
        path, media = WEB_DIR / name, STATIC[name]
    else:
        raise HTTPException(404, "not found")
    response = FileResponse(path, media_type=media)
    response.headers["Cache-Control"] = "no-cache"
    return security_headers(response, map_settings(request).tile_origin)


@router.get("/api/v1/ops/map-config", response_model=MapConfig)
def map_config(request: Request, _: Viewer) -> MapConfig:
    s = map_settings(request)
    return MapConfig(tile_url=s.tile_url, attribution=s.attribution, max_zoom=s.max_zoom)


class MapStations(BaseModel):
    """Every station in one compact answer (the map draws them all; 10,000 stations are
    ~0.7 MB as JSON): `rows` are lists in the order of `fields`."""

    fields: list[str]
    rows: list[list[str | float | bool]]


_MAP_ROWS = (
    select(
        STATION.c.id,
        STATION.c.name,
        STATION.c.lat,
        STATION.c.lon,
        STATION.c.city,
        STATION.c.operator,
        func.coalesce(STATE.c.health, "unknown"),
        func.coalesce(STATE.c.history_status, "unknown"),
        in_maintenance(bindparam("now", type_=UTCDateTime())),
    )
    .select_from(STATION.outerjoin(STATE, STATE.c.station_id == STATION.c.id))
    .where(STATION.c.retired_at.is_(None))
    .order_by(STATION.c.id)
)


@router.get("/api/v1/ops/map/stations", response_model=MapStations)
def map_stations(ctx: ContextDep, principal: ScopedViewer) -> MapStations:
    """All stations (of the caller's scope, not retired) with position and health as the
    monitor last judged them."""
    within = principal.scope.where()
    query = _MAP_ROWS if within is None else _MAP_ROWS.where(within)
    with ctx.engine.connect() as conn:
        rows = [list(r) for r in conn.execute(query, {"now": ctx.clock()})]
    return MapStations(fields=list(MAP_FIELDS), rows=rows)
