"""`waystation members api-client …`: API clients for union app backends (docs/integration.md).

`add NAME --scope members,enroll,status` registers a client. Without `--public-key` a P-256
key pair is made here: the private key goes to `--key-out` (mode 0600, never replacing a
file) and is stored nowhere else; the database keeps only the public key. With
`--public-key FILE` (PEM, made by the union: `openssl ecparam -name prime256v1 -genkey`)
nothing secret is ever on this machine. `list` shows the clients, `disable NAME` stops one at
once. Every change is audited as `cli:<login>`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from waystation.cli.member_bulk import app
from waystation.cli.members import _engine
from waystation.cli.options import DbOpt
from waystation.cli.users import cli_principal

api_app = typer.Typer(help="API clients of union app backends (server-to-server API).")
app.add_typer(api_app, name="api-client")


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


@api_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="client id: 3-40 of [a-z0-9-], e.g. qilu-app")],
    scope: Annotated[
        str, typer.Option(help="comma-separated: members, enroll, revoke, status")
    ] = "members,enroll,status",
    public_key: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="the union's P-256 public key, PEM"),
    ] = None,
    key_out: Annotated[
        Path | None,
        typer.Option(dir_okay=False, help="write the new private key here (PEM, mode 0600)"),
    ] = None,
    rate: Annotated[int, typer.Option(help="requests per minute (per server process)")] = 600,
    db: DbOpt = None,
) -> None:
    """Register an API client; prints its id, scopes and public key as JSON."""
    from cloud.auth import audit
    from cloud.credentials import apiclients as A  # noqa: N812
    from cloud.credentials.printing import PrintError, secret_file
    from cloud.db import session

    if (public_key is None) == (key_out is None):
        raise _fail("give exactly one of --public-key FILE (yours) or --key-out FILE (made here)")
    now = datetime.now(UTC)
    engine = _engine(db)
    try:
        with session(engine) as s:
            given = public_key.read_bytes() if public_key is not None else None
            try:
                pem = A.add_client(
                    s, client_id=name, scopes=scope, now=now, public_key=given, rate_per_min=rate
                )
                if pem is not None and key_out is not None:
                    with secret_file(key_out) as fh:
                        fh.write(pem.encode())
            except (A.ApiClientError, PrintError) as exc:
                s.rollback()
                raise _fail(str(exc)) from exc
            row = s.get(A.ApiClientRow, name)
            assert row is not None
            detail = {"scopes": row.scopes, "rate_per_min": rate, "key_made_here": pem is not None}
            audit(s, cli_principal(), "api_client.add", f"api_client:{name}", detail, at=now)
            out = {
                "client_id": row.client_id,
                "scopes": row.scopes.split(","),
                "public_key": row.public_key,
                "rate_per_min": row.rate_per_min,
                "private_key_file": str(key_out) if key_out else None,
            }
    finally:
        engine.dispose()
    typer.echo(json.dumps(out))


@api_app.command("list")
def list_(db: DbOpt = None) -> None:
    """The API clients, one JSON object per line."""
    from cloud.credentials import apiclients as A  # noqa: N812
    from cloud.db import session

    engine = _engine(db)
    try:
        with session(engine) as s:
            for row in A.clients(s):
                typer.echo(
                    json.dumps(
                        {
                            "client_id": row.client_id,
                            "scopes": row.scopes.split(","),
                            "rate_per_min": row.rate_per_min,
                            "created_at": row.created_at.isoformat(),
                            "disabled_at": row.disabled_at.isoformat() if row.disabled_at else None,
                        }
                    )
                )
    finally:
        engine.dispose()


@api_app.command("disable")
def disable(name: Annotated[str, typer.Argument(help="client id")], db: DbOpt = None) -> None:
    """Refuse the client's requests from now on (its next request gets 401)."""
    from cloud.auth import audit
    from cloud.credentials import apiclients as A  # noqa: N812
    from cloud.db import session

    now = datetime.now(UTC)
    engine = _engine(db)
    try:
        with session(engine) as s:
            try:
                row = A.disable_client(s, client_id=name, now=now)
            except A.ApiClientError as exc:
                raise _fail(str(exc)) from exc
            audit(s, cli_principal(), "api_client.disable", f"api_client:{name}", {}, at=now)
            disabled = row.disabled_at
    finally:
        engine.dispose()
    typer.echo(json.dumps({"client_id": name, "disabled_at": str(disabled)}))
