"""Ops commands: sent through a real Mosquitto, closed by the station's answer through ingest,
refused by role, audited, and marked when the broker never took them."""

from __future__ import annotations

import json
import queue
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine
from sqlmodel import select

from cloud.auth import Role
from cloud.auth.models import AuditEntry
from cloud.db import session
from cloud.ingest.ingestor import Ingestor
from cloud.main import create_app
from cloud.models import Station
from cloud.settings import Settings
from protocol import topics
from protocol.messages import CmdResultPayload
from waystation.mosquitto import MosquittoProcess, free_port

SID = "st-001"
OPS = "/api/v1/ops"


@pytest.fixture(autouse=True)
def _setup(
    add_station: Callable[..., Station], clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_station(SID)
    clock.now = datetime.now(UTC).replace(microsecond=0)


def client_for(db_url: str, broker: str, clock: Any) -> TestClient:
    return TestClient(
        create_app(Settings(db=db_url, broker=broker, index_refresh_s=0), clock=clock)
    )


@pytest.fixture
def station_inbox(mosquitto: MosquittoProcess) -> Iterator[queue.Queue[tuple[str, bytes]]]:
    """What the station would receive on its command topics."""
    got: queue.Queue[tuple[str, bytes]] = queue.Queue()
    sub = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="station-ear")
    subscribed = queue.Queue[int]()
    sub.on_message = lambda _c, _u, m: got.put((m.topic, m.payload))
    sub.on_subscribe = lambda *_a: subscribed.put(1)
    sub.connect("127.0.0.1", mosquitto.port)
    sub.subscribe(f"ws/v1/{SID}/cmd/#", qos=1)
    sub.loop_start()
    subscribed.get(timeout=10)
    try:
        yield got
    finally:
        sub.disconnect()
        sub.loop_stop()


def test_an_unlock_reaches_the_station_and_its_answer_closes_it(
    db_url: str,
    engine: Engine,
    clock: Any,
    mosquitto: MosquittoProcess,
    station_inbox: queue.Queue[tuple[str, bytes]],
    as_role: Callable[[Role], dict[str, str]],
) -> None:
    operator = as_role(Role.OPERATOR)
    with client_for(db_url, mosquitto.url, clock) as client:
        sent = client.post(
            f"{OPS}/stations/{SID}/commands", json={"name": "unlock", "ttl_s": 30}, headers=operator
        )
        assert sent.status_code == 202, sent.text
        cmd = sent.json()
        assert (cmd["state"], cmd["name"], cmd["station_id"]) == ("sent", "unlock", SID)
        topic, payload = station_inbox.get(timeout=10)
        assert topic == topics.cmd(SID, "unlock")
        body = json.loads(payload)
        assert body["cmd_id"] == cmd["cmd_id"]
        assert datetime.fromisoformat(body["expires_at"]) == clock.now + timedelta(seconds=30)

        ingestor = Ingestor(engine, clock=clock)
        answer = CmdResultPayload(sid=SID, cmd_id=cmd["cmd_id"], ok=True, detail="released for 3 s")
        ingestor.handle(topics.cmd_result(SID), answer.to_bytes())
        ingestor.flush()
        assert ingestor.stats[("cmd_result", "stored")] == 1
        done = client.get(f"{OPS}/commands/{cmd['cmd_id']}", headers=operator).json()
        assert (done["state"], done["detail"]) == ("ok", "released for 3 s")
        assert done["result_at"] is not None
        # a repeated answer, or one for a config (`config-<v>`), changes nothing
        ingestor.handle(topics.cmd_result(SID), answer.to_bytes())
        config_answer = CmdResultPayload(sid=SID, cmd_id="config-7", ok=True)
        ingestor.handle(topics.cmd_result(SID), config_answer.to_bytes())
        ingestor.flush()
        assert ingestor.stats[("cmd_result", "ignored")] == 2
        history = client.get(f"{OPS}/stations/{SID}/commands", headers=operator).json()
        assert [c["cmd_id"] for c in history] == [cmd["cmd_id"]]
    with session(engine) as s:
        (entry,) = s.exec(select(AuditEntry).where(AuditEntry.action == "command.unlock"))
    assert (entry.target, entry.detail["cmd_id"]) == (f"station:{SID}", cmd["cmd_id"])


def test_roles_stations_and_names_are_checked(
    db_url: str,
    clock: Any,
    mosquitto: MosquittoProcess,
    as_role: Callable[[Role], dict[str, str]],
) -> None:
    viewer, operator, admin = (as_role(r) for r in (Role.VIEWER, Role.OPERATOR, Role.ADMIN))
    url = f"{OPS}/stations/{SID}/commands"
    with client_for(db_url, mosquitto.url, clock) as client:
        assert client.post(url, json={"name": "unlock"}).status_code == 401
        assert client.post(url, json={"name": "unlock"}, headers=viewer).status_code == 403
        assert client.post(url, json={"name": "reboot"}, headers=operator).status_code == 403
        assert client.post(url, json={"name": "reboot"}, headers=admin).status_code == 202
        assert client.post(url, json={"name": "selfdestruct"}, headers=admin).status_code == 422
        assert client.post(url, json={"name": "sync", "ttl_s": 1}, headers=admin).status_code == 422
        missing = client.post(f"{OPS}/stations/nope/commands", json={"name": "sync"}, headers=admin)
        assert missing.status_code == 404
        assert client.get(f"{OPS}/commands/ops-nope", headers=viewer).status_code == 404


def test_a_broker_that_never_takes_it_is_a_503_and_an_error_row(
    db_url: str, clock: Any, as_role: Callable[[Role], dict[str, str]]
) -> None:
    operator = as_role(Role.OPERATOR)
    nobody = f"mqtt://127.0.0.1:{free_port()}"
    with client_for(db_url, nobody, clock) as client:
        refused = client.post(
            f"{OPS}/stations/{SID}/commands", json={"name": "unlock"}, headers=operator
        )
        assert refused.status_code == 503
        assert "not reachable" in refused.json()["detail"]
        (row,) = client.get(f"{OPS}/stations/{SID}/commands", headers=operator).json()
        assert row["state"] == "error"


def test_an_unanswered_command_shows_as_expired(
    db_url: str,
    clock: Any,
    mosquitto: MosquittoProcess,
    as_role: Callable[[Role], dict[str, str]],
) -> None:
    operator = as_role(Role.OPERATOR)
    with client_for(db_url, mosquitto.url, clock) as client:
        cmd = client.post(
            f"{OPS}/stations/{SID}/commands", json={"name": "unlock", "ttl_s": 10}, headers=operator
        ).json()
        clock.advance(15)
        assert (
            client.get(f"{OPS}/commands/{cmd['cmd_id']}", headers=operator).json()["state"]
            == "sent"
        )
        clock.advance(10)  # past expiry and the answer's grace
        assert (
            client.get(f"{OPS}/commands/{cmd['cmd_id']}", headers=operator).json()["state"]
            == "expired"
        )
