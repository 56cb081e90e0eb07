"""Logging of the long-running commands: one level option, one format option, one setup.

`edge run`, `cloud serve|ingest|maintain`, `sim fleet|chaos` and `demo` take `--log-level`
(DEBUG, INFO, WARNING, ERROR, any case; `$WAYSTATION_LOG_LEVEL`) and `--log-format text|json`
(`$WAYSTATION_LOG_FORMAT`). JSON is one object a line with `ts` (RFC 3339, UTC), `level`,
`logger`, `msg`, and `exc` when the record carries an exception: what a log collector
(journald export, Loki, Elasticsearch) parses without a pattern.

Everything goes to one handler on the root logger, writing to stderr. uvicorn's own
loggers (`uvicorn.error`, `uvicorn.access`) are emptied and propagate to it, so the server's
lines and the app's (`cloud.*`) come out in the same format at the same level: with uvicorn's
default config the root logger stayed at WARNING and the app's INFO lines were dropped.
`config()` is a `logging.config.dictConfig` dict, which uvicorn applies again in each worker
process it spawns.

Lives beside `runtime` rather than in `waystation.cli`: `waystation.demo` uses it, and the
CLI package imports the demo.
"""

from __future__ import annotations

import json
import logging
import logging.config
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, TextIO

import typer

LEVEL_ENV = "WAYSTATION_LOG_LEVEL"
FORMAT_ENV = "WAYSTATION_LOG_FORMAT"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# uvicorn's loggers: emptied and propagating to the root handler (see the module docstring)
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
# Held at WARNING unless DEBUG is asked for: alembic's plugin registry says seven INFO lines
# of its own set-up at every start, which tell an operator nothing.
CHATTY = ("alembic.runtime.plugins",)


class LogLevel(StrEnum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


LogLevelOpt = Annotated[
    LogLevel | None,
    typer.Option(
        "--log-level",
        envvar=LEVEL_ENV,
        case_sensitive=False,
        show_default=False,
        help="DEBUG, INFO, WARNING or ERROR (any case); default INFO (demo, sim chaos: WARNING)",
    ),
]
LogFormatOpt = Annotated[
    LogFormat,
    typer.Option(
        "--log-format",
        envvar=FORMAT_ENV,
        case_sensitive=False,
        help="text, or json: one object a line (ts, level, logger, msg, exc)",
    ),
]


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ts (RFC 3339 UTC, milliseconds), level, logger, msg, exc."""

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line: dict[str, Any] = {
            "ts": ts.replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)  # Chinese names stay readable


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever `sys.stderr` is when a record comes, not the stream of the moment
    the handler was made (which a test runner may have closed since)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def level_of(level: LogLevel | None, default: int = logging.INFO) -> int:
    """The chosen level as a number; `default` (the command's) when none was chosen."""
    return default if level is None else logging.getLevelNamesMapping()[level.value]


def config(
    level: int, fmt: LogFormat = LogFormat.TEXT, quiet: Iterable[str] = ()
) -> dict[str, Any]:
    """The `logging.config.dictConfig` for `level` (a number) and `fmt` (see module doc).

    `quiet` (and `CHATTY`): loggers held at WARNING unless DEBUG is asked for; in the config
    itself, so every process uvicorn starts from it holds them too."""
    name = logging.getLevelName(level)
    formatter: dict[str, Any] = (
        {"()": f"{__name__}.JsonFormatter"} if fmt is LogFormat.JSON else {"format": TEXT_FORMAT}
    )
    loggers = {
        logger: {"level": name, "handlers": [], "propagate": True} for logger in UVICORN_LOGGERS
    }
    if level > logging.DEBUG:
        held = logging.getLevelName(max(level, logging.WARNING))
        loggers |= {logger: {"level": held} for logger in (*CHATTY, *quiet)}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"waystation": formatter},
        "handlers": {"waystation": {"()": f"{__name__}.StderrHandler", "formatter": "waystation"}},
        "root": {"level": name, "handlers": ["waystation"]},
        "loggers": loggers,
    }


def setup(
    level: LogLevel | None,
    fmt: LogFormat,
    *,
    default: int = logging.INFO,
    quiet: Iterable[str] = (),
) -> dict[str, Any]:
    """Configure this process's logging; returns the config (for `uvicorn_options`).
    `default`: the command's level when none was chosen; `quiet`: see `config`."""
    cfg = config(level_of(level, default), fmt, quiet)
    logging.config.dictConfig(cfg)
    return cfg


def uvicorn_options(cfg: dict[str, Any]) -> dict[str, Any]:
    """uvicorn's logging arguments for a `config()`: uvicorn applies it again in each worker
    process it starts, and sets its own loggers to the same level."""
    return {"log_config": cfg, "log_level": str(cfg["root"]["level"]).lower()}
