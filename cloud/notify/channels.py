"""Sending one message to one channel: an HTTP POST (webhook, group robots) or an SMTP
submission. Blocking, with the channel's timeout on every socket operation; the delivery
worker runs these on its own threads, never on ingest's.

`Outcome.ok` is what the receiver confirmed: a 2xx answer (and, for the robots, an `errcode`
or `code` of 0 in it), or an SMTP server that accepted every recipient.
"""

from __future__ import annotations

import smtplib
import ssl
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime

from cloud.notify import formats
from cloud.notify.formats import Message


@dataclass(frozen=True, slots=True)
class Channel:
    """What the sender needs of a channel row."""

    id: int
    name: str
    kind: str
    target: str
    secret: str = ""
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class Smtp:
    """The mail server e-mail channels submit through (`WAYSTATION_SMTP_*`)."""

    host: str = ""
    port: int = 25
    user: str = ""
    password: str = ""
    sender: str = "waystation@localhost"
    starttls: bool = False


@dataclass(frozen=True, slots=True)
class Outcome:
    ok: bool
    status: int | None = None  # HTTP status or SMTP reply code
    error: str | None = None
    ms: float = 0.0


def request_for(
    channel: Channel, event_id: int, msg: Message, now: datetime
) -> formats.HttpRequest:
    if channel.kind == "webhook":
        return formats.webhook(channel.target, channel.secret, event_id, msg, now)
    if channel.kind == "wecom":
        return formats.wecom(channel.target, msg)
    if channel.kind == "dingtalk":
        return formats.dingtalk(channel.target, channel.secret, msg, now)
    if channel.kind == "feishu":
        return formats.feishu(channel.target, channel.secret, msg, now)
    raise ValueError(f"not an HTTP channel kind: {channel.kind}")


def send(channel: Channel, event_id: int, msg: Message, now: datetime, smtp: Smtp) -> Outcome:
    started = time.perf_counter()
    try:
        if channel.kind == "email":
            outcome = _mail(channel, msg, now, smtp)
        else:
            outcome = _post(channel, request_for(channel, event_id, msg, now))
    except Exception as exc:  # a channel's failure is logged on its delivery, never raised
        outcome = Outcome(False, None, f"{type(exc).__name__}: {exc}"[:300])
    ms = (time.perf_counter() - started) * 1000
    return Outcome(outcome.ok, outcome.status, outcome.error, round(ms, 1))


def _post(channel: Channel, req: formats.HttpRequest) -> Outcome:
    if not req.url.startswith(("http://", "https://")):
        return Outcome(False, None, "the URL must be http:// or https://")
    http = urllib.request.Request(req.url, data=req.body, headers=req.headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(http, timeout=channel.timeout_s) as answer:  # noqa: S310
            status, body = answer.status, answer.read(64 * 1024)
    except urllib.error.HTTPError as exc:
        return Outcome(False, exc.code, f"HTTP {exc.code} {exc.reason}"[:300])
    if channel.kind == "webhook":
        return Outcome(True, status)
    refused = formats.robot_accepted(channel.kind, body)
    return Outcome(refused is None, status, refused)


def _mail(channel: Channel, msg: Message, now: datetime, smtp: Smtp) -> Outcome:
    if not smtp.host:
        return Outcome(False, None, "no SMTP server configured (WAYSTATION_SMTP_HOST)")
    recipients = [a.strip() for a in channel.target.split(",") if a.strip()]
    mail = formats.email(smtp.sender, recipients, msg, now)
    with smtplib.SMTP(smtp.host, smtp.port, timeout=channel.timeout_s) as server:
        if smtp.starttls:
            server.starttls(context=ssl.create_default_context())
        if smtp.user:
            server.login(smtp.user, smtp.password)
        refused = server.send_message(mail, from_addr=smtp.sender, to_addrs=recipients)
    if refused:
        return Outcome(False, 550, f"refused recipients: {', '.join(refused)}"[:300])
    return Outcome(True, 250)
