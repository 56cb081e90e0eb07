"""Our forks of library classes, and the switch back to the libraries' own (stock) classes.

Three classes override private names of a library to save CPU on the hot paths:
`cloud.ingest.mqttclient.BurstClient` (paho-mqtt's `Client`, per received message),
`cloud.httpcork.CorkedHttpToolsProtocol` (uvicorn's httptools protocol, per response) and
`cloud.api.public.NearbyRoute` (FastAPI's `APIRoute`, per nearby search). Private names change
without notice, so each fork runs only on the major.minor of the library it was written and
tested against. On any other version, or when `WAYSTATION_STOCK_CLASSES=1` is set (an operator
ruling a fork out, or CI running the tests against the stock classes), the stock class is used
instead: the same answers, more CPU. One log line per fork and reason says so.
"""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)

STOCK_ENV = "WAYSTATION_STOCK_CLASSES"
_ON = frozenset({"1", "true", "yes", "on"})
_said: set[tuple[str, str]] = set()  # (fork, reason) already logged


def stock_forced() -> bool:
    """The switch: `WAYSTATION_STOCK_CLASSES` set to 1/true/yes/on (read on every call, so a
    test can set it for one app or worker)."""
    return os.environ.get(STOCK_ENV, "").strip().lower() in _ON


def major_minor(version: str) -> str:
    """`"2.2.0"` → `"2.2"`; `"0.55.0.post1"` → `"0.55"`."""
    return ".".join(version.split(".")[:2])


def use_fork(fork: str, library: str, installed: str, tested: str) -> bool:
    """Whether `fork` may stand in for `library`'s stock class: `installed` (the library's
    `__version__`) has the major.minor `tested`, and the switch is off. When not, the first
    call for each reason logs it (a version mismatch as a warning: it costs speed)."""
    if stock_forced():
        reason, level = f"{STOCK_ENV} is set", logging.INFO
    elif major_minor(installed) != tested:
        reason = f"{library} {installed} is not the {tested}.x it was written for"
        level = logging.WARNING
    else:
        return True
    if (fork, reason) not in _said:
        _said.add((fork, reason))
        log.log(level, "%s: %s; using %s's stock class", fork, reason, library)
    return False
