"""`cloud.forks`: our forks of paho, uvicorn and FastAPI classes run only on the library
version they were written for, `WAYSTATION_STOCK_CLASSES=1` forces the stock classes, and the
answers are the same either way.

The ingest and API tests that take the `library_classes` fixture run once more on the stock
classes (`pytest -k stock`); these tests check the switch itself."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import fastapi
import paho.mqtt
import paho.mqtt.client as mqtt
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import Engine

from cloud import forks, httpcork
from cloud.api.public import NearbyRoute
from cloud.httpcork import CorkedHttpToolsProtocol, CorkedTransport
from cloud.ingest.mqttclient import BurstClient
from cloud.ingest.subscriber import IngestWorker
from cloud.main import create_app
from cloud.models import Station, StationState
from cloud.settings import Settings
from tests.support.server import uvicorn_thread


@pytest.fixture(autouse=True)
def _switch_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with the switch off and nothing logged yet."""
    monkeypatch.delenv(forks.STOCK_ENV, raising=False)
    monkeypatch.setattr(forks, "_said", set())


def test_a_fork_runs_on_its_major_minor_only_and_says_once_when_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert forks.use_fork("Fork", "lib", "2.2.0", "2.2")
    assert forks.use_fork("Fork", "lib", "2.2.9.post1", "2.2")
    with caplog.at_level(logging.INFO, logger="cloud.forks"):
        assert not forks.use_fork("Fork", "lib", "2.3.0", "2.2")
        assert not forks.use_fork("Fork", "lib", "2.3.0", "2.2")  # logged once
        assert not forks.use_fork("Fork", "lib", "2.22.0", "2.2")  # not a prefix match
        assert not forks.use_fork("Fork", "lib", "3.0", "2.2")
    said = "is not the 2.2.x it was written for; using lib's stock class"
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.WARNING, f"Fork: lib {v} {said}") for v in ("2.3.0", "2.22.0", "3.0")
    ]


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_the_switch_forces_the_stock_classes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    monkeypatch.setenv(forks.STOCK_ENV, value)
    with caplog.at_level(logging.INFO, logger="cloud.forks"):
        assert not forks.use_fork("Fork", "lib", "2.2.0", "2.2")
    assert caplog.messages == [f"Fork: {forks.STOCK_ENV} is set; using lib's stock class"]


@pytest.mark.parametrize("value", ["", "0", "false", "no"])
def test_the_switch_off_keeps_the_forks(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(forks.STOCK_ENV, value)
    assert forks.use_fork("Fork", "lib", "2.2.0", "2.2")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_ingest_worker_takes_paho_stock_client_on_another_paho_or_the_switch(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert type(IngestWorker(engine, Settings())._client) is BurstClient
    monkeypatch.setattr(paho.mqtt, "__version__", "2.3.0")
    assert type(IngestWorker(engine, Settings())._client) is mqtt.Client
    monkeypatch.undo()
    monkeypatch.setenv(forks.STOCK_ENV, "1")
    assert type(IngestWorker(engine, Settings())._client) is mqtt.Client


@contextmanager
def serving(app: FastAPI) -> Iterator[int]:
    """`app` on uvicorn with the corked protocol, as `waystation cloud serve` runs it."""
    with uvicorn_thread(app, http=CorkedHttpToolsProtocol) as port:
        yield port


NEARBY = "/api/v1/stations/nearby?lat=31.2304&lon=121.4737&amenity=water&limit=5"
BAD = "/api/v1/stations/nearby?lat=91&lon=x&amenity=spa"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_nearby_over_uvicorn_is_the_same_with_the_forks_or_the_stock_classes(
    db_url: str,
    add_station: Callable[..., Station],
    set_state: Callable[..., StationState],
    clock: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for i in range(3):
        add_station(f"st-{i}", lat=31.2304, lon=121.4737 + i / 1000)
        set_state(
            f"st-{i}",
            status="online",
            sess=1,
            last_heartbeat=clock.now - timedelta(seconds=10),
            heartbeat_interval_s=30.0,
        )
    corked: list[CorkedTransport] = []
    stock_nearby: list[APIRoute] = []

    class Counted(CorkedTransport):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            corked.append(self)

    stock_handler = APIRoute.get_route_handler

    def spy(route: APIRoute) -> Any:
        if isinstance(route, NearbyRoute):
            stock_nearby.append(route)
        return stock_handler(route)

    monkeypatch.setattr(httpcork, "CorkedTransport", Counted)
    monkeypatch.setattr(APIRoute, "get_route_handler", spy)

    def answers() -> list[tuple[int, bytes]]:
        corked.clear()
        stock_nearby.clear()
        app = create_app(Settings(db=db_url, index_refresh_s=0), clock=clock)
        got = []
        with serving(app) as port:
            for path in (NEARBY, BAD):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}") as r:
                        got.append((r.status, r.read()))
                except urllib.error.HTTPError as err:
                    got.append((err.code, err.read()))
        return got

    forked = answers()
    assert (len(corked), len(stock_nearby)) == (2, 0)  # one corked connection per request
    assert forked[0][0] == 200
    assert forked[0][1].count(b'"id":"st-') == 3
    assert forked[1][0] == 422
    with monkeypatch.context() as m:
        m.setenv(forks.STOCK_ENV, "1")
        assert answers() == forked
        assert (len(corked), len(stock_nearby)) == (0, 1)
    with monkeypatch.context() as m:
        m.setattr(uvicorn, "__version__", "0.99.0")
        m.setattr(fastapi, "__version__", "1.0.0")
        assert answers() == forked
        assert (len(corked), len(stock_nearby)) == (0, 1)
