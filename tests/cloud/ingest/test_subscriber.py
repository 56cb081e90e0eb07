from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import uuid4

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from sqlalchemy import Engine
from sqlmodel import select

from cloud.auth import Principal, Role
from cloud.commands import service as commands
from cloud.db import session
from cloud.ingest.subscriber import IngestWorker
from cloud.models import DeadLetter, Event, Station, StationState, Telemetry
from cloud.settings import Settings
from protocol import topics
from protocol.messages import (
    AccessEvent,
    AckPayload,
    CmdResultPayload,
    StatePayload,
    TelemetryPayload,
)
from tests.support.wait import wait_for
from waystation.mosquitto import MosquittoProcess

SID = "st-001"


def test_streams_are_shared_and_retained_topics_plain(engine: Engine) -> None:
    worker = IngestWorker(engine, Settings(share_group="ingest"))
    assert worker.subscriptions() == [
        "$share/ingest/ws/v1/+/events",
        "$share/ingest/ws/v1/+/footfall",
        "$share/ingest/ws/v1/+/telemetry",
        "$share/ingest/ws/v1/+/cmd_result",
        "ws/v1/+/state",
        "ws/v1/+/meta",
    ]


@pytest.mark.parametrize("settings", [Settings(mqtt_protocol=311), Settings(share_group=None)])
def test_plain_subscriptions_without_mqtt5_or_group(engine: Engine, settings: Settings) -> None:
    assert not any(f.startswith("$share") for f in IngestWorker(engine, settings).subscriptions())


@pytest.fixture
def broker(mosquitto: MosquittoProcess) -> int:
    """Port of a private anonymous mosquitto (the shared fixture)."""
    return mosquitto.port


@pytest.mark.integration
@pytest.mark.parametrize("protocol", [5, 311])
@pytest.mark.usefixtures("library_classes")
def test_worker_stores_and_acks_through_a_real_broker(
    engine: Engine, add_station: Callable[..., Station], broker: int, protocol: int
) -> None:
    add_station(SID)
    settings = Settings(
        broker=f"mqtt://127.0.0.1:{broker}", mqtt_protocol=protocol, batch_max_wait_s=0.05
    )  # type: ignore[arg-type]
    worker = IngestWorker(engine, settings)
    station = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=SID, protocol=MQTTProtocolVersion.MQTTv311
    )
    acks: list[int] = []
    cloud_state: list[bytes] = []
    got_ack = threading.Event()

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        if msg.topic == topics.CLOUD_STATE:
            cloud_state.append(msg.payload)
            return
        acks.append(AckPayload.model_validate_json(msg.payload).upto_seq)
        got_ack.set()

    station.on_message = on_message
    station.connect("127.0.0.1", broker)
    station.subscribe([(topics.ack(SID), 1), (topics.CLOUD_STATE, 1)])
    station.loop_start()
    worker.start()
    try:
        assert worker.subscribed.wait(10), "worker did not subscribe"
        station.publish(
            topics.state(SID), StatePayload(sid=SID, status="online", sess=1).to_bytes(), 1, True
        ).wait_for_publish(5)
        event = AccessEvent(sid=SID, event_id=uuid4(), seq=1, granted=True, reason="granted")
        station.publish(topics.events(SID), event.to_bytes(), qos=1).wait_for_publish(5)
        station.publish(
            topics.telemetry(SID), TelemetryPayload(sid=SID, uptime_s=5, lock="locked").to_bytes()
        ).wait_for_publish(5)
        assert got_ack.wait(10), "no ack from the cloud"
        assert acks == [1]

        def landed() -> bool:
            with session(engine) as s:
                st = s.get(StationState, SID)
                has_tele = s.exec(select(Telemetry)).first() is not None
                return st is not None and st.status == "online" and has_tele

        wait_for(landed, what="station state and telemetry in the DB")
        with session(engine) as s:
            (row,) = s.exec(select(Event)).all()
            assert row.event_id == event.event_id
            assert s.get(StationState, SID).acked_seq == 1  # type: ignore[union-attr]
        assert worker.ingestor.stats[("events", "stored")] == 1
        # The station's answer to an ops command reaches the command through the worker.
        ops = Principal(username="op", role=Role.OPERATOR, via="token")
        cmd = commands.send(
            engine, lambda _m: None, ops, SID, "unlock", {}, ttl_s=30, now=datetime.now(UTC)
        )
        answer = CmdResultPayload(sid=SID, cmd_id=cmd.cmd_id, ok=True, detail="released")
        station.publish(topics.cmd_result(SID), answer.to_bytes(), qos=1).wait_for_publish(5)
        wait_for(lambda: commands.get(engine, cmd.cmd_id, datetime.now(UTC)).state == "ok")  # type: ignore[union-attr]
        wait_for(lambda: any(b'"online":true' in p for p in cloud_state))
        # Regression: ws/v1/+/state also matches the cloud's own retained ws/v1/_cloud/state,
        # which was dead-lettered as a bad topic on every start.
        with session(engine) as s:
            assert s.exec(select(DeadLetter)).all() == []
        worker.stop()  # a clean stop says so on the retained cloud state
        wait_for(lambda: b'"online":false' in cloud_state[-1])
    finally:
        worker.stop()  # idempotent
        station.disconnect()
        station.loop_stop()


def _retained_cloud_state(port: int) -> bytes:
    """What a station subscribing now would be told about the cloud."""
    got: list[bytes] = []
    seen = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid4().hex[:6]}")

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        got.append(msg.payload)
        seen.set()

    client.on_message = on_message
    client.connect("127.0.0.1", port)
    client.subscribe(topics.CLOUD_STATE, qos=1)
    client.loop_start()
    try:
        assert seen.wait(5), "no retained cloud state"
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0]


@pytest.mark.integration
def test_the_cloud_stays_up_while_any_worker_runs(engine: Engine, broker: int) -> None:
    """One of two workers stopping (or dying: its will says the same) must not tell every
    station the cloud is down: the survivor says `online` again."""
    settings = Settings(broker=f"mqtt://127.0.0.1:{broker}")
    a, b = IngestWorker(engine, settings), IngestWorker(engine, settings)
    a.start()
    b.start()
    try:
        assert a.subscribed.wait(10)
        assert b.subscribed.wait(10)
        a.stop()  # publishes `online: false`, retained
        wait_for(
            lambda: b'"online":true' in _retained_cloud_state(broker),
            10,
            "the surviving worker to re-assert",
            interval_s=0.2,
        )
        b.stop()
        assert b'"online":false' in _retained_cloud_state(broker)  # the last one out says so
        # paho's wake-up sockets are closed at stop, not left to the cycle collector (which
        # finalised them at a random later moment: "unclosed socket" in another test)
        assert all(w._client._sockpairR is None and w._client._sockpairW is None for w in (a, b))
    finally:
        a.stop()
        b.stop()
