"""`waystation cloud notify …`: alarm notification channels and their routing from the shell,
for automation (the ops API does the same for the dashboard).

`add-webhook`, `add-robot` and `add-email` each make a channel and one routing rule to it
from the filter options (none: every alarm of at least `--min-severity`). A webhook without
`--secret-stdin` gets a generated signing secret, printed once. Changes are audited as the
local operating-system user (as `cloud users` does). Refusals print one line and exit 2.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from waystation import logs
from waystation.cli.options import DbOpt, cloud_settings
from waystation.cli.users import cli_principal
from waystation.logs import LogFormat, LogFormatOpt, LogLevelOpt

if TYPE_CHECKING:
    from sqlalchemy import Engine

app = typer.Typer(
    help="Alarm notifications: webhooks, group robots (企业微信/钉钉/飞书), e-mail.",
    no_args_is_help=True,
)

NameOpt = Annotated[str | None, typer.Option("--name", help="channel name; default from target")]
SevOpt = Annotated[str, typer.Option(help="warning (everything) or critical")]
CityOpt = Annotated[list[str] | None, typer.Option("--city", help="only these cities")]
OpOpt = Annotated[
    list[str] | None, typer.Option("--operator", help="only these operators/partners")
]
StationOpt = Annotated[list[str] | None, typer.Option("--station", help="only these stations")]
RuleOpt = Annotated[list[str] | None, typer.Option("--rule", help="only these alarm rules")]
QuietOpt = Annotated[
    str | None, typer.Option(help="quiet hours HH:MM-HH:MM in --tz (critical still passes)")
]
TzOpt = Annotated[str, typer.Option(help="IANA time zone of quiet hours and digests")]
ClearOpt = Annotated[bool, typer.Option("--clear/--no-clear", help="also notify clears")]
EscAfterOpt = Annotated[
    float | None, typer.Option(min=0.1, help="escalate after this many unacknowledged minutes")
]
EscToOpt = Annotated[str | None, typer.Option(help="channel (name or id) to escalate to")]
SecretOpt = Annotated[
    bool, typer.Option("--secret-stdin", help="read the signing secret from stdin's first line")
]


@contextmanager
def _engine(db: str | None) -> Iterator[Engine]:
    from cloud.db import init_db, make_engine

    engine = make_engine(cloud_settings(db=db).db)
    try:
        init_db(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _refusals() -> Iterator[None]:
    from pydantic import ValidationError

    from cloud.notify.service import NotifyError

    try:
        yield
    except NotifyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        typer.echo(f"error: {where + ': ' if where else ''}{first['msg']}", err=True)
        raise typer.Exit(2) from exc


def _add(
    db: str | None,
    *,
    kind: str,
    target: str,
    name: str | None,
    secret: str,
    min_severity: str,
    city: list[str] | None,
    operator: list[str] | None,
    station: list[str] | None,
    rule: list[str] | None,
    quiet: str | None,
    tz: str,
    clear: bool,
    escalate_after: float | None,
    escalate_to: str | None,
) -> None:
    from cloud.auth import audit
    from cloud.clock import utcnow
    from cloud.notify import service

    quiet_start, quiet_end = None, None
    if quiet:
        quiet_start, sep, quiet_end = quiet.partition("-")
        if not sep:
            raise typer.BadParameter("--quiet is HH:MM-HH:MM, e.g. 22:00-07:00")
    if (escalate_after is None) != (escalate_to is None):
        raise typer.BadParameter("--escalate-after and --escalate-to go together")
    now = utcnow()
    with _engine(db) as engine, _refusals(), engine.begin() as conn:
        body = service.ChannelIn(
            name=name or f"{kind}-{secrets.token_hex(3)}",
            kind=kind,  # type: ignore[arg-type]
            target=target,
            secret=secret,
            tz=tz,
            quiet_start=quiet_start,
            quiet_end=quiet_end,
        )
        channel = service.add_channel(conn, body, now)
        escalate_id = service.find_channel(conn, escalate_to) if escalate_to else None
        route = service.add_rule(
            conn,
            service.RuleIn(
                name=f"{channel.name} rule",
                channel_id=channel.id,
                min_severity=min_severity,  # type: ignore[arg-type]
                cities=city or [],
                operators=operator or [],
                stations=station or [],
                rules=rule or [],
                notify_clear=clear,
                escalate_after_min=escalate_after,
                escalate_channel_id=escalate_id,
            ),
            now,
        )
        principal = cli_principal()
        detail = {"name": channel.name, "kind": kind}
        audit(conn, principal, "notify.channel.add", f"channel:{channel.id}", detail, at=now)
        audit(conn, principal, "notify.rule.add", f"notify_rule:{route.id}", at=now)
    typer.echo(f"channel {channel.id} {channel.name} ({kind}) with rule {route.id}")


def _secret(from_stdin: bool) -> str:
    return sys.stdin.readline().strip() if from_stdin else ""


@app.command("add-webhook")
def add_webhook(
    url: Annotated[str, typer.Argument(help="http(s) URL that receives JSON POSTs")],
    name: NameOpt = None,
    secret_stdin: SecretOpt = False,
    min_severity: SevOpt = "warning",
    city: CityOpt = None,
    operator: OpOpt = None,
    station: StationOpt = None,
    rule: RuleOpt = None,
    quiet: QuietOpt = None,
    tz: TzOpt = "Asia/Shanghai",
    clear: ClearOpt = True,
    escalate_after: EscAfterOpt = None,
    escalate_to: EscToOpt = None,
    db: DbOpt = None,
) -> None:
    """A generic webhook: JSON body signed with HMAC-SHA256 (X-Waystation-Signature)."""
    secret = _secret(secret_stdin)
    generated = not secret
    secret = secret or secrets.token_urlsafe(32)
    _add(
        db, kind="webhook", target=url, name=name, secret=secret, min_severity=min_severity,
        city=city, operator=operator, station=station, rule=rule, quiet=quiet, tz=tz,
        clear=clear, escalate_after=escalate_after, escalate_to=escalate_to,
    )  # fmt: skip
    if generated:
        typer.echo(f"secret (shown once, give it to the receiver): {secret}")


@app.command("add-robot")
def add_robot(
    url: Annotated[str, typer.Argument(help="the robot's webhook URL as the group shows it")],
    kind: Annotated[str, typer.Option("--kind", help="wecom | dingtalk | feishu")],
    name: NameOpt = None,
    secret_stdin: SecretOpt = False,
    min_severity: SevOpt = "warning",
    city: CityOpt = None,
    operator: OpOpt = None,
    station: StationOpt = None,
    rule: RuleOpt = None,
    quiet: QuietOpt = None,
    tz: TzOpt = "Asia/Shanghai",
    clear: ClearOpt = True,
    escalate_after: EscAfterOpt = None,
    escalate_to: EscToOpt = None,
    db: DbOpt = None,
) -> None:
    """A group robot: 企业微信 (wecom), 钉钉 (dingtalk, 加签 secret SEC…) or 飞书 (feishu,
    签名校验 secret) — give the secret with --secret-stdin if the robot has one."""
    if kind not in ("wecom", "dingtalk", "feishu"):
        raise typer.BadParameter("--kind must be wecom, dingtalk or feishu")
    _add(
        db, kind=kind, target=url, name=name, secret=_secret(secret_stdin),
        min_severity=min_severity, city=city, operator=operator, station=station, rule=rule,
        quiet=quiet, tz=tz, clear=clear, escalate_after=escalate_after,
        escalate_to=escalate_to,
    )  # fmt: skip


@app.command("add-email")
def add_email(
    addresses: Annotated[list[str], typer.Argument(help="recipients")],
    name: NameOpt = None,
    min_severity: SevOpt = "warning",
    city: CityOpt = None,
    operator: OpOpt = None,
    station: StationOpt = None,
    rule: RuleOpt = None,
    quiet: QuietOpt = None,
    tz: TzOpt = "Asia/Shanghai",
    clear: ClearOpt = True,
    escalate_after: EscAfterOpt = None,
    escalate_to: EscToOpt = None,
    db: DbOpt = None,
) -> None:
    """E-mail through the SMTP server of WAYSTATION_SMTP_HOST (UTF-8, Chinese subject)."""
    _add(
        db, kind="email", target=",".join(addresses), name=name, secret="",
        min_severity=min_severity, city=city, operator=operator, station=station, rule=rule,
        quiet=quiet, tz=tz, clear=clear, escalate_after=escalate_after,
        escalate_to=escalate_to,
    )  # fmt: skip


@app.command("add-digest")
def add_digest(
    channel: Annotated[str, typer.Argument(help="channel name or id")],
    hour: Annotated[int, typer.Option(min=0, max=23, help="local hour (channel's zone)")] = 8,
    city: Annotated[str | None, typer.Option(help="scope: one city")] = None,
    operator: Annotated[str | None, typer.Option(help="scope: one operator/partner")] = None,
    name: Annotated[str, typer.Option(help="digest name")] = "每日告警摘要",
    db: DbOpt = None,
) -> None:
    """A daily digest of the last 24 hours' alarms of a scope (all, or a city/operator)."""
    from cloud.auth import audit
    from cloud.clock import utcnow
    from cloud.notify import service

    now = utcnow()
    with _engine(db) as engine, _refusals(), engine.begin() as conn:
        channel_id = service.find_channel(conn, channel)
        body = service.DigestIn(
            name=name, channel_id=channel_id, city=city, operator=operator, hour=hour
        )
        view = service.add_digest(conn, body, now)
        audit(conn, cli_principal(), "notify.digest.add", f"notify_digest:{view.id}", at=now)
    typer.echo(f"digest {view.id} to channel {channel_id} at {hour:02d}:00")


