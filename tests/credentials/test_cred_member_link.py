"""Member links keep the one-time enrolment code out of URLs the server sees and logs.

Links are `/member/#member=ID&code=CODE` (a fragment is never sent). Links printed before
used the query string: the server moves them into the fragment with a redirect, and the
access log never shows their query.
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from cloud.main import create_app
from cloud.settings import Settings

SECRET = "K7Q2M9XW4R"  # what an enrolment code looks like


@pytest.fixture
def app_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'link.db'}"


class _Lines(logging.Handler):
    """Keeps every formatted access-log line."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def _get(base: str, target: str) -> tuple[int, str | None]:
    conn = http.client.HTTPConnection(urlsplit(base).netloc, timeout=10)
    try:
        conn.request("GET", target)
        res = conn.getresponse()
        res.read()
        return res.status, res.getheader("Location")
    finally:
        conn.close()


def test_old_query_links_are_redirected_into_the_fragment(app_url: str) -> None:
    """Story: `/member?member=…&code=…` was redirected to `/member/?member=…&code=…`, so the
    code was sent a second time and stayed in the address bar; both forms now redirect to
    the fragment form, uncached, and the bare page is served as before."""
    with TestClient(create_app(Settings(db=app_url))) as client:
        for path in ("/member", "/member/"):
            res = client.get(f"{path}?member=m-1&code={SECRET}", follow_redirects=False)
            assert res.status_code == 303, path
            assert res.headers["location"] == f"/member/#member=m-1&code={SECRET}"
            assert res.headers["cache-control"] == "no-store"
        assert client.get("/member", follow_redirects=False).headers["location"] == "/member/"
        page = client.get("/member/", follow_redirects=False)
        assert page.status_code == 200
        assert "app.js" in page.text


def test_the_access_log_of_a_real_server_never_shows_an_enrolment_code(
    app_url: str, live: Callable[..., str]
) -> None:
    """Story: old member links put the one-time code in the query string, and uvicorn's
    access log wrote it down (`GET /member/?member=m-1&code=… HTTP/1.1`) for anyone reading
    the logs to enrol a phone in the member's name."""
    base = live(create_app(Settings(db=app_url)), log_level="info")
    # Attached after the start: uvicorn's logging setup replaces the logger's handlers.
    logger = logging.getLogger("uvicorn.access")
    handler = _Lines()
    logger.addHandler(handler)
    try:
        targets = [
            f"/member/?member=m-1&code={SECRET}",
            f"/member?code={SECRET}&member=m-1",
            f"/api/v1/stations/nearby?lat=22.5&lon=114.0&code={SECRET}",
        ]
        for target in targets:
            assert _get(base, target)[0] < 500
    finally:
        logger.removeHandler(handler)
    access_lines = handler.lines
    assert len(access_lines) == len(targets), access_lines
    assert not [line for line in access_lines if SECRET in line], access_lines
    assert "GET /member/?[redacted] HTTP/1.1" in access_lines[0]
    assert "GET /member?[redacted] HTTP/1.1" in access_lines[1]
    assert "/api/v1/stations/nearby?lat=22.5&lon=114.0&code=[redacted]" in access_lines[2]


def test_the_filter_rewrites_only_what_it_must() -> None:
    """Story: the access-log record carries the raw target as an argument; the filter must
    blank the code there (not just in one formatter) and leave other records alone."""
    from cloud.api.logredact import RedactQuery, install, redact_target

    assert redact_target(f"/member/?member=m-1&code={SECRET}") == "/member/?[redacted]"
    assert redact_target(f"/member/app.js?v={SECRET}") == "/member/app.js?[redacted]"
    assert redact_target(f"/x?a=1&Code={SECRET}&b=2") == "/x?a=1&Code=[redacted]&b=2"
    assert redact_target(f"/x?code={SECRET}") == "/x?code=[redacted]"
    assert redact_target("/x?barcode=1&encode=2") == "/x?barcode=1&encode=2"
    assert redact_target("/member/") == "/member/"
    assert redact_target("/memberships?code=1") == "/memberships?code=[redacted]"

    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.9:5000", "GET", f"/member/?code={SECRET}", "1.1", 303), None,
    )  # fmt: skip
    assert RedactQuery().filter(record) is True
    assert record.getMessage() == '10.0.0.9:5000 - "GET /member/?[redacted] HTTP/1.1" 303'
    other = logging.LogRecord("x", logging.INFO, __file__, 1, "plain %s", ("text",), None)
    assert RedactQuery().filter(other) is True
    assert other.getMessage() == "plain text"

    logger_name = "test.logredact.install"
    assert install(logger_name) is install(logger_name)  # idempotent: one filter
    assert len(logging.getLogger(logger_name).filters) == 1
