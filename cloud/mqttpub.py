"""Publish a few cloud→edge messages on one short MQTT connection and wait for the broker.

For what the cloud sends rarely and must know was taken: the signed trust and revocation
lists (retained), ops commands. A message counts as sent only when the broker acknowledged it
(PUBACK at QoS 1); anything less raises PublishError and the caller decides what to do.

The project's Mosquitto takes the login as the client id (`use_username_as_clientid`), so two
connections on one login cannot coexist: the newer one closes the older. Calls in one process
therefore take turns per login, and a connection closed under us (another process on the same
login, e.g. a second `cloud serve` worker) is tried again after a short random pause. Every
message here may arrive twice anyway (QoS 1): commands carry a `cmd_id`, lists are retained.
"""

from __future__ import annotations

import random
import ssl
import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol.broker import BrokerUrl

# How long to wait for CONNACK and then for the PUBACKs. A broker on the LAN answers in
# milliseconds; 10 s rides out a loaded broker without leaving an admin's command hanging.
TIMEOUT_S = 10.0
_turns: dict[tuple[str, int, str | None], threading.Lock] = {}  # one connection per login
_turns_guard = threading.Lock()


class PublishError(RuntimeError):
    """The broker did not take the messages (unreachable, refused, or no PUBACK in time)."""


class _DroppedError(PublishError):
    """The connection closed before every PUBACK came (taken over, or the broker went)."""


def publish_once(
    broker: BrokerUrl,
    messages: list[tuple[str, bytes, bool]],
    *,
    client_id: str = "",
    timeout_s: float = TIMEOUT_S,
) -> None:
    """Publish (topic, payload, retain) messages at QoS 1 on one short connection; return
    once the broker has acknowledged every one, raise PublishError otherwise."""
    deadline = time.monotonic() + timeout_s
    with _turns_guard:
        turn = _turns.setdefault((broker.host, broker.port, broker.username), threading.Lock())
    if not turn.acquire(timeout=timeout_s):
        raise PublishError(f"other publishes to {broker} on this login took {timeout_s} s")
    try:
        pause = 0.05
        while True:
            try:
                _publish(broker, messages, client_id, deadline)
                return
            except _DroppedError:
                pause = min(pause * 2, 1.0)
                if time.monotonic() + pause >= deadline:
                    raise
                time.sleep(random.uniform(pause / 2, pause))
    finally:
        turn.release()


def _publish(
    broker: BrokerUrl, messages: list[tuple[str, bytes, bool]], client_id: str, deadline: float
) -> None:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=True,
        reconnect_on_failure=False,  # a connection taken over must not take it back
    )
    if broker.username:
        client.username_pw_set(broker.username, broker.password)
    if broker.tls:
        client.tls_set(tls_version=ssl.PROTOCOL_TLS_CLIENT)
    connected = threading.Event()
    dropped = threading.Event()
    refused: list[str] = []

    def on_connect(_c: mqtt.Client, _u: object, _f: object, rc: object, _p: object) -> None:
        if getattr(rc, "is_failure", False):
            refused.append(str(rc))
        connected.set()

    client.on_connect = on_connect
    client.on_disconnect = lambda *_a: dropped.set()

    def wait(done: Callable[[], bool], what: str) -> None:
        while True:
            try:
                if done():
                    return
            except (RuntimeError, ValueError) as exc:  # paho: published while not connected
                raise _DroppedError(f"connection to {broker} closed before {what}") from exc
            if dropped.is_set():
                raise _DroppedError(f"connection to {broker} closed before {what}")
            if time.monotonic() >= deadline:
                raise PublishError(f"no {what} from {broker} in time")
            time.sleep(0.005)

    try:
        client.connect(broker.host, broker.port, keepalive=30)
    except OSError as exc:
        raise PublishError(f"broker {broker} not reachable: {exc}") from exc
    client.loop_start()
    try:
        wait(connected.is_set, "CONNACK")
        if refused:
            raise PublishError(f"broker {broker} refused the connection: {refused[0]}")
        infos = [
            client.publish(topic, payload, qos=1, retain=retain)
            for topic, payload, retain in messages
        ]
        wait(lambda: all(info.is_published() for info in infos), "PUBACK")
    finally:
        client.disconnect()
        client.loop_stop()
