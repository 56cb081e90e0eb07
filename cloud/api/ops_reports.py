"""Ops monthly reports (viewer role): `GET /api/v1/ops/reports/monthly?month=2026-11&by=city`.

`by` is `city`, `operator` (the partner) or `station`; `format=csv` answers the same table as
a CSV download (UTF-8 with a byte-order mark; headers in Chinese, or English with
`lang=en`). The report covers the stations in the caller's scope only (`cloud.api.scoping`:
a partner's account sees its partner's stations, never another's). The figures and their
units are `cloud.reports.monthly`'s; a malformed month, or one that has not begun, is a 422
naming `month`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from starlette.concurrency import run_in_threadpool

from cloud.api.deps import AppContext, ContextDep, NowDep
from cloud.api.scoping import scoped
from cloud.auth import Principal, Role
from cloud.reports import csvfile
from cloud.reports.month import MonthError
from cloud.reports.monthly import By, MonthlyReport, monthly

router = APIRouter(prefix="/api/v1/ops/reports", tags=["ops reports"])
Viewer = Annotated[Principal, Depends(scoped(Role.VIEWER))]
MonthQ = Annotated[str, Query(max_length=20, description="YYYY-MM in the stations' own zone")]
CSV = "text/csv; charset=utf-8"


def _build(ctx: AppContext, month: str, by: By, now: datetime, who: Principal) -> MonthlyReport:
    with ctx.engine.connect() as conn:
        try:
            return monthly(conn, month=month, by=by, now=now, within=who.scope.where())
        except MonthError as exc:
            raise HTTPException(422, f"month: {exc}") from exc


@router.get("/monthly", response_model=MonthlyReport)
async def monthly_report(
    ctx: ContextDep,
    now: NowDep,
    who: Viewer,
    month: MonthQ,
    by: By = "city",
    format: Literal["json", "csv"] = "json",
    lang: Literal["zh", "en"] = "zh",
) -> MonthlyReport | Response:
    report = await run_in_threadpool(_build, ctx, month, by, now, who)
    if format == "json":
        return report
    name = f"waystation-{report.month}-{by}.csv"
    return Response(
        csvfile.render(report, lang).encode("utf-8"),
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
