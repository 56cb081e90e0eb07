"""The cloud web app. `create_app(settings)` builds everything; nothing happens at import."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool

from cloud import environment, migrate
from cloud.alarms.sightwatch import SightWatch
from cloud.api import (
    feedback_inbox,
    health,
    logredact,
    member_admin,
    member_page,
    member_renewal,
    members,
    metrics,
    ops,
    ops_auth,
    ops_commands,
    ops_config,
    ops_events,
    ops_footfall,
    ops_live,
    ops_maintenance,
    ops_notify,
    ops_pages,
    ops_reports,
    ops_scopes,
    ops_stations,
    ops_thresholds,
    public,
    public_status,
    reports,
    tickets,
    union_app,
)
from cloud.api.deps import AppContext
from cloud.api.ratelimit import AUTH_PATHS, AuthLimits, PublicLimits, TokenBuckets
from cloud.api.security import (
    PublicCors,
    SecurityHeaders,
    SizeLimits,
    hashing_busy,
    value_refused,
)
from cloud.api.walletcors import WalletCors
from cloud.auth import passwords
from cloud.clock import Clock, utcnow
from cloud.credentials import apiclients
from cloud.db import init_db, make_engine
from cloud.settings import Settings
from cloud.stations import hours
from cloud.stations.fleetview import FleetViews
from cloud.stations.holidays import CalendarSource
from cloud.stations.index import StationIndex
from cloud.stations.liveness import policy_from
from cloud.stations.livestates import LiveStates
from cloud.stations.sight import sight_policy_from
from cloud.web.finder import page as finder_page

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Clock = utcnow,
    freeze_gc: bool = False,
) -> FastAPI:
    """The API app. Pass `engine` to share one with an in-process ingest worker (the demo);
    otherwise the app makes its own from `settings.db` and disposes of it at shutdown.
    The schema is migrated and the nearby index built at startup.

    `freeze_gc` (a server process that runs only this app): after startup, everything alive
    (modules, the app, the index) moves to the collector's permanent generation, so full
    collections scan only what requests leave behind. With ~450,000 tracked objects a full
    collection took up to ~0.26 s, a stall of every request in flight."""
    environment.check()  # a misspelt or retired WAYSTATION_* variable stops the start
    logredact.install()  # enrolment codes in old member links stay out of the access log
    owned = engine is None
    db = engine if engine is not None else make_engine(settings.db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(init_db, db)
        # PH on the map from the bundled calendar and the years an admin loaded (process-wide)
        hours.use_calendar(CalendarSource(db))
        snapshot = await run_in_threadpool(index.current)
        await run_in_threadpool(sight.read)
        log.info(
            "schema at %s; nearby index of %d stations loaded", migrate.head(), len(snapshot.rows)
        )
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            hours.use_calendar(None)
            # Background reads give their connections back before the engine is disposed
            # (cloud.background): the index's and the sight's threads, the live poller's.
            index.close()
            sight.close()
            hub = getattr(_app.state, "ops_live", None)
            if hub is not None:
                await hub.close()
            if owned:
                db.dispose()

    index = StationIndex(db, refresh_s=settings.index_refresh_s, clock=clock)
    # No /docs or /redoc: FastAPI's pages load Swagger UI / ReDoc from a public CDN (floating
    # version, no integrity) on the origin of /ops. The schema stays at /openapi.json.
    app = FastAPI(
        title="Waystation", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    policy = policy_from(settings)
    sight = SightWatch(
        db, policy, sight_policy_from(settings), refresh_s=settings.sight_refresh_s, clock=clock
    )
    app.state.ctx = AppContext(
        settings=settings,
        engine=db,
        clock=clock,
        policy=policy,
        index=index,
        live=LiveStates(settings.live_state_ttl_s),
        sight=sight,
        fleet=FleetViews(settings.fleet_view_s),
    )
    buckets = TokenBuckets(settings.rate_limit_per_s, settings.rate_limit_burst)
    app.add_middleware(PublicLimits, buckets=buckets, prefix=public.router.prefix + "/stations")
    # the other public reads (place search, status, tickets) share the same buckets
    for path in ("/places", "/status", "/tickets"):
        app.add_middleware(PublicLimits, buckets=buckets, prefix=public.router.prefix + path)
    # per address before any hashing (login) or signing (enrolment); see cloud.api.ratelimit
    auth_buckets = TokenBuckets(settings.auth_rate_per_s, settings.auth_burst)
    app.add_middleware(
        AuthLimits,
        buckets=auth_buckets,
        paths=AUTH_PATHS,
        proxies_trusted=bool(settings.forwarded_allow_ips.strip()),
    )
    passwords.set_slots(settings.password_hash_slots)  # process-wide: cloud.auth.passwords
    # added last = runs first: headers and CORS reach every answer, the limits' too
    app.add_middleware(SizeLimits)
    app.add_middleware(PublicCors, origins=settings.cors_origin_list)
    app.add_middleware(WalletCors, origins=settings.wallet_origin_list)  # union app pages
    app.add_middleware(SecurityHeaders, https=settings.behind_https)
    app.add_exception_handler(DataError, value_refused)
    app.add_exception_handler(passwords.HashingBusyError, hashing_busy)
    app.include_router(health.router)
    app.include_router(public.router)
    app.include_router(public_status.router)
    app.include_router(members.router)
    app.include_router(member_page.router)
    app.include_router(member_renewal.router)
    app.include_router(member_admin.router)
    app.include_router(union_app.router)
    app.add_exception_handler(apiclients.Refusal, union_app.refused)
    app.include_router(ops_auth.router)
    app.include_router(ops_auth.audit_router)
    app.include_router(ops_scopes.router)
    app.include_router(ops.router)
    app.include_router(ops_footfall.router)
    app.include_router(ops_commands.router)
    app.include_router(ops_config.router)
    app.include_router(ops_thresholds.router)
    app.include_router(ops_stations.router)
    app.include_router(ops_events.router)
    app.include_router(ops_live.router)
    app.include_router(ops_maintenance.router)
    app.include_router(ops_notify.router)
    app.include_router(ops_pages.router)
    app.include_router(ops_reports.router)
    app.include_router(metrics.router)
    app.include_router(reports.router)
    app.include_router(reports.ops_router)
    app.include_router(tickets.router)
    app.include_router(tickets.ops_router)
    app.include_router(feedback_inbox.router)
    app.include_router(finder_page.router)
    return app


def create_app_from_env() -> FastAPI:
    """`create_app` with settings from `WAYSTATION_*`: the factory uvicorn's worker processes
    import (`cloud serve --workers N`)."""
    return create_app(Settings(), freeze_gc=True)
