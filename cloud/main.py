"""The cloud web app. `create_app(settings)` builds everything; nothing happens at import."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from cloud.api import health, public
from cloud.api.deps import AppContext
from cloud.db import init_db, make_engine
from cloud.ingest.handlers import Clock
from cloud.liveness import LivenessPolicy
from cloud.models import utcnow
from cloud.settings import Settings


def policy_from(settings: Settings) -> LivenessPolicy:
    return LivenessPolicy(
        grace_intervals=settings.heartbeat_grace_intervals,
        stale_open_grace_s=settings.stale_open_grace_s,
    )


def create_app(
    settings: Settings, *, engine: Engine | None = None, clock: Clock = utcnow
) -> FastAPI:
    """The API app. Pass `engine` to share one with an in-process ingest worker (the demo);
    otherwise the app makes its own from `settings.db` and disposes of it at shutdown.
    Tables are created at startup."""
    owned = engine is None
    db = engine if engine is not None else make_engine(settings.db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await run_in_threadpool(init_db, db)
        try:
            yield
        finally:
            if owned:
                db.dispose()

    app = FastAPI(title="Waystation", version="0.1.0", lifespan=lifespan)
    app.state.ctx = AppContext(
        settings=settings, engine=db, clock=clock, policy=policy_from(settings)
    )
    app.include_router(health.router)
    app.include_router(public.router)
    return app
