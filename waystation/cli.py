"""The `waystation` command: one entry point, sub-commands per part (DESIGN.md)."""

from __future__ import annotations

import typer

from cloud.cli import app as cloud_app
from cloud.cli import stations_app
from cloud.members_cli import app as members_app
from edge.cli import app as edge_app
from firmware_sim.cli import app as sim_app
from waystation.demo import demo
from waystation.provision_cli import app as provision_app

app = typer.Typer(
    help="Waystation: door scanners, footfall and the live map of outdoor-worker rest stations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command()(demo)
app.add_typer(edge_app, name="edge")
app.add_typer(cloud_app, name="cloud")
app.add_typer(sim_app, name="sim")
app.add_typer(stations_app, name="stations")
app.add_typer(members_app, name="members")
app.add_typer(provision_app, name="provision")


def main() -> None:
    app()