@app.command("list")
def list_(db: DbOpt = None) -> None:
    """Channels (secrets never shown), their rules and digests."""
    from cloud.notify import service

    with _engine(db) as engine, engine.connect() as conn:
        for c in service.channels(conn):
            quiet = f" quiet {c.quiet_start}-{c.quiet_end} {c.tz}" if c.quiet_start else ""
            state = "" if c.enabled else " (disabled)"
            secret = " signed" if c.has_secret else ""
            typer.echo(f"channel {c.id}\t{c.name}\t{c.kind}\t{c.target}{secret}{quiet}{state}")
        for r in service.rules(conn):
            scope = " ".join(
                f"{k}={','.join(v)}"
                for k, v in (("city", r.cities), ("operator", r.operators),
                             ("station", r.stations), ("rule", r.rules))
                if v
            )  # fmt: skip
            esc = (
                f" escalate {r.escalate_after_min:g} min → {r.escalate_channel_id}"
                if r.escalate_after_min
                else ""
            )
            typer.echo(
                f"rule {r.id}\t→ channel {r.channel_id}\t≥{r.min_severity} {scope}{esc}".rstrip()
            )
        for d in service.digests(conn):
            scope = ",".join(x for x in (d.city, d.operator) if x) or "all"
            typer.echo(f"digest {d.id}\t→ channel {d.channel_id}\t{scope} at {d.hour:02d}:00")


