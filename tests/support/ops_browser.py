"""The ops dashboard in a real browser as the e2e tests drive it: log in through the form a
person uses, and collect what the page reports as errors (a CSP violation is a console
error)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

WAIT_MS = 15_000  # a page's live stream connects within this, even on a loaded machine


def page_errors(page: Any, into: list[str] | None = None) -> list[str]:
    """A list (`into`, or a new one) that fills with the page's uncaught errors and console
    errors."""
    seen: list[str] = [] if into is None else into
    page.on("pageerror", lambda e: seen.append(f"pageerror: {e}"))
    page.on("console", lambda m: m.type == "error" and seen.append(m.text))
    return seen


def log_in(page: Any, base: str, username: str, password: str, *, live: bool = True) -> None:
    """Open /ops without a session (the login form), log in, and (`live`) wait for the live
    stream."""
    page.goto(f"{base}/ops")
    page.wait_for_url(f"{base}/ops/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base}/ops")
    if live:
        page.wait_for_selector("#live-status[data-state=live]", timeout=WAIT_MS)


def release_late(page: Any, held: list[Any], match: Callable[[str], bool]) -> None:
    """Let the requests `held` back by `page.route(match, …)` through, one answer at a time,
    stop holding, and wait until the page has run its code on the last answer (its next
    frame and task): for tests of requests that answer out of order."""
    for route in held:
        with page.expect_response(lambda r: match(r.url)):
            route.continue_()
    page.unroute(match)
    page.evaluate("new Promise((done) => requestAnimationFrame(() => setTimeout(done, 50)))")
