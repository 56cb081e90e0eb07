"""`waystation members …`: the union's offline issuing kit, for admins and installers.

The kit directory D holds the trust anchor and issuer keys (sealed with the passphrase from
`$WAYSTATION_ISSUER_PASSPHRASE` or `--passphrase-file`), the signed lists a station reads
(`waystation edge verify --trust D` works on it directly) and the ledger of certificates.
Commands print one JSON object (except `present`, which prints the QR text) and exit 2 with a
one-line reason on bad input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from waystation.cli.options import DbOpt, cloud_settings
from waystation.cli.users import cli_principal

if TYPE_CHECKING:
    from cloud.credentials.keys import Passphrase

app = typer.Typer(
    help="Member credentials: issuer keys, enrolment, presentation, revocation.",
    no_args_is_help=True,
)

DirOpt = Annotated[Path, typer.Option("--dir", file_okay=False, help="the issuing kit directory")]
PassFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--passphrase-file",
        exists=True,
        dir_okay=False,
        help="file holding the key passphrase (else $WAYSTATION_ISSUER_PASSPHRASE)",
    ),
]
TIME_FORMATS = ["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S"]


def _echo(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data, default=str))


@contextmanager
def _errors() -> Iterator[None]:
    """Known failures become one line on stderr and exit code 2, never a traceback."""
    from cloud.credentials.keys import IssuerKeyError
    from cloud.credentials.kit import KitError

    try:
        yield
    except (KitError, IssuerKeyError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def _passphrase(file: Path | None) -> Passphrase | None:
    from cloud.credentials.keys import load_passphrase

    return load_passphrase(file)


def _utc(at: datetime | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _with_kit(directory: Path, passphrase_file: Path | None, work: Callable[..., Any]) -> Any:
    from cloud.credentials.kit import Kit

    with _errors():
        return work(Kit.open(directory, _passphrase(passphrase_file)))


@app.command("init-issuer")
def init_issuer(
    directory: DirOpt,
    kid: Annotated[str, typer.Option(help="issuer key id, 1-16 of [A-Za-z0-9._-]")],
    passphrase_file: PassFileOpt = None,
    insecure_no_passphrase: Annotated[
        bool, typer.Option(help="store private keys UNENCRYPTED (tests and demos only)")
    ] = False,
) -> None:
    """Create the trust anchor, the first issuer key and version-1 signed lists in DIR."""
    from cloud.credentials.keys import IssuerKeyError
    from cloud.credentials.kit import Kit
    from protocol.credential import KID_RE

    if not KID_RE.fullmatch(kid):
        raise typer.BadParameter("1-16 of [A-Za-z0-9._-]", param_hint="--kid")
    with _errors():
        passphrase = _passphrase(passphrase_file)
        if passphrase is not None and insecure_no_passphrase:
            raise IssuerKeyError("a passphrase and --insecure-no-passphrase together")
        kit = Kit.init(directory, kid=kid, passphrase=passphrase, insecure=insecure_no_passphrase)
    _echo(
        {
            "dir": str(directory),
            "kid": kid,
            "encrypted": passphrase is not None,
            "trust_version": kit.trust().version,
            "revocation_version": kit.revocations().version,
        }
    )


@app.command()
def enroll(
    directory: DirOpt,
    member: Annotated[str, typer.Option(help="member id (a pseudonym, never a name or phone)")],
    wallet: Annotated[Path, typer.Option(dir_okay=False, help="wallet file to write")],
    valid_days: Annotated[int, typer.Option(min=1, max=366, help="certificate validity")] = 28,
    token_days: Annotated[
        int, typer.Option(min=0, max=14, help="days of WS2 5-minute tokens to add (0: none)")
    ] = 0,
    mother_baby: Annotated[bool, typer.Option(help="may enter the mother-and-baby room")] = False,
    passphrase_file: PassFileOpt = None,
) -> None:
    """Make a device key, sign its certificate and write both into a wallet file."""
    import re

    from cloud.credentials.kit import MEMBER_ID_PATTERN
    from firmware_sim.wallet import Wallet, new_device_key
    from protocol.credential import Flag

    if not re.fullmatch(MEMBER_ID_PATTERN, member):
        raise typer.BadParameter("1-40 of [A-Za-z0-9._-]", param_hint="--member")
    device = new_device_key()
    flags = Flag.MOTHER_BABY if mother_baby else Flag.NONE

    def work(kit: Any) -> Wallet:
        certificate = kit.enroll(member, device.public_key(), valid_days=valid_days, flags=flags)
        made = Wallet(member, device, certificate)
        if token_days:
            tokens = kit.tokens(made.serial, start=datetime.now(UTC), days=token_days)
            made = Wallet(member, device, certificate, tuple(tokens))
        return made

    made: Wallet = _with_kit(directory, passphrase_file, work)
    made.save(wallet)
    cert = made.cert
    _echo(
        {
            "member": member,
            "serial": made.serial,
            "kid": cert.kid,
            "valid_from": cert.valid_from,
            "valid_until": cert.valid_until,
            "tokens": len(made.tokens),
            "wallet": str(wallet),
        }
    )


@app.command()
def present(
    wallet: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="wallet file")],
    at: Annotated[
        datetime | None, typer.Option(formats=TIME_FORMATS, help="ISO time (UTC); default now")
    ] = None,
    png: Annotated[Path | None, typer.Option(dir_okay=False, help="also render a QR PNG")] = None,
    format_: Annotated[
        str, typer.Option("--format", help="ws1 (device-signed) or ws2 (window token)")
    ] = "ws1",
) -> None:
    """Print the QR text the member's phone would show now (or at --at)."""
    from firmware_sim.wallet import Wallet

    if format_ not in ("ws1", "ws2"):
        raise typer.BadParameter("ws1 or ws2", param_hint="--format")
    try:
        held = Wallet.load(wallet)
        text = held.present(int(_utc(at).timestamp()), format_)  # type: ignore[arg-type]
    except (ValueError, KeyError) as exc:
        typer.echo(f"error: {wallet}: {exc}", err=True)
        raise typer.Exit(2) from exc
    if png is not None:
        held.save_png(text, png)
    typer.echo(text)