@app.command("remove")
def remove(
    channel: Annotated[str, typer.Argument(help="channel name or id")], db: DbOpt = None
) -> None:
    """Delete a channel with its rules and digests (its delivery log stays)."""
    from cloud.auth import audit
    from cloud.notify import service

    with _engine(db) as engine, _refusals(), engine.begin() as conn:
        channel_id = service.find_channel(conn, channel)
        service.remove_channel(conn, channel_id)
        audit(conn, cli_principal(), "notify.channel.remove", f"channel:{channel_id}")
    typer.echo(f"removed channel {channel_id}")


@app.command("test")
def send_test(
    channel: Annotated[str, typer.Argument(help="channel name or id")], db: DbOpt = None
) -> None:
    """Send a test message now from this process and print what the receiver answered
    (exit 1 if it did not take it). The try is in the delivery log like any other."""
    from cloud.clock import utcnow
    from cloud.notify import service
    from cloud.notify.runner import smtp_from
    from cloud.notify.worker import DeliveryWorker, WorkerPolicy

    settings = cloud_settings(db=db)
    with _engine(db) as engine:
        with _refusals(), engine.begin() as conn:
            channel_id = service.find_channel(conn, channel)
            timeout = service.channel(conn, channel_id).timeout_s
            event_id = service.test_send(conn, channel_id, cli_principal().username, utcnow())
        worker = DeliveryWorker(
            engine, smtp=smtp_from(settings), policy=WorkerPolicy(threads=1, max_attempts=1)
        )
        worker.dispatch(only_event=event_id)
        deadline = time.monotonic() + timeout + 5
        while worker.busy() and time.monotonic() < deadline:
            time.sleep(0.05)
        worker.close(wait=False)
        with engine.connect() as conn:
            (view,) = service.deliveries(conn, event_id=event_id, limit=1)
    last = view.tries[-1] if view.tries else None
    code = f" {last.status}" if last and last.status is not None else ""
    error = f": {view.last_error}" if view.last_error else ""
    typer.echo(f"{view.channel}: {view.status}{code}{error}")
    if view.status != "sent":
        raise typer.Exit(1)


@app.command("log")
def log(
    channel: Annotated[str | None, typer.Option(help="channel name or id")] = None,
    limit: Annotated[int, typer.Option(min=1, max=200)] = 20,
    db: DbOpt = None,
) -> None:
    """The delivery log, newest first: status, tries, last answer."""
    from cloud.notify import service

    with _engine(db) as engine, _refusals(), engine.connect() as conn:
        channel_id = service.find_channel(conn, channel) if channel else None
        for d in service.deliveries(conn, channel_id=channel_id, limit=limit):
            answer = d.last_status if d.last_status is not None else "-"
            error = f"  {d.last_error}" if d.last_error else ""
            typer.echo(
                f"{d.id}\t{d.created_at.isoformat(timespec='seconds')}\t{d.channel}\t"
                f"{d.status}\t{d.attempts} tries\t{answer}\t{d.title}{error}"
            )


@app.command("run")
def run(
    db: DbOpt = None, log_level: LogLevelOpt = None, log_format: LogFormatOpt = LogFormat.TEXT
) -> None:
    """Run a notifier alone, e.g. as its own service beside ingest processes started with
    WAYSTATION_NOTIFY_INTERVAL_S=0 (then sending never shares a process with ingest);
    stops on SIGTERM/SIGINT."""
    import threading

    from cloud.notify.runner import start_notifier
    from waystation.runtime import stop_on_signals

    settings = cloud_settings(db=db)
    logs.setup(log_level, log_format)
    if settings.notify_interval_s <= 0:
        settings = settings.model_copy(update={"notify_interval_s": 1.0})  # this is its job
    with _engine(db) as engine:
        stop = stop_on_signals(threading.Event())
        thread = start_notifier(engine, settings, stop)
        typer.echo("notifier running")
        while thread is not None and thread.is_alive() and not stop.wait(1.0):
            pass
        stop.set()
        if thread is not None:
            thread.join(timeout=5)
