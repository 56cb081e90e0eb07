"""`waystation cloud users …`: ops accounts from the shell. The first admin is made here
(`users add NAME --role admin`); afterwards admins can also use the HTTP API.

An account sees every station (the union) unless limited to some operators/partners and/or
cities: `users add NAME --role operator --operator 建设银行 --city 滨州` (both repeatable), and
`users scope NAME …` to change it (`--all` for the union again). See `cloud.auth.scope`.

Every change is audited as the local operating-system user (`cli:<login>`, role admin).
Refusals print one line on stderr and exit 2.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from waystation.cli.options import DbOpt, cloud_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from cloud.auth.roles import Principal

app = typer.Typer(
    help="Ops accounts: add, list, scope, disable, issue API tokens.", no_args_is_help=True
)

ROLES = ("viewer", "operator", "admin")
OperatorOpt = Annotated[
    list[str] | None,
    typer.Option("--operator", help="limit to this operator/partner's stations (repeatable)"),
]
CityOpt = Annotated[
    list[str] | None, typer.Option("--city", help="limit to this city's stations (repeatable)")
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
    from cloud.auth.scope import ScopeError
    from cloud.auth.users import AccountError

    try:
        yield
    except (AccountError, ScopeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


def cli_principal() -> Principal:
    """Who a shell change is audited as: the local operating-system user, role admin."""
    from cloud.auth.roles import Principal, Role

    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Principal(f"cli:{who}"[:64], Role.ADMIN, "cli", None)


def _read_password(from_stdin: bool, username: str) -> str:
    from cloud.auth.passwords import weakness

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    reason = weakness(password, username)
    if reason:
        typer.echo(f"error: {reason}", err=True)
        raise typer.Exit(2)
    return password


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="username (a-z 0-9 . _ @ -)")],
    role: Annotated[str, typer.Option(help="viewer | operator | admin")] = "viewer",
    operator: OperatorOpt = None,
    city: CityOpt = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin's first line")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Create an account (prompts for the password unless --password-stdin). Without
    --operator/--city it sees every station."""
    from sqlmodel import Session

    from cloud.auth import audit
    from cloud.auth.roles import Role
    from cloud.auth.scope import make_scope
    from cloud.auth.users import add_user, normalize_username
    from cloud.clock import utcnow

    if role not in ROLES:
        raise typer.BadParameter(f"--role must be one of {', '.join(ROLES)}")
    with _refusals():
        username = normalize_username(name)
        scope = make_scope(operator or (), city or ())
    password = _read_password(password_stdin, username)
    with _engine(db) as engine, _refusals(), Session(engine, expire_on_commit=False) as s:
        user = add_user(s, username, Role(role), password, now=utcnow(), scope=scope)
        detail = {"role": role, "scope": scope.describe()}
        audit(s, cli_principal(), "user.create", user.username, detail)
        s.commit()
    typer.echo(f"created {username} ({role}); scope {scope.describe()}")


@app.command("scope")
def scope_(
    name: Annotated[str, typer.Argument()],
    operator: OperatorOpt = None,
    city: CityOpt = None,
    everything: Annotated[
        bool, typer.Option("--all", help="no limit: every station of the union")
    ] = False,
    db: DbOpt = None,
) -> None:
    """Set which stations an account sees: --operator and/or --city (repeatable), or --all.
    Replaces the whole scope; takes effect on the account's next request."""
    from sqlmodel import Session

    from cloud.auth import audit
    from cloud.auth.scope import make_scope
    from cloud.auth.users import set_scope

    if everything == bool(operator or city):
        raise typer.BadParameter("give --operator and/or --city, or --all")
    with _refusals():
        scope = make_scope(operator or (), city or ())
    with _engine(db) as engine, _refusals(), Session(engine, expire_on_commit=False) as s:
        before, user = set_scope(s, name, scope)
        if before != scope:
            detail = {"from": before.describe(), "to": scope.describe()}
            audit(s, cli_principal(), "user.scope", user.username, detail)
        s.commit()
    typer.echo(f"{user.username}: scope {scope.describe()}")


@app.command("list")
def list_(db: DbOpt = None) -> None:
    """One line per account: name, role, enabled/disabled, last login, scope."""
    from sqlmodel import Session

    from cloud.auth.scope import ALL, load_scopes
    from cloud.auth.users import list_users

    with _engine(db) as engine, Session(engine, expire_on_commit=False) as s:
        scopes = load_scopes(s)
        for u in list_users(s):
            state = "disabled" if u.disabled else "enabled"
            last = u.last_login_at.isoformat(timespec="seconds") if u.last_login_at else "never"
            scope = scopes.get(u.username, ALL).describe()
            typer.echo(f"{u.username}\t{u.role}\t{state}\tlast login {last}\tscope {scope}")


@app.command("disable")
def disable(name: Annotated[str, typer.Argument()], db: DbOpt = None) -> None:
    """Lock an account out at once: its sessions end and its tokens stop working."""
    from sqlmodel import Session

    from cloud.auth import audit
    from cloud.auth.users import set_disabled

    with _engine(db) as engine, _refusals(), Session(engine, expire_on_commit=False) as s:
        user = set_disabled(s, name, True)
        audit(s, cli_principal(), "user.disable", user.username, {})
        s.commit()
    typer.echo(f"disabled {user.username}")


@app.command("token")
def token(
    name: Annotated[str, typer.Argument(help="the account the token acts as")],
    purpose: Annotated[str, typer.Option("--name", help="what the token is for")] = "cli",
    expires_days: Annotated[
        float | None, typer.Option(min=0.001, help="expire after this many days")
    ] = None,
    db: DbOpt = None,
) -> None:
    """Issue an API token and print it once (as `token: …`); only its hash is stored."""
    from sqlmodel import Session

    from cloud.auth import audit
    from cloud.auth.users import add_token
    from cloud.clock import utcnow

    now = utcnow()
    expires = now + timedelta(days=expires_days) if expires_days else None
    with _engine(db) as engine, _refusals(), Session(engine, expire_on_commit=False) as s:
        row, plain = add_token(s, name, purpose, now=now, expires_at=expires)
        detail = {"id": row.id, "name": purpose}
        audit(s, cli_principal(), "token.create", row.username, detail)
        s.commit()
    typer.echo(f"token: {plain}")
