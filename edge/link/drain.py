"""The drain: journal rows published in seq order, at QoS 1, within the outbox's window.

A row is deleted only when a cloud `ack` covers its seq (a PUBACK only means the broker has
it; `edge.link.outbox` keeps the window). While the retained `_cloud/state` says the cloud is
down nothing goes out (it could not ack it); the cloud-back restart sends it all. Who runs a
pass, and when, is the runner's business (`edge.link.runner`).
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from edge.link.outbox import Outbox
from protocol import topics

log = logging.getLogger(__name__)


class Source(Protocol):
    """What the drain reads from the link."""

    sid: str
    stats: Counter[str]
    outbox: Outbox

    @property
    def live_client(self) -> mqtt.Client | None:
        """The paho client while connected, else None."""
        ...

    @property
    def cloud_online(self) -> bool | None: ...


class Drain:
    """Publishes what the outbox hands out; thread-safe as far as the outbox is."""

    def __init__(self, link: Source) -> None:
        self.link = link

    def overdue(self) -> bool:
        """Rows are in flight and the cloud has acked nothing for the ack timeout."""
        outbox = self.link.outbox
        return bool(outbox.inflight) and outbox.timed_out()

    def run(self, stopping: threading.Event) -> bool:
        """Publish until the window is full or nothing is left; False if the pass failed
        (counted and logged: the runner retries on its next wake)."""
        try:
            while not stopping.is_set() and self.once():
                pass
        except Exception:
            self.link.stats["errors"] += 1
            log.exception("%s: drain failed; retrying", self.link.sid)
            return False
        return True

    def once(self) -> bool:
        """Publish up to the free window; True if something was published."""
        link = self.link
        client = link.live_client
        if client is None:
            return False
        if link.cloud_online is False:
            link.stats["drain_paused"] += 1
            return False  # nobody would ack it; the cloud-back restart sends it all
        outbox = link.outbox
        if outbox.timed_out():
            log.warning("%s: no ack for %d rows; resending", link.sid, outbox.inflight)
            link.stats["ack_timeouts"] += 1
            outbox.restart(reconnected=False)
        gen, rows = outbox.take()
        for row in rows:
            payload = outbox.payload(row)
            info = client.publish(topics.station(link.sid, row.kind), payload, qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return False  # not connected any more; the next CONNACK restarts the drain
            link.stats["published"] += 1
            if not outbox.sent(gen, row.seq):
                return True  # a restart happened meanwhile: take again from the oldest
        return bool(rows)
