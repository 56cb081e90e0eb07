"""Publish the signed lists retained on `ws/v1/trust/keys` and `ws/v1/trust/revocations`.

One short connection per publication: lists change rarely (a revocation, a rotation, a daily
re-issue), and a retained QoS 1 message is the broker's job to keep and hand to every station
that (re)subscribes. A publication counts as done only when the broker has acknowledged both
messages (PUBACK); anything less raises, and the caller keeps the list to publish again.
"""

from __future__ import annotations

import ssl
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.broker import BrokerUrl
from protocol.topics import TRUST_KEYS, TRUST_REVOCATIONS

# How long to wait for CONNACK and then for both PUBACKs. A broker on the LAN answers in
# milliseconds; 10 s rides out a loaded broker without leaving an admin's command hanging.
TIMEOUT_S = 10.0


class PublishError(RuntimeError):
    """The broker did not take the lists (unreachable, refused, or no PUBACK in time)."""


def publish_lists(
    broker: BrokerUrl,
    trust: bytes | None,
    revocations: bytes | None,
    *,
    client_id: str = "",
    timeout_s: float = TIMEOUT_S,
) -> None:
    """Publish whichever lists are given, retained at QoS 1; return once the broker has them."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=True)
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set(tls_version=ssl.PROTOCOL_TLS_CLIENT)
    connected = threading.Event()
    refused: list[str] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        if getattr(rc, "is_failure", False):
            refused.append(str(rc))
        connected.set()

    client.on_connect = on_connect
    try:
        client.connect(broker.host, broker.port, keepalive=30)
    except OSError as exc:
        raise PublishError(f"broker {broker} not reachable: {exc}") from exc
    client.loop_start()
    try:
        if not connected.wait(timeout_s):
            raise PublishError(f"no CONNACK from {broker} within {timeout_s} s")
        if refused:
            raise PublishError(f"broker {broker} refused the connection: {refused[0]}")
        infos = [
            client.publish(topic, payload, qos=1, retain=True)
            for topic, payload in ((TRUST_KEYS, trust), (TRUST_REVOCATIONS, revocations))
            if payload is not None
        ]
        for info in infos:
            info.wait_for_publish(timeout_s)
            if not info.is_published():
                raise PublishError(f"no PUBACK from {broker} within {timeout_s} s")
    finally:
        client.disconnect()
        client.loop_stop()
