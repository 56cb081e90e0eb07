"""Every `WAYSTATION_*` environment variable the project reads, and the start-up check.

pydantic-settings silently ignores a variable it does not know, so `WAYSTATION_BATCH_MAXX=200`
or a leftover `WAYSTATION_ADMIN_TOKEN=` would be no-ops an operator never hears about. The
cloud's processes call `check()` at start: an unknown `WAYSTATION_*` name is refused with the
closest valid one, a retired one with what replaced it. `variables()` is also the source of
the generated reference in docs/settings.md (scripts/settings_docs.py).
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic_settings import BaseSettings

from cloud.api.ops_pages import OpsMapSettings
from cloud.credentials.context import CredentialSettings
from cloud.settings import RETIRED, Settings, SettingsError
from cloud.web.finder.page import FinderSettings

PREFIX = "WAYSTATION_"
SETTINGS_CLASSES: tuple[type[BaseSettings], ...] = (
    Settings,
    CredentialSettings,
    FinderSettings,
    OpsMapSettings,
)

# Read outside the settings classes: (default shown in the docs, meaning, who reads it).
OTHER: dict[str, tuple[str, str, str]] = {
    "WAYSTATION_ISSUER_PASSPHRASE": (
        "",
        "passphrase that opens the sealed issuer and anchor keys (12+ characters)",
        "cloud serve, members tools",
    ),
    "WAYSTATION_ISSUER_PASSPHRASE_FILE": (
        "",
        "file whose first line is that passphrase (preferred over the variable)",
        "cloud serve, members tools",
    ),
    "WAYSTATION_MQTT_PASSWORD": (
        "",
        "a station's broker password, instead of `mqtt.password_file` in station.toml",
        "edge run",
    ),
    "WAYSTATION_STOCK_CLASSES": (
        "0",
        "1: use the libraries' stock classes instead of the project's faster forks of paho, "
        "uvicorn and FastAPI internals (cloud.forks; the forks also step aside by themselves "
        "on library versions they were not written for)",
        "cloud serve, cloud ingest",
    ),
    "WAYSTATION_LOG_LEVEL": (
        "INFO",
        "DEBUG, INFO, WARNING or ERROR (any case), as `--log-level`; the demo and `sim chaos` "
        "default to WARNING",
        "edge run, cloud serve, cloud ingest, cloud maintain, sim fleet, sim chaos, demo",
    ),
    "WAYSTATION_LOG_FORMAT": (
        "text",
        "text, or json: one object a line with ts (RFC 3339 UTC), level, logger, msg and exc, "
        "as `--log-format`",
        "edge run, cloud serve, cloud ingest, cloud maintain, sim fleet, sim chaos, demo",
    ),
    "WAYSTATION_NO_APT": ("0", "1: scripts/ never install Debian packages", "scripts/"),
    "WAYSTATION_TEST_PG": (
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        "the PostgreSQL the tests use",
        "./scripts/test",
    ),
}


@dataclass(frozen=True, slots=True)
class Variable:
    name: str
    default: str
    meaning: str
    read_by: str


def _default(field: Any) -> str:
    if field.default_factory is not None:
        return ""
    value = field.default
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def variables() -> list[Variable]:
    """Every variable, settings classes first (in field order), then the others."""
    out: list[Variable] = []
    for cls in SETTINGS_CLASSES:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        reader = "cloud serve, cloud ingest" if cls is Settings else "cloud serve"
        for name, field in cls.model_fields.items():
            out.append(
                Variable(
                    f"{prefix}{name.upper()}", _default(field), field.description or "", reader
                )
            )
    out += [Variable(n, d, m, r) for n, (d, m, r) in OTHER.items()]
    return out


def check(environ: Mapping[str, str] | None = None) -> None:
    """Raise `SettingsError` naming each `WAYSTATION_*` variable that is unknown or retired."""
    env = os.environ if environ is None else environ
    known = {v.name for v in variables()}
    problems = []
    for name in sorted(env):
        if not name.startswith(PREFIX) or name in known:
            continue
        if name in RETIRED:
            problems.append(f"{name}: {RETIRED[name]}")
            continue
        # Compared without the prefix, which every name shares (it would make all look close).
        tails = {k.removeprefix(PREFIX): k for k in known}
        close = difflib.get_close_matches(name.removeprefix(PREFIX), tails, n=1, cutoff=0.7)
        hint = f"did you mean {tails[close[0]]}?" if close else "see docs/settings.md"
        problems.append(f"{name} is not a Waystation setting: {hint}")
    if problems:
        raise SettingsError("; ".join(problems))