@app.command()
def revoke(
    directory: DirOpt,
    serial: Annotated[str | None, typer.Option(help="certificate serial (hex)")] = None,
    member: Annotated[str | None, typer.Option(help="revoke every certificate of a member")] = None,
    passphrase_file: PassFileOpt = None,
) -> None:
    """Revoke a certificate or a member and sign the next revocation list version."""
    if (serial is None) == (member is None):
        raise typer.BadParameter("give exactly one of --serial or --member")
    newly, item = _with_kit(
        directory, passphrase_file, lambda kit: kit.revoke(serial=serial, member_id=member)
    )
    _echo({"revoked": newly, "revocation_version": item.version, "listed": len(item.serials)})


@app.command()
def rotate(
    directory: DirOpt,
    kid: Annotated[str, typer.Option(help="the NEW issuer key id (never reused)")],
    overlap_days: Annotated[
        int, typer.Option(min=0, max=3650, help="days older keys stay trusted after the switch")
    ] = 30,
    activate_after_hours: Annotated[
        int,
        typer.Option(
            min=0, max=24 * 90, help="publish the key now, sign with it only after this delay"
        ),
    ] = 0,
    passphrase_file: PassFileOpt = None,
) -> None:
    """Add a new issuer key; certificates from older keys keep working during the overlap."""
    from protocol.credential import KID_RE

    if not KID_RE.fullmatch(kid):
        raise typer.BadParameter("1-16 of [A-Za-z0-9._-]", param_hint="--kid")
    rotation, trust = _with_kit(
        directory,
        passphrase_file,
        lambda kit: kit.rotate(
            kid,
            overlap=timedelta(days=overlap_days),
            activate_after=timedelta(hours=activate_after_hours),
        ),
    )
    _echo(
        {
            "kid": kid,
            "signs_from": rotation.new.not_before,
            "older_keys_until": {k.kid: k.not_after for k in rotation.shortened},
            "trust_version": trust.version,
        }
    )


