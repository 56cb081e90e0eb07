"""`waystation.logs`: the JSON fields a collector parses, an exception as `exc`, and the
config every `cloud serve --workers` process applies again."""

from __future__ import annotations

import json
import logging
import logging.config
import sys

import pytest

from waystation.logs import JsonFormatter, LogFormat, config


def record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    made = logging.LogRecord("cloud.ingest", logging.ERROR, __file__, 1, msg, args, exc_info)
    made.created = 1_764_547_200.25  # 2025-12-01 00:00:00.250 UTC
    return made


def test_one_object_with_ts_level_logger_msg() -> None:
    line = JsonFormatter().format(record("station %s: %d left", "深圳-1", 3))
    assert "\n" not in line
    assert json.loads(line) == {
        "ts": "2025-12-01T00:00:00.250Z",
        "level": "ERROR",
        "logger": "cloud.ingest",
        "msg": "station 深圳-1: 3 left",
    }
    assert "深圳" in line  # readable, not \\u escapes


def test_an_exception_comes_as_exc_on_the_same_line() -> None:
    line = JsonFormatter().format(record("write failed", exc=True))
    assert "\n" not in line
    parsed = json.loads(line)
    assert parsed["msg"] == "write failed"
    assert parsed["exc"].startswith("Traceback (most recent call last):")
    assert parsed["exc"].endswith("ValueError: boom")


@pytest.mark.parametrize(("level", "held"), [(logging.INFO, logging.WARNING), (logging.DEBUG, 0)])
def test_the_config_itself_holds_chatty_loggers_unless_debug(level: int, held: int) -> None:
    # Story: uvicorn's worker processes apply only the config dict, and alembic's seven
    # "setup plugin" INFO lines came back in each of them.
    logging.config.dictConfig(config(level, LogFormat.JSON, quiet=("edge",)))
    for name in ("alembic.runtime.plugins", "edge"):
        assert logging.getLogger(name).getEffectiveLevel() == (held or level)
    assert logging.getLogger("cloud.main").getEffectiveLevel() == level
    assert logging.getLogger("uvicorn.access").handlers == []  # to the root handler
