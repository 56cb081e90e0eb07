"""The station's one rule for a failing part: count it, log it, carry on.

Nothing a part does (a dead relay, a full disk, a sensor gone) may escape the door loop as an
exception; it becomes a counter in the agent's `stats` (exported on /metrics) and a log line.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

log = logging.getLogger(__name__)


def guarded(sid: str, stats: Counter[str], counter: str, fn: Callable[[], object]) -> bool:
    """Run `fn`; if it raises, add one to `stats[counter]`, log it, and return False."""
    try:
        fn()
    except Exception:
        stats[counter] += 1
        log.exception("%s: %s failed", sid, getattr(fn, "__name__", fn))
        return False
    return True
