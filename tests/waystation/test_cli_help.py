"""`waystation --help` and every sub-command's `--help`, discovered from the Typer app.

Sub-commands import their heavy dependencies inside the command body, so help must work
without starting anything; a command added later is covered here without editing this file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from waystation.cli import app

WAYSTATION = Path(sys.executable).with_name("waystation")
GROUPS = {"demo", "edge", "cloud", "sim", "stations"}
EXPECTED = {
    ("demo",),
    ("edge", "run"),
    ("edge", "scan"),
    ("edge", "verify"),
    ("cloud", "serve"),
    ("cloud", "ingest"),
    ("sim", "fleet"),
    ("stations", "import"),
    ("stations", "export"),
}


def leaf_commands(command: object, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every runnable command path under `command` (Typer's own click: duck-typed)."""
    subcommands = getattr(command, "commands", None)
    if subcommands:
        found: list[tuple[str, ...]] = []
        for name, sub in sorted(subcommands.items()):
            found += leaf_commands(sub, (*path, name))
        return found
    return [path]


LEAVES = leaf_commands(typer.main.get_command(app))


def test_discovery_finds_every_documented_command() -> None:
    assert set(LEAVES) >= EXPECTED


def test_top_level_help_lists_the_groups() -> None:
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    listed = {line.strip(" │").split(" ")[0] for line in result.output.splitlines()}
    assert listed >= GROUPS


def test_console_script_answers_help() -> None:
    proc = subprocess.run(
        [str(WAYSTATION), "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert all(group in proc.stdout for group in GROUPS)


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_command_answers_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert " ".join(path) in result.output  # the usage line names the command
    assert "--help" in result.output
