"""Cloud settings, read from `WAYSTATION_*` environment variables or passed in by the CLI.

Built once in `main()` / the CLI and handed down; nothing here creates an engine or a client.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from protocol.broker import BrokerUrl


class SettingsError(RuntimeError):
    """Unknown or retired `WAYSTATION_*` variables; the message names each and the fix."""


# Variables that no longer do anything, and what replaced each (`cloud.environment.check`
# also refuses them; `refuse_retired` is the check for code that runs before or without it).
RETIRED: dict[str, str] = {
    "WAYSTATION_ADMIN_TOKEN": (
        "the shared member-admin token is retired: member administration needs an ops account "
        "with the admin role (`waystation cloud users add NAME --role admin`, then "
        "`waystation cloud users token NAME` for scripts, sent as `Authorization: Bearer "
        "wst_…`), and every call is audited. Remove WAYSTATION_ADMIN_TOKEN from the "
        "environment (even an empty line)."
    ),
}


def refuse_retired(environ: Mapping[str, str] | None = None) -> None:
    """Raise `SettingsError` if a retired variable is set, even to an empty value: a leftover
    `WAYSTATION_ADMIN_TOKEN=` line once opened member administration to anyone."""
    env = os.environ if environ is None else environ
    found = [name for name in RETIRED if name in env]
    if found:
        raise SettingsError("; ".join(f"{n}: {RETIRED[n]}" for n in found))


class Settings(BaseSettings):
    """Where the cloud stores data and reads MQTT from, and how it judges liveness."""

    model_config = SettingsConfigDict(env_prefix="WAYSTATION_", extra="forbid", frozen=True)

    db: str = Field(
        default="sqlite:///waystation.db",
        min_length=1,
        description="SQLAlchemy URL, e.g. sqlite:///waystation.db or "
        "postgresql+psycopg://user:pass@host/db",
    )
    broker: str = Field(
        default="mqtt://127.0.0.1:1883",
        min_length=1,
        description="MQTT broker URL with the cloud account: mqtt[s]://user:pass@host:port",
    )
    mqtt_protocol: Literal[5, 311] = Field(
        default=5,
        description="MQTT version; 311 for brokers without MQTT 5 (the demo's amqtt), which "
        "also turns shared subscriptions off",
    )
    share_group: str | None = Field(
        default="ingest",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="MQTT 5 shared-subscription group for events/footfall/telemetry; "
        "empty or None subscribes plainly (one worker only)",
    )
    heartbeat_grace_intervals: float = Field(
        default=3,
        ge=1,
        le=100,
        description="a station is online while its last heartbeat is at most this many of "
        "its own heartbeat intervals old",
    )
    stale_open_grace_s: float = Field(
        default=300,
        ge=0,
        le=86_400,
        description="seconds a stale station still counts as open (its door admits members "
        "offline, so a short uplink blip must not take it off the map)",
    )
    monitor_interval_s: float = Field(
        default=10.0,
        ge=0,
        le=3_600,
        description="seconds between health-monitor runs (alarm rules, status history) in "
        "each ingest process; 0 turns it off there (PostgreSQL runs one monitor at a time)",
    )
    batch_max: int = Field(
        # 5,000: per-batch statements and the one ack per station per batch amortise over more
        # messages (PostgreSQL ingest, 1 worker, 500 stations: 5,100 → 8,000 msg/s from 1,000
        # to 5,000 here); under load the time bound below decides (~1,600 a batch at 8,000
        # msg/s), under light load too. Cost: one refused item re-writes its batch one by one.
        default=5_000,
        ge=1,
        le=5_000,
        description="ingest commits after this many messages (one transaction per batch)",
    )
    batch_max_wait_s: float = Field(
        default=0.2,
        gt=0,
        le=10,
        description="ingest commits at the latest this many seconds after a batch's first "
        "message; bounds the ack delay an edge sees",
    )
    seq_gap_wait_s: float = Field(
        default=600.0,
        ge=0.1,
        le=7 * 86_400,
        description="seconds a gap in a station's journal seqs may hold its ack (counted on "
        "the cloud's clock from the first item received above it) before ingest acks past "
        "it, records the skipped seqs and raises `seq_gap`; a connected station resends an "
        "unacked item within its ack timeout (60 s), so a gap this old is one it cannot fill",
    )
    config_lag_s: float = Field(
        default=600.0,
        gt=0,
        le=7 * 86_400,
        description="seconds a live station may run an older config than its desired one "
        "(`ws/v1/{sid}/config`) before its `config_mismatch` alarm is raised",
    )
    refusal_quiet_s: float = Field(
        default=3_600.0,
        gt=0,
        le=30 * 86_400,
        description="seconds without a refused payload (or a skipped seq gap) after which "
        "the station's `payload_refused` (or `seq_gap`) alarm clears",
    )

    notify_interval_s: float = Field(
        default=1.0,
        ge=0,
        le=300,
        description="seconds between polls of the alarm table for notifications (cloud.notify) "
        "in each ingest process; 0 turns the notifier off there (one poll at a time on "
        "PostgreSQL; deliveries are leased, so processes never double-send)",
    )
    notify_lookback_s: float = Field(
        default=60.0,
        ge=1,
        le=3_600,
        description="seconds before its cursor each notify poll reads alarm changes again: "
        "longer than any alarm-writing transaction plus the clock skew between cloud hosts",
    )
    notify_threads: int = Field(
        default=8,
        ge=1,
        le=64,
        description="notification deliveries in flight per process; each channel has at most "
        "one, so a hanging receiver holds one thread for its timeout",
    )
    notify_max_attempts: int = Field(
        default=8,
        ge=1,
        le=50,
        description="tries of one delivery before it is marked failed (backoff doubles from "
        "2 s up to 10 minutes, with jitter)",
    )
    smtp_host: str = Field(
        default="", max_length=255, description="SMTP server of e-mail channels; empty: none"
    )
    smtp_port: int = Field(default=25, ge=1, le=65_535, description="SMTP port")
    smtp_user: str = Field(default="", max_length=255, description="SMTP login; empty: none")
    smtp_password: SecretStr = Field(default=SecretStr(""), description="SMTP password")
    smtp_sender: str = Field(
        default="waystation@localhost", max_length=255, description="From: of notification mail"
    )
    smtp_starttls: bool = Field(default=False, description="STARTTLS before logging in")

    live_state_ttl_s: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="seconds the API reuses a station's live state read for a nearby search "
        "(more: fewer database reads under load; less: fresher status); 0 reads every time",
    )
    fleet_view_s: float = Field(
        default=30.0,
        ge=0,
        le=600,
        description="seconds the GeoJSON map's and the status page's whole-fleet open-now "
        "judgement is reused (cloud.stations.fleetview); 0 judges every request",
    )
    sight_refresh_s: float = Field(
        default=2.0,
        ge=0,
        le=60,
        description="seconds between the API's readings of whether the cloud can see its "
        "stations (cloud.stations.sight: ingest presence, fleet-wide silence; two aggregate "
        "scans of the live state); 0 reads on every request (tests)",
    )
    index_refresh_s: float = Field(
        default=2.0,
        ge=0,
        le=3_600,
        description="seconds between checks of the registry version by the API's nearby "
        "index; 0 checks on every request (tests)",
    )
    rate_limit_per_s: float = Field(
        default=10.0,
        gt=0,
        le=100_000,
        description="public API requests per second each client IP may sustain",
    )
    rate_limit_burst: int = Field(
        default=40,
        ge=1,
        le=1_000_000,
        description="public API requests a client IP may make at once before being limited",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="bearer token Prometheus sends to scrape /metrics; unset, only clients "
        "on this host (loopback) may scrape",
    )
    cookie_secure: bool = Field(
        default=True,
        description="mark the ops session cookie Secure (sent over HTTPS only); turn off "
        "only for the demo or tests over plain http",
    )
    session_idle_s: float = Field(
        default=2 * 3600,
        gt=0,
        le=7 * 86_400,
        description="an ops session ends after this many seconds without a request",
    )
    session_max_s: float = Field(
        default=12 * 3600,
        gt=0,
        le=30 * 86_400,
        description="an ops session ends this many seconds after login, active or not",
    )

    @field_validator("mqtt_protocol", mode="before")
    @classmethod
    def _protocol_from_env(cls, value: object) -> object:
        """Environment values are strings; the Literal wants the int."""
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @field_validator("share_group", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in ("", "none", "null"):
            return None
        return value

    @field_validator("broker")
    @classmethod
    def _parse_broker(cls, value: str) -> str:
        BrokerUrl.parse(value)  # raises ValueError → a validation error naming the field
        return value

    @property
    def broker_url(self) -> BrokerUrl:
        return BrokerUrl.parse(self.broker)

    @property
    def shared_subscriptions(self) -> bool:
        """Shared subscriptions need both a group and MQTT 5."""
        return self.share_group is not None and self.mqtt_protocol == 5

    # --- HTTP hardening (cloud.api.security) ---------------------------------------------------
    behind_https: bool = Field(
        default=False,
        description="the API is reached over HTTPS only (a TLS proxy in front): send "
        "Strict-Transport-Security; leave off for plain http (demo, tests)",
    )
    cors_origins: str = Field(
        default="",
        description="comma-separated origins (https://app.example.org) whose pages may read "
        "the public station and trust-list API; empty: no cross-origin access",
    )
    wallet_origins: str = Field(
        default="",
        description="comma-separated origins (https://h5.union.example) of union app pages "
        "that embed the wallet module: they may load /static/wallet/v1/ and call the wallet's "
        "enrol, renew and clock routes; empty: only this service's own pages",
    )
    forwarded_allow_ips: str = Field(
        default="",
        max_length=2_000,
        description="comma-separated addresses or networks (127.0.0.1, 10.0.0.0/8) of the "
        "reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed; empty (the "
        "default): none, the client is always the peer. Behind nginx on this host: 127.0.0.1",
    )
    auth_rate_per_s: float = Field(
        default=0.5,
        gt=0,
        le=1_000,
        description="ops logins (and, separately, member enrolments and certificate renewals) "
        "per second one client address may sustain; each login costs an Argon2 hash",
    )
    auth_burst: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="ops logins (and member enrolments, renewals) one client address may make "
        "at once",
    )
    password_hash_slots: int = Field(
        default=2,
        ge=1,
        le=64,
        description="Argon2 hashes (64 MiB and a core each, ~0.1 s) this process computes at "
        "once; a login arriving when all are taken gets 503 with Retry-After at once",
    )

    @field_validator("forwarded_allow_ips")
    @classmethod
    def _check_proxies(cls, value: str) -> str:
        for item in _split(value):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(
                    f"forwarded_allow_ips {item!r}: list proxy addresses or networks "
                    "(a wildcard would let any client choose its own address)"
                ) from None
        return value

    @property
    def proxy_options(self) -> dict[str, Any]:
        """uvicorn's proxy options for these settings: `uvicorn.Config(app, **…)`. Without
        trusted proxies, forwarding headers are ignored (uvicorn's own default believes
        them from 127.0.0.1, so anyone on or relayed through this host could pick a
        client address: a fresh one per login attempt, or 127.0.0.1 for /metrics)."""
        trusted = list(_split(self.forwarded_allow_ips))
        if not trusted:
            return {"proxy_headers": False}
        return {"proxy_headers": True, "forwarded_allow_ips": trusted}

    @field_validator("cors_origins", "wallet_origins")
    @classmethod
    def _check_origins(cls, value: str) -> str:
        for origin in _split(value):
            scheme, sep, rest = origin.partition("://")
            if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
                raise ValueError(f"CORS origin {origin!r}: use scheme://host[:port], no path")
        return value

    @property
    def cors_origin_list(self) -> tuple[str, ...]:
        return _split(self.cors_origins)

    @property
    def wallet_origin_list(self) -> tuple[str, ...]:
        return _split(self.wallet_origins)

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """repr() and str() without the passwords in `db` and `broker` (logs, tracebacks)."""
        for name, value in super().__repr_args__():
            if name in ("db", "broker") and isinstance(value, str):
                value = hide_password(value)
            yield name, value


def hide_password(url: str) -> str:
    """`scheme://user:***@host…` for a URL with a password; anything else unchanged."""
    return _PASSWORD_IN_URL.sub(r"\1***@", url)


# user:password@ up to the last @ before the path, as URL parsers read it
_PASSWORD_IN_URL = re.compile(r"^([a-z][a-z0-9+.-]*://[^:/@]*:)[^/]*@", re.IGNORECASE)


def _split(value: str) -> tuple[str, ...]:
    """Comma-separated origins, stripped, without a trailing slash; blanks dropped."""
    return tuple(o.strip().rstrip("/") for o in value.split(",") if o.strip())
