"""The `waystation` command: one entry point, sub-commands per part (DESIGN.md).

Each group lives in a module of its own (`edge`, `cloud`, `users`, `stations`, `members`
with `member_bulk` and `member_api`, `sim`, `provision`); shared options are in `options`.
Every module imports
its heavy dependencies inside the commands, so `waystation --help` starts fast and works on an image
that installs only one part's packages.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer

from waystation.cli.cloud import app as cloud_app
from waystation.cli.edge import app as edge_app
from waystation.cli.member_api import app as members_app  # members + import, pass, api-client
from waystation.cli.provision import app as provision_app
from waystation.cli.sim import app as sim_app
from waystation.cli.stations import app as stations_app
from waystation.demo import demo

app = typer.Typer(
    help="Waystation: door scanners, footfall and the live map of outdoor-worker rest stations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if not value:
        return
    try:
        version = metadata.version("waystation")
    except metadata.PackageNotFoundError:  # a source checkout run without installing it
        version = "unknown (not installed)"
    typer.echo(f"waystation {version}")
    raise typer.Exit


@app.callback()
def _root(
    _version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="print the version, exit"
        ),
    ] = False,
    env_file: Annotated[
        list[Path] | None,
        typer.Option(
            "--env-file",
            exists=True,
            dir_okay=False,
            help="read NAME=value lines (as `provision cloud`/`provision stack` write them) into "
            "the environment first; later files win, and over variables already set",
        ),
    ] = None,
) -> None:
    """Waystation: door scanners, footfall and the live map of outdoor-worker rest stations."""
    if env_file:
        from waystation.cloud_units import read_env_file

        for path in env_file:
            try:
                os.environ.update(read_env_file(path))
            except (OSError, ValueError) as exc:
                raise typer.BadParameter(str(exc), param_hint="--env-file") from exc


app.command()(demo)
app.add_typer(edge_app, name="edge")
app.add_typer(cloud_app, name="cloud")
app.add_typer(sim_app, name="sim")
app.add_typer(stations_app, name="stations")
app.add_typer(members_app, name="members")
app.add_typer(provision_app, name="provision")


def main() -> None:
    app()
