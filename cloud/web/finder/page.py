"""Serving the finder: the page at `/` in the visitor's language, and its own static files.

The page is public and talks only to the public API (`/api/v1/stations/…`, `/api/v1/places`,
`/api/v1/reports`, `/api/v1/suggestions`, `/api/v1/tickets/…`); `/status` is the public status
page (`/api/v1/status`); `/sw.js` the offline service worker (page, files and the last results
stay usable without network). Language: `?lang=en|zh` wins, then `Accept-Language`, else zh-CN; the
page's own switch remembers a choice in the browser. The base map is optional
(`WAYSTATION_FINDER_TILE_URL`, a Leaflet URL template); without it the map still takes taps
and the list works as always. A strict Content-Security-Policy allows scripts, styles and
requests from this origin only, plus images from the tile server when one is set.
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.web import leaflet
from protocol.amenities import GROUPS, VOCABULARY

WEB_DIR = Path(__file__).resolve().parent
# Everything the page may load from here; anything else under /finder/ is a 404.
FILES = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "status.js": "text/javascript; charset=utf-8",
}
# The offline service worker: served from the root (`/sw.js`) so its scope covers the page.
SERVICE_WORKER = "sw.js"
Lang = Literal["zh-CN", "en"]

router = APIRouter(tags=["finder"], include_in_schema=False)


class FinderSettings(BaseSettings):
    """The finder's base map, from `WAYSTATION_FINDER_*`."""

    model_config = SettingsConfigDict(env_prefix="WAYSTATION_FINDER_", extra="ignore", frozen=True)

    tile_url: str = Field(
        default="",
        max_length=500,
        description="Leaflet tile URL template, e.g. https://{s}.tile.openstreetmap.org/{z}/{x}/"
        "{y}.png; empty: no base map (markers and taps still work)",
    )
    tile_attribution: str = Field(default="", max_length=300, description="shown on the map")
    tile_datum: Literal["wgs84", "gcj02"] = Field(
        default="wgs84", description="datum the tiles are drawn in (Amap/Tencent tiles: gcj02)"
    )
    tile_max_zoom: int = Field(default=18, ge=1, le=22)


def pick_lang(query: str | None, accept: str | None) -> Lang:
    """`?lang=` first (en…, zh…), then the first of zh/en the browser prefers, else zh-CN."""
    if query:
        q = query.strip().lower()
        if q.startswith("en"):
            return "en"
        if q.startswith("zh"):
            return "zh-CN"
    best: tuple[float, int, Lang] | None = None
    for i, part in enumerate((accept or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        lang: Lang | None = (
            "en" if tag.startswith("en") else "zh-CN" if tag.startswith("zh") else None
        )
        if lang is None:
            continue
        weight = 1.0
        match = re.search(r"q\s*=\s*([0-9.]+)", params)
        if match:
            try:
                weight = float(match.group(1))
            except ValueError:
                continue
        if weight > 0 and (best is None or (weight, -i) > (best[0], best[1])):
            best = (weight, -i, lang)
    return best[2] if best else "zh-CN"


def _tile_source(url: str) -> str:
    """The CSP source of the tile server: its origin, `{s}` as a wildcard sub-domain."""
    parts = urlsplit(url)
    host = parts.netloc.replace("{s}", "*")
    if parts.scheme not in ("http", "https") or not host or "{" in host or "*" in host[1:]:
        return f"{parts.scheme}:" if parts.scheme in ("http", "https") else ""
    return f"{parts.scheme}://{host}"


def csp(settings: FinderSettings) -> str:
    tiles = _tile_source(settings.tile_url) if settings.tile_url else ""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: {tiles}".rstrip(),
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


@cache
def _template(name: str = "index.html") -> str:
    return (WEB_DIR / name).read_text(encoding="utf-8")


@cache
def _amenities() -> str:
    """The amenities in filter order with their labels and group, `[[name, zh-CN, en, group],
    …]`: the one list the page and `stations import` share (`protocol.amenities`)."""
    rows = [[a.name, a.zh, a.en, a.group] for a in VOCABULARY]
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


@cache
def _amenity_groups() -> str:
    """The filter's groups in display order, `[[key, zh-CN, en], …]`."""
    rows = [[key, zh, en] for key, (zh, en) in GROUPS.items()]
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def render(lang: Lang, settings: FinderSettings, template: str = "index.html") -> str:
    """index.html with the language, the amenity labels and the map settings filled in
    (escaped)."""
    values = {
        "lang": lang,
        "amenities": _amenities(),
        "amenity_groups": _amenity_groups(),
        "tile_url": settings.tile_url,
        "tile_attribution": settings.tile_attribution,
        "tile_datum": settings.tile_datum,
        "tile_max_zoom": str(settings.tile_max_zoom),
    }
    page = _template(template)
    for key, value in values.items():
        page = page.replace("{{" + key + "}}", html.escape(value, quote=True))
    return page


def _settings(request: Request) -> FinderSettings:
    settings: FinderSettings | None = getattr(request.app.state, "finder_settings", None)
    if settings is None:  # read once per app; tests set app.state.finder_settings
        settings = request.app.state.finder_settings = FinderSettings()
    return settings


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@router.get("/", response_class=HTMLResponse)
def finder_page(request: Request, lang: str | None = None) -> HTMLResponse:
    settings = _settings(request)
    chosen = pick_lang(lang, request.headers.get("accept-language"))
    headers = SECURITY_HEADERS | {
        "Content-Security-Policy": csp(settings),
        "Cache-Control": "no-cache",
        "Vary": "Accept-Language",
        "Content-Language": chosen,
    }
    return HTMLResponse(render(chosen, settings), headers=headers)


@router.get("/status", response_class=HTMLResponse)
def status_page(request: Request, lang: str | None = None) -> HTMLResponse:
    """The public status page: how many stations are open now, per city, on what basis, and
    whether the cloud can see its stations (numbers from `GET /api/v1/status`)."""
    settings = _settings(request)
    chosen = pick_lang(lang, request.headers.get("accept-language"))
    headers = SECURITY_HEADERS | {
        "Content-Security-Policy": csp(settings),
        "Cache-Control": "no-cache",
        "Vary": "Accept-Language",
        "Content-Language": chosen,
    }
    return HTMLResponse(render(chosen, settings, "status.html"), headers=headers)


@router.get("/sw.js")
def service_worker() -> FileResponse:
    """The finder's offline service worker (`sw.js`): the page and its files from the cache
    when the network is gone; revalidated on every registration check (no-cache)."""
    return FileResponse(
        WEB_DIR / SERVICE_WORKER,
        media_type="text/javascript; charset=utf-8",
        headers=SECURITY_HEADERS | {"Cache-Control": "no-cache"},
    )


@router.get("/finder/{name:path}")
def finder_file(name: str) -> FileResponse:
    """The page's own files; revalidated each load (ETag), so an update shows at once."""
    if name in leaflet.FILES:
        path, media = leaflet.FILES[name]
    elif name in FILES:
        path, media = WEB_DIR / name, FILES[name]
    else:
        raise HTTPException(404, "not found")
    return FileResponse(
        path,
        media_type=media,
        headers=SECURITY_HEADERS | {"Cache-Control": "no-cache"},
    )
