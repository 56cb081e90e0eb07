"""What several command groups share: the `--db` option and cloud settings built from options.

Cloud settings come from the environment (`WAYSTATION_*`, `cloud.settings.Settings`); an
option given on the command line wins over its variable. An unknown or retired `WAYSTATION_*`
variable stops every command that reads them (`cloud.environment.check`, as `create_app`
does). Imports of the cloud happen inside `cloud_settings()`, so `waystation --help` works on
an install without the cloud's packages.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from cloud.settings import Settings

DbOpt = Annotated[
    str | None,
    typer.Option("--db", help="SQLAlchemy URL; default $WAYSTATION_DB or sqlite:///waystation.db"),
]


def cloud_settings(**overrides: object) -> Settings:
    """Cloud settings from the environment with the options given (None: not given) on top;
    a bad value is a usage error naming the field, a misspelt or retired variable one line
    naming it (exit 2), never a traceback."""
    from pydantic import ValidationError

    from cloud import environment
    from cloud.settings import Settings, SettingsError

    try:
        environment.check()
    except SettingsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        raise typer.BadParameter(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from exc
