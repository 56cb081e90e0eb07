"""Headless Chromium (Debian's `chromium`, driven by Python playwright) and a live cloud server.

Never `playwright install`: the browser is the distribution's, at /usr/bin/chromium. Missing
browser or playwright skips locally and fails under CI=true.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi import FastAPI

from tests.support.server import uvicorn_thread


def require(reason: str) -> None:
    """Skip locally, fail in CI (same rule as tests/conftest.py)."""
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{reason} (CI must run every test)")
    pytest.skip(reason)


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module. Not per session: Playwright's sync API keeps an asyncio
    loop running on the worker's main thread while it is started, so any later test on that
    worker calling `asyncio.run` failed ("cannot be called from a running event loop") —
    it depended on which modules a worker happened to run after the browser tests."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require("python playwright is not installed (pip install playwright)")
    if shutil.which(CHROMIUM) is None:
        require(f"no browser at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def serve() -> Iterator[Any]:
    """serve(app) runs the app under uvicorn on 127.0.0.1 and returns its base URL."""
    with ExitStack() as stack:

        def start(app: FastAPI) -> str:
            return f"http://127.0.0.1:{stack.enter_context(uvicorn_thread(app))}"

        yield start
