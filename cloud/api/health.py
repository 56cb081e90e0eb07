"""Probes for load balancers, orchestrators and compose healthchecks.

`/healthz` (liveness): the process answers and the database does. `/readyz` (readiness): also
the schema is at the migrations' head and this process's nearby index is loaded, so a
replica gets traffic only once it can answer every request correctly. A replica started
against a database another version has not migrated yet stays out of rotation instead of
failing requests; one whose index is still loading (~2 s per 200,000 stations) too.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from cloud import migrate
from cloud.api.deps import ContextDep, SessionDep

router = APIRouter(tags=["health"])
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz")
def healthz(session: SessionDep) -> JSONResponse:
    """200 when the database answers, 503 otherwise (a replica without a DB serves nothing)."""
    try:
        session.exec(text("SELECT 1"))  # type: ignore[call-overload]
    except Exception as exc:
        return JSONResponse({"status": "error", "detail": type(exc).__name__}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
def readyz(ctx: ContextDep) -> JSONResponse:
    """200 when the database answers, its schema is at head and the nearby index is loaded;
    else 503 naming each failing check (`failing`) with what it found (`checks`)."""
    checks: dict[str, dict[str, object]] = {}
    try:
        off = migrate.off_head(ctx.engine)  # a query: also proves the database answers
    except Exception as exc:
        checks["database"] = {"ok": False, "detail": type(exc).__name__}
        checks["migrations"] = {"ok": False, "detail": "not checked: no database"}
    else:
        checks["database"] = {"ok": True}
        checks["migrations"] = {"ok": off is None, "detail": off or f"at head {migrate.head()}"}
    stations = ctx.index.loaded
    checks["nearby_index"] = {
        "ok": stations is not None,
        "detail": "not loaded yet" if stations is None else f"{stations} stations",
    }
    failing = [name for name, check in checks.items() if not check["ok"]]
    body = {"status": "error" if failing else "ok", "failing": failing, "checks": checks}
    return JSONResponse(body, status_code=503 if failing else 200, headers=NO_STORE)
