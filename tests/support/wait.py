"""Wait on a condition instead of sleeping for a guessed time.

A fixed `time.sleep(n)` before an assert is either too short on a loaded machine (the test
flakes) or too long everywhere else (the suite crawls). Polling the condition returns as soon
as it holds and only fails after a generous deadline. On failure the message names what was
awaited and the predicate's last value, so a timeout says what the test actually saw.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    timeout_s: float = 10.0,
    what: str | Callable[[], str] = "",
    interval_s: float = 0.02,
) -> T:
    """Poll `predicate` until it returns a truthy value, and return that value.

    timeout_s: seconds before giving up; the predicate is always tried once more after the
    deadline has passed, so a slow last poll still counts.
    what: names the condition in the failure message; a callable is evaluated only on
    failure (for a description that shows the state at that moment).
    interval_s: seconds between polls.
    Raises AssertionError (a test failure, not an error) when the deadline passes.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval_s)
    described = (what() if callable(what) else what) or repr(predicate)
    raise AssertionError(
        f"timed out after {timeout_s:g}s waiting for {described} (last value: {value!r})"
    )
