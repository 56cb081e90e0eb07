"""FastAPI dependencies; everything comes from `app.state`, set up by `create_app`.

The cheap ones are `async def`: FastAPI runs a plain `def` dependency in the thread pool,
one hop (~0.3 ms under load, more with GIL contention) per dependency per request.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.alarms.sightwatch import SightWatch
from cloud.clock import Clock
from cloud.settings import Settings
from cloud.stations.fleetview import FleetViews
from cloud.stations.index import StationIndex
from cloud.stations.liveness import LivenessPolicy
from cloud.stations.livestates import LiveStates


@dataclass(frozen=True, slots=True)
class AppContext:
    """What request handlers need, built once per app."""

    settings: Settings
    engine: Engine
    clock: Clock
    policy: LivenessPolicy
    index: StationIndex  # the nearby index of this process (cloud.stations.index)
    live: LiveStates  # live-state digests the nearby search reuses for a second
    sight: SightWatch  # whether the cloud can see its stations (cloud.stations.sight)
    fleet: FleetViews  # the whole fleet judged, for the map and status page (fleetview)


async def get_context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[AppContext, Depends(get_context)]


def get_session(ctx: ContextDep) -> Iterator[Session]:
    with Session(ctx.engine) as session:
        yield session


async def get_now(ctx: ContextDep) -> datetime:
    """One clock reading per request, so every station in a response is judged at one time."""
    return ctx.clock()


async def get_policy(ctx: ContextDep) -> LivenessPolicy:
    return ctx.policy


async def get_index(ctx: ContextDep) -> StationIndex:
    return ctx.index


SessionDep = Annotated[Session, Depends(get_session)]
NowDep = Annotated[datetime, Depends(get_now)]
PolicyDep = Annotated[LivenessPolicy, Depends(get_policy)]
IndexDep = Annotated[StationIndex, Depends(get_index)]

# Row ids run from 1 to the largest BIGINT (SQLite's INTEGER is the same 64 bits): an id out
# of range in a path or a `before` cursor is a 422, not the driver's OverflowError as a 500.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
Before = Annotated[
    int | None, Query(ge=1, le=MAX_ROW_ID, description="next_before of the last page")
]
