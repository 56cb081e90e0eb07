"""CLI commands configure the process's logging (`waystation.logs`): put it back after each
test, so one test's level, format or handler never leaks into the next."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


def _loggers() -> list[logging.Logger]:
    known = logging.Logger.manager.loggerDict.values()
    return [logging.getLogger(), *(lg for lg in known if isinstance(lg, logging.Logger))]


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    saved = {id(lg): (lg.level, list(lg.handlers), lg.propagate) for lg in _loggers()}
    yield
    for lg in _loggers():
        level, handlers, propagate = saved.get(id(lg), (logging.NOTSET, [], True))
        lg.setLevel(level)
        lg.handlers[:] = handlers
        lg.propagate = propagate