@app.command()
def retire(
    directory: DirOpt,
    kid: Annotated[str, typer.Option(help="issuer key id to take out of the trust list now")],
    passphrase_file: PassFileOpt = None,
) -> None:
    """Distrust an issuer key now (e.g. it leaked): its certificates stop working."""
    trust = _with_kit(directory, passphrase_file, lambda kit: kit.retire(kid))
    _echo({"retired": kid, "trust_version": trust.version, "keys": [k.kid for k in trust.keys]})


@app.command("list")
def list_(
    directory: DirOpt,
    member: Annotated[str | None, typer.Option(help="only this member's certificates")] = None,
) -> None:
    """Print the kit's issuer keys and certificates (no private material)."""

    def work(kit: Any) -> dict[str, Any]:
        certs = [c for c in kit.state.certificates if member is None or c.member_id == member]
        return {
            "keys": [k.model_dump(mode="json") for k in kit.state.keys],
            "certificates": [c.model_dump(mode="json") for c in certs],
            "trust_version": kit.trust().version,
            "revocation_version": kit.revocations().version,
        }

    _echo(_with_kit(directory, None, work))


@app.command()
def publish(
    directory: DirOpt,
    broker: Annotated[str, typer.Option(help="mqtt[s]://user:pass@host:port (cloud account)")],
) -> None:
    """Publish the kit's signed lists retained on ws/v1/trust/keys and ws/v1/trust/revocations."""
    from cloud.credentials.publisher import PublishError, publish_lists
    from protocol.broker import BrokerUrl

    def work(kit: Any) -> tuple[Any, Any]:
        return kit.trust(), kit.revocations()

    trust, revocations = _with_kit(directory, None, work)
    try:
        publish_lists(BrokerUrl.parse(broker), trust.to_bytes(), revocations.to_bytes())
    except (PublishError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    _echo({"trust_version": trust.version, "revocation_version": revocations.version})


def _engine(db: str | None) -> Any:
    from cloud.db import init_db, make_engine

    engine = make_engine(cloud_settings(db=db).db)
    init_db(engine)
    return engine


@app.command("import-kit")
def import_kit(directory: DirOpt, db: DbOpt = None) -> None:
    """Hand the kit to the cloud service: keys (still sealed), lists and ledger into the DB.

    From then on the cloud issues and revokes (it needs the same passphrase). Audited like
    the other shell changes to the cloud, as `cli:<login>` (`waystation cloud users`)."""
    from cloud.auth import audit
    from cloud.credentials.issuer import CredentialError
    from cloud.credentials.issuer import import_kit as copy_kit
    from cloud.credentials.kit import Kit
    from cloud.db import session

    engine = _engine(db)
    try:
        with _errors(), session(engine) as s:
            keys, certs = copy_kit(s, Kit.open(directory, None))
            detail = {"dir": str(directory), "keys": keys, "certificates": certs}
            audit(s, cli_principal(), "issuer.import_kit", f"kit:{directory.name}", detail)
    except CredentialError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    finally:
        engine.dispose()
    _echo({"keys": keys, "certificates": certs})


@app.command("publish-db")
def publish_db(
    broker: Annotated[str, typer.Option(help="mqtt[s]://user:pass@host:port (cloud account)")],
    db: DbOpt = None,
) -> None:
    """Publish the cloud database's signed lists again (e.g. after the broker was down)."""
    from cloud.credentials.issuer import REVOCATIONS, TRUST, signed_list
    from cloud.credentials.publisher import PublishError, publish_lists
    from cloud.db import session
    from protocol.broker import BrokerUrl

    engine = _engine(db)
    try:
        with session(engine) as s:
            trust, revocations = signed_list(s, TRUST), signed_list(s, REVOCATIONS)
    finally:
        engine.dispose()
    if trust is None or revocations is None:
        typer.echo("error: no issuer in this database (members import-kit first)", err=True)
        raise typer.Exit(2)
    try:
        publish_lists(BrokerUrl.parse(broker), trust.body.encode(), revocations.body.encode())
    except (PublishError, ValueError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    _echo({"trust_version": trust.version, "revocation_version": revocations.version})
