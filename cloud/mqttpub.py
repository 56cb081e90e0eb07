"""Publish a few cloud→edge messages on one short MQTT connection and wait for the broker.

For what the cloud sends rarely and must know was taken: the signed trust and revocation
lists (retained), ops commands. A message counts as sent only when the broker acknowledged it
(PUBACK at QoS 1); anything less raises PublishError and the caller decides what to do.
"""

from __future__ import annotations

import ssl
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.broker import BrokerUrl

# How long to wait for CONNACK and then for the PUBACKs. A broker on the LAN answers in
# milliseconds; 10 s rides out a loaded broker without leaving an admin's command hanging.
TIMEOUT_S = 10.0


class PublishError(RuntimeError):
    """The broker did not take the messages (unreachable, refused, or no PUBACK in time)."""


def publish_once(
    broker: BrokerUrl,
    messages: list[tuple[str, bytes, bool]],
    *,
    client_id: str = "",
    timeout_s: float = TIMEOUT_S,
) -> None:
    """Publish (topic, payload, retain) messages at QoS 1 on one short connection; return
    once the broker has acknowledged every one, raise PublishError otherwise."""
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
            client.publish(topic, payload, qos=1, retain=retain)
            for topic, payload, retain in messages
        ]
        for info in infos:
            info.wait_for_publish(timeout_s)
            if not info.is_published():
                raise PublishError(f"no PUBACK from {broker} within {timeout_s} s")
    finally:
        client.disconnect()
        client.loop_stop()
