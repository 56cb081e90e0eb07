"""What the link listens to: one table of (topic filter, QoS, handler), and the handlers.

The same table registers paho's per-topic callbacks at start and is subscribed on every
CONNACK (a resumed session may have lost its subscriptions; subscribing again also makes the
broker send the retained copies). Every handler is wrapped: nothing it raises reaches, and
kills, the network thread; a failure is logged and counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from edge.link.outbox import Outbox
from edge.ports import LinkHooks
from protocol import topics
from protocol.messages import (
    AckPayload,
    CloudStatePayload,
    CmdResultPayload,
    PayloadError,
    decode,
    loads,
)
from protocol.topics import Kind

log = logging.getLogger(__name__)

QOS = 1  # everything inbound is QoS 1: acks, commands and configs must not be lost


@dataclass(frozen=True, slots=True)
class Route:
    """One inbound subscription: its filter, QoS and what handles a message on it."""

    topic: str
    qos: int
    handler: Callable[[mqtt.MQTTMessage], None]


class Host(Protocol):
    """What the handlers reach in the link."""

    sid: str
    stats: Counter[str]
    outbox: Outbox
    hooks: LinkHooks

    def kick(self) -> None: ...

    def publish_result(self, result: CmdResultPayload | None) -> None: ...


class Inbound:
    """The inbound table of one link and the state it keeps (what the cloud said last)."""

    def __init__(self, link: Host) -> None:
        self.link = link
        self.cloud_online: bool | None = None  # the retained `_cloud/state`; None: not heard
        sid = link.sid
        self.trust_filter = f"{topics.PREFIX}/trust/#"
        self.routes = (
            Route(topics.ack(sid), QOS, self._ack),
            Route(f"{topics.PREFIX}/{sid}/cmd/+", QOS, self._command),
            Route(topics.config(sid), QOS, self._config),
            Route(self.trust_filter, QOS, self._trust),
            Route(topics.CLOUD_STATE, QOS, self._cloud_state),
        )

    def install(self, client: mqtt.Client) -> None:
        """Register every handler on a new client (anything else is logged and dropped)."""
        for route in self.routes:
            client.message_callback_add(route.topic, self._guard(route.handler))
        client.on_message = self._guard(self._other)

    def subscribe(self, client: mqtt.Client) -> None:
        """Subscribe to the whole table (on every CONNACK)."""
        client.subscribe([(route.topic, route.qos) for route in self.routes])

    def resubscribe_trust(self, client: mqtt.Client) -> None:
        """Ask for the retained trust lists again: a new SUBSCRIBE on the same filter makes the
        broker send the retained copies."""
        for route in self.routes:
            if route.topic == self.trust_filter:
                client.subscribe(route.topic, route.qos)

    def _guard(
        self, handler: Callable[[mqtt.MQTTMessage], None]
    ) -> Callable[[mqtt.Client, Any, mqtt.MQTTMessage], None]:
        """Wrap a message handler so nothing it raises reaches (and kills) paho's loop."""

        def callback(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
            try:
                handler(message)
            except Exception:
                self.link.stats["errors"] += 1
                log.exception("%s: handler failed on %s", self.link.sid, message.topic)

        return callback

    # --- the handlers (network thread) ---------------------------------------------------------

    def _ack(self, message: mqtt.MQTTMessage) -> None:
        link = self.link
        try:
            ack = decode(Kind.ACK, bytes(message.payload))
        except PayloadError as exc:
            link.stats["bad_ack"] += 1
            log.warning("%s: bad ack: %s", link.sid, exc)
            return
        assert isinstance(ack, AckPayload)
        refused = {r.seq: r.reason for r in ack.refused or ()}
        for seq, reason in sorted(refused.items()):
            log.warning(
                "%s: the cloud refused seq %d (%s); the row is kept in the journal's refused "
                "store and not sent again",
                link.sid,
                seq,
                reason,
            )
        if ack.refused_more:
            log.warning(
                "%s: the cloud refused %d more seqs up to %d than its ack lists; those rows "
                "are deleted",
                link.sid,
                ack.refused_more,
                ack.upto_seq,
            )
        link.outbox.acked(ack.upto_seq, refused)
        link.stats["acks"] += 1
        link.stats["refused"] += len(refused) + (ack.refused_more or 0)
        if link.hooks.on_ack is not None:
            link.hooks.on_ack(ack.upto_seq)
        link.kick()

    def _trust(self, message: mqtt.MQTTMessage) -> None:
        if not message.payload:
            return  # a cleared retained message
        hooks = self.link.hooks
        if message.topic == topics.TRUST_KEYS and hooks.on_trust is not None:
            hooks.on_trust(bytes(message.payload))
        elif message.topic == topics.TRUST_REVOCATIONS and hooks.on_revocations is not None:
            hooks.on_revocations(bytes(message.payload))

    def _cloud_state(self, message: mqtt.MQTTMessage) -> None:
        if not message.payload:
            return
        link = self.link
        try:
            online = CloudStatePayload.model_validate(loads(bytes(message.payload))).online
        except ValueError as exc:  # PayloadError and ValidationError are ValueErrors
            log.warning("%s: bad cloud state: %s", link.sid, exc)
            return
        was, self.cloud_online = self.cloud_online, online
        # The cloud may have lost what was in flight while it was down, or (first word after
        # a connect) what was sent before any ingest had subscribed: send it again.
        if online and (was is False or (was is None and link.outbox.inflight)):
            log.info("%s: cloud is up, resending the unacked window", link.sid)
            link.outbox.restart(reconnected=False)
            link.kick()

    def _command(self, message: mqtt.MQTTMessage) -> None:
        link = self.link
        try:
            name = topics.parse(message.topic).name
        except ValueError:
            name = None
        on_command = link.hooks.on_command
        if not message.payload or name is None or on_command is None:
            link.stats["commands_ignored"] += 1
            return
        link.stats["commands"] += 1
        link.publish_result(on_command(name, bytes(message.payload)))

    def _config(self, message: mqtt.MQTTMessage) -> None:
        link = self.link
        on_config = link.hooks.on_config
        if not message.payload or on_config is None:
            return  # a cleared retained config: keep the applied one
        link.stats["configs"] += 1
        link.publish_result(on_config(bytes(message.payload)))

    def _other(self, message: mqtt.MQTTMessage) -> None:
        log.debug("%s: unexpected message on %s", self.link.sid, message.topic)
