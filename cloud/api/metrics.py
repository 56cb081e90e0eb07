"""Prometheus `/metrics` of the cloud: the fleet as the database says it is right now.

Read at scrape time by a collector (no counters kept in the API process, so every `serve`
replica answers the same). Fleet numbers are health and status counts, raised alarms by rule
and severity, unacknowledged alarms, dead letters of the last hour by reason. Ingest has its
own metrics port (`cloud ingest --metrics-port`).

Who may scrape: with `WAYSTATION_METRICS_TOKEN` set, a request bearing it; otherwise only
clients on this host connecting directly: the peer is a loopback address and the request
carries no forwarding header (`X-Forwarded-For`, `Forwarded`, `X-Real-IP`, `Via`). A
request relayed by a proxy on this host arrives from loopback too, but says so in those
headers, and it may come from anywhere; and the server believes a forwarded client address
only from configured proxies (`WAYSTATION_FORWARDED_ALLOW_IPS`), so a client cannot name
itself 127.0.0.1. Behind a proxy, set the token (or keep /metrics off the proxy). Station
ids never appear in labels (cardinality, and no fleet map for anyone who finds the port).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from datetime import timedelta

from fastapi import APIRouter, HTTPException, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from cloud.alarms.models import RAISED, Alarm
from cloud.api.deps import ContextDep
from cloud.clock import Clock
from cloud.models import DeadLetter, Station, StationState, table

router = APIRouter(tags=["metrics"])
FORWARDING_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip", "via")
STATION, STATE, ALARM, DEAD = table(Station), table(StationState), table(Alarm), table(DeadLetter)


class FleetCollector(Collector):
    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine, self.clock = engine, clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        joined = STATION.outerjoin(STATE, STATE.c.station_id == STATION.c.id)
        health = func.coalesce(STATE.c.health, "unknown")
        status = func.coalesce(STATE.c.history_status, "unknown")
        since = self.clock() - timedelta(hours=1)
        with self.engine.connect() as conn:
            by_health = conn.execute(
                select(health, func.count()).select_from(joined).group_by(health)
            ).all()
            by_status = conn.execute(
                select(status, func.count()).select_from(joined).group_by(status)
            ).all()
            alarms = conn.execute(
                select(ALARM.c.rule, ALARM.c.severity, func.count())
                .where(ALARM.c.state == RAISED)
                .group_by(ALARM.c.rule, ALARM.c.severity)
            ).all()
            unacked = conn.execute(
                select(func.count()).where(
                    ALARM.c.state != "pending", ALARM.c.acknowledged_at.is_(None)
                )
            ).scalar_one()
            dead = conn.execute(
                select(DEAD.c.reason, func.count())
                .where(DEAD.c.received_at >= since)
                .group_by(DEAD.c.reason)
            ).all()
        g = GaugeMetricFamily(
            "waystation_stations", "Registered stations by health", labels=["health"]
        )
        counts = dict(by_health)
        for name in ("ok", "degraded", "down", "unknown"):
            g.add_metric([name], counts.get(name, 0))
        yield g
        g = GaugeMetricFamily(
            "waystation_stations_by_status", "Registered stations by status", labels=["status"]
        )
        for name, n in by_status:
            g.add_metric([name], n)
        yield g
        g = GaugeMetricFamily(
            "waystation_alarms_raised", "Raised alarms", labels=["rule", "severity"]
        )
        for rule, severity, n in alarms:
            g.add_metric([rule, severity], n)
        yield g
        yield GaugeMetricFamily(
            "waystation_alarms_unacknowledged", "Alarms nobody has acknowledged", value=unacked
        )
        g = GaugeMetricFamily(
            "waystation_dead_letters_last_hour", "Refused messages, by reason", labels=["reason"]
        )
        for reason, n in dead:
            g.add_metric([reason], n)
        yield g


def _allowed(request: Request, token: str | None) -> bool:
    if token:
        given = request.headers.get("authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    if any(name in request.headers for name in FORWARDING_HEADERS):
        return False  # relayed: the real client may be anywhere
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get("/metrics", include_in_schema=False)
def metrics(ctx: ContextDep, request: Request) -> Response:
    secret = ctx.settings.metrics_token
    if not _allowed(request, secret.get_secret_value() if secret else None):
        raise HTTPException(403, "metrics: set WAYSTATION_METRICS_TOKEN or scrape from this host")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(ctx.engine, ctx.clock))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
