"""The ingest worker: paho-mqtt in, one writer thread batching into the database, acks out.

paho's network thread (`BurstClient`) hands bursts of messages to the writer (`Inbox`); the
writer thread owns the `Ingestor`, the `LostGuard` and the database, and publishes
`ws/v1/{sid}/ack` after each commit. Subscriptions are (re)made on every CONNACK, so a broker
restart or a reconnect needs no special handling. Several workers split events, footfall and
telemetry through an MQTT 5 shared subscription; state and meta are subscribed plainly by
every worker, since brokers send no retained messages to `$share`.

With paho's stock client (`cloud.ingest.mqttclient.client_class`: another paho version, or
`WAYSTATION_STOCK_CLASSES=1`) each message is handed over alone and reading never pauses: past
`QUEUE_MAX` waiting messages a message is dropped and counted, and its edge re-sends it.

The writer thread also runs the seq-gap rule (`cloud.ingest.acks.resolve_gaps`) on a timer,
busy or idle: it is the one place with the database and the broker, so an ack past a gap goes
out even when the station sends nothing more (the monitor and `cloud maintain` have no MQTT
connection, and `maintain` runs hourly). Over 400 lines: the two threads, the state they hand
over and the writer's timers belong in one place.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy import Engine

from cloud.clock import Clock, utcnow
from cloud.ingest.acks import Ack
from cloud.ingest.health import IngestHealth
from cloud.ingest.inbox import Inbox
from cloud.ingest.ingestor import Ingestor
from cloud.ingest.lostguard import LostGuard, Received
from cloud.ingest.metrics import IngestMetrics
from cloud.ingest.mqttclient import BurstClient, client_class, release_wake_sockets
from cloud.settings import Settings
from protocol import topics
from protocol.messages import CloudStatePayload
from protocol.topics import Kind

log = logging.getLogger(__name__)

# Hard bound on messages held between paho and the writer (count; ~1 kB each: ~100 MB).
# Reading pauses long before (READ_PAUSE_AT); past this a burst is dropped and counted — the
# edges still hold it in their journals and re-send what is never acked.
QUEUE_MAX = 100_000
# Messages handed to the writer and not yet taken past which paho stops reading: a few
# seconds of work at full rate. Beyond it the broker holds them (max_queued_messages in
# config/mosquitto), so a burst faster than the database is slowed down, not dropped.
READ_PAUSE_AT = 20_000
KEEPALIVE_S = 30  # broker notices a dead worker (and publishes its LWT) after ~45 s
RECONNECT_MIN_S, RECONNECT_MAX_S = 1, 30  # paho's exponential reconnect back-off
# A named worker (client_id given) keeps its session this long (seconds) across restarts, so
# the broker queues its QoS 1 messages meanwhile; anonymous workers start clean.
SESSION_EXPIRY_S = 3_600
DB_RETRY_MAX_S = 30.0  # longest pause between attempts to write while the database is away
# Seconds between seq-gap sweeps: a quarter of the wait (a gap is acked past at most 25 % late),
# at most every 30 s (one indexed query on `gap_since` per sweep) and at least every 0.1 s.
GAP_SWEEP_MAX_S, GAP_SWEEP_MIN_S = 30.0, 0.1
STOP_PUBLISH_WAIT_S = 2.0  # how long a clean stop waits for `_cloud/state` offline to go out
# Acks (QoS 1) paho keeps in flight before queueing the rest until PUBACKs return. paho's 20
# stalls a batch's ~500 acks on round trips; the broker accepts far more (Mosquitto's
# receive maximum is 65,535). More: nothing gained past a batch's acks; less: acks trickle.
ACKS_IN_FLIGHT = 1_000
# CONNACK refusals that retrying cannot fix: stop instead of hammering the broker.
FATAL_CONNACK = frozenset({0x84, 0x85, 0x86, 0x87, 0x8C})

# split across workers; cmd_result closes the ops commands (cloud.commands)
STREAM_KINDS = (Kind.EVENTS, Kind.FOOTFALL, Kind.TELEMETRY, Kind.CMD_RESULT)
RETAINED_KINDS = (Kind.STATE, Kind.META)  # every worker, plain subscription


class IngestWorker:
    """One ingest worker process's MQTT side. `start()` returns at once; `stop()` drains."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        *,
        client_id: str | None = None,
        clock: Clock = utcnow,
        metrics: IngestMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or IngestMetrics()
        self._oldest: float | None = None  # delivery time of the batch's first message
        self.ingestor = Ingestor(engine, clock=clock)
        self.persistent = client_id is not None
        self.client_id = client_id or f"ws-ingest-{uuid.uuid4().hex[:12]}"
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.fatal: str | None = None  # set when the broker refused us for good
        self.dropped = 0  # messages lost to a full queue
        self.acks_published = 0
        self._inbox: Inbox[Received] = Inbox(QUEUE_MAX)  # paho's thread → the writer
        self._carry: deque[Received] = deque()  # writer only: taken, not yet in a batch
        self.lost_guard = LostGuard()  # helper E: see LostGuard
        self._epoch = 0  # +1 per disconnect (paho thread); LostGuard drops older `lost`
        self._stopping = threading.Event()
        self._writer: threading.Thread | None = None
        wait = settings.seq_gap_wait_s
        self.gap_sweep_s = min(GAP_SWEEP_MAX_S, max(GAP_SWEEP_MIN_S, wait / 4))
        self._next_sweep = 0.0  # monotonic; the first sweep runs as the writer starts
        self._sub_mid: int | None = None
        self._v5 = settings.mqtt_protocol == 5
        self._client = client_class()(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            clean_session=None if self._v5 else not self.persistent,
            protocol=MQTTProtocolVersion.MQTTv5 if self._v5 else MQTTProtocolVersion.MQTTv311,
        )
        self._client.max_inflight_messages_set(ACKS_IN_FLIGHT)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        # BurstClient hands a read burst over at its end; paho's stock client each message.
        self._burst = isinstance(self._client, BurstClient)
        if isinstance(self._client, BurstClient):
            self._client.on_burst_end = self._on_burst_end
            self._client.read_paused = lambda: len(self._inbox) >= READ_PAUSE_AT

    # --- lifecycle ---------------------------------------------------------------------------

    def subscriptions(self) -> list[str]:
        """Topic filters, shared for the streams when the settings allow it."""
        streams = [topics.all_stations(k) for k in STREAM_KINDS]
        if self.settings.shared_subscriptions:
            assert self.settings.share_group is not None
            streams = [topics.shared(self.settings.share_group, t) for t in streams]
        return streams + [topics.all_stations(k) for k in RETAINED_KINDS]

    def start(self) -> None:
        """Start the writer thread and connect in the background (paho reconnects itself)."""
        url = self.settings.broker_url
        if url.username:
            self._client.username_pw_set(url.username, url.password)
        if url.tls:
            self._client.tls_set()
        self._client.will_set(
            topics.CLOUD_STATE, CloudStatePayload(online=False).to_bytes(), qos=1, retain=True
        )
        self._client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self._writer = threading.Thread(target=self._write_loop, name="ingest-writer", daemon=True)
        self._writer.start()
        kwargs: dict[str, Any] = {}
        if self._v5:
            kwargs["clean_start"] = not self.persistent
            if self.persistent:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = SESSION_EXPIRY_S
                kwargs["properties"] = props
        self._client.connect_async(url.host, url.port, KEEPALIVE_S, **kwargs)
        self._client.loop_start()
        log.info("ingest %s: connecting to %s", self.client_id, url)

    def stop(self, timeout: float = 10.0) -> None:
        """Drain and commit what was received, say `_cloud/state` offline, disconnect."""
        self._stopping.set()
        if self._writer is not None:
            self._writer.join(timeout)
        if self.connected.is_set():
            info = self._client.publish(
                topics.CLOUD_STATE, CloudStatePayload(online=False).to_bytes(), qos=1, retain=True
            )
            try:
                info.wait_for_publish(STOP_PUBLISH_WAIT_S)
            except (RuntimeError, ValueError):
                log.warning("ingest %s: offline state not confirmed", self.client_id)
        self._client.disconnect()
        self._client.loop_stop()
        release_wake_sockets(self._client)
        if self._writer is not None and self._writer.is_alive():
            log.error("ingest %s: writer still busy after %.0f s", self.client_id, timeout)
            return
        # Whatever arrived after the writer finished is committed without acks: its edges
        # re-send it, find it stored, and are acked then.
        self._on_burst_end()  # paho's thread is gone: hand over its last burst here
        self._drain_into_ingestor()
        if self.lost_guard.held:  # their retained copies reach the next worker's subscribe
            log.info(
                "ingest %s: %d held lost states not stored", self.client_id, self.lost_guard.held
            )
        try:
            self.ingestor.flush()
        except Exception as exc:
            log.error(
                "ingest %s: %d messages not stored at stop: %s",
                self.client_id,
                self.ingestor.pending,
                exc,
            )

    def health(self) -> IngestHealth:
        """What `/healthz` on the metrics port answers (any thread; cloud.ingest.health)."""
        oldest, first = self._oldest if self.ingestor.pending else None, self._inbox.oldest()
        times = [t for t in (oldest, first.at if first else None) if t is not None]
        with contextlib.suppress(IndexError):  # the writer may take it meanwhile
            times.append(self._carry[0].at)
        return IngestHealth(
            client_id=self.client_id,
            connected=self.subscribed.is_set(),
            writer_alive=self._writer is not None and self._writer.is_alive(),
            lag_s=round(time.monotonic() - min(times), 3) if times else 0.0,
            queue=len(self._inbox) + len(self._carry),
            pending=self.ingestor.pending,
            dropped=self.dropped,
        )

    # --- paho callbacks (network thread: enqueue only, never raise) ------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: Any,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        try:
            if reason_code.is_failure:
                log.error("ingest %s: broker refused: %s", self.client_id, reason_code)
                if reason_code.value in FATAL_CONNACK:
                    self.fatal = str(reason_code)
                    client.disconnect()
                return
            self.connected.set()
            filters = self.subscriptions()
            if self._v5:
                _rc, self._sub_mid = client.subscribe(
                    [(f, SubscribeOptions(qos=1)) for f in filters]
                )
            else:
                _rc, self._sub_mid = client.subscribe([(f, 1) for f in filters])
            client.publish(
                topics.CLOUD_STATE, CloudStatePayload(online=True).to_bytes(), qos=1, retain=True
            )
            log.info("ingest %s: connected, subscribed to %s", self.client_id, filters)
        except Exception:
            log.exception("ingest %s: on_connect failed", self.client_id)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        failed = [str(rc) for rc in reason_codes if rc.is_failure]
        if failed:
            log.error("ingest %s: subscriptions refused: %s", self.client_id, failed)
        if mid == self._sub_mid:
            self.subscribed.set()
            self.metrics.connected.set(1)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: Any,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._epoch += 1  # before clear(): a `lost` delivered before this is from the old link
        self.connected.clear()
        self.subscribed.clear()
        self.metrics.connected.set(0)
        if not self._stopping.is_set():
            log.warning("ingest %s: disconnected (%s), reconnecting", self.client_id, reason_code)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            try:
                topic = msg.topic
            except UnicodeDecodeError:  # kept (as bad_topic) rather than lost
                topic = bytes(msg._topic).decode("utf-8", "replace")
            if topic == topics.CLOUD_STATE:  # matched by ws/v1/+/state: not a station's
                self._reassert_online(msg.payload)
                return
            self._inbox.add(
                Received(topic, bytes(msg.payload), bool(msg.retain), time.monotonic(), self._epoch)
            )
            if not self._burst:
                self._on_burst_end()
        except Exception:
            log.exception("ingest %s: could not enqueue a message", self.client_id)

    def _on_burst_end(self) -> None:
        """paho's thread read what was buffered: hand the burst to the writer in one piece."""
        dropped = self._inbox.seal()
        if dropped:
            self.dropped += dropped
            self.metrics.dropped.inc(dropped)

    def _reassert_online(self, payload: bytes) -> None:
        """The cloud is up while any worker is: when another worker's will (or clean stop)
        says `online: false`, a running worker says `true` again, or every station would
        hold its journal until the dead worker came back."""
        if (
            self._stopping.is_set()
            or not self.connected.is_set()
            or b'"online":false' not in (payload.replace(b" ", b""))
        ):
            return
        client = self._client
        if client is not None:
            client.publish(
                topics.CLOUD_STATE, CloudStatePayload(online=True).to_bytes(), qos=1, retain=True
            )
            log.info("ingest %s: another worker left; cloud state re-asserted", self.client_id)

    # --- writer thread -----------------------------------------------------------------------

    def _take(self, msg: Received) -> None:
        if self._oldest is None:
            self._oldest = msg.at
        if self.lost_guard.offer(msg, time.monotonic()):
            return
        self.ingestor.handle(msg.topic, msg.payload, msg.retained)

    def _release_lost(self) -> None:
        """Hand the held `lost` messages that are due to the ingestor (LostGuard)."""
        now = time.monotonic()
        for msg in self.lost_guard.due(self._epoch, self.subscribed.is_set(), now):
            self.ingestor.handle(msg.topic, msg.payload, msg.retained)

    def _next_burst(self, timeout: float | None) -> bool:
        """Move the oldest handed-over burst into the carry; False if none came in time."""
        burst = self._inbox.take(timeout)
        self._carry.extend(burst)
        return bool(burst)

    def _drain_into_ingestor(self, limit: int | None = None) -> None:
        carry = self._carry
        while limit is None or self.ingestor.pending < limit:
            if not carry and not self._next_burst(None):
                return
            self._take(carry.popleft())

    def _fill_batch(self) -> bool:
        """Collect up to `batch_max` messages, waiting at most `batch_max_wait_s` after the
        first; False when there is nothing to write."""
        batch_max = self.settings.batch_max
        self._release_lost()
        if self.ingestor.pending == 0:
            if not self._carry and not self._next_burst(0.1):
                return False
            self._take(self._carry.popleft())
        deadline = time.monotonic() + self.settings.batch_max_wait_s
        while self.ingestor.pending < batch_max:
            # What is already handed over is taken without waiting.
            self._drain_into_ingestor(batch_max)
            if self.ingestor.pending >= batch_max:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping.is_set():
                self._drain_into_ingestor(batch_max)
                break
            if not self._next_burst(remaining):
                break
        return True

    def _observe(self, size: int, started: float) -> None:
        now = time.monotonic()
        m = self.metrics
        m.batch_seconds.observe(now - started)
        m.batch_size.observe(size)
        if self._oldest is not None:
            m.lag.set(now - self._oldest)
        self._oldest = None
        m.queue.set(len(self._inbox) + len(self._carry))
        m.sync_counts(self.ingestor.stats)

    def _publish_acks(self, acks: list[Ack]) -> None:
        for ack in acks:
            self._client.publish(topics.ack(ack.sid), ack.payload().to_bytes(), qos=1)
            self.acks_published += 1

    def _sweep_gaps(self) -> None:
        """Run the seq-gap rule when it is due; a failure (database away) waits for the next."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.gap_sweep_s
        try:
            acks = self.ingestor.resolve_gaps(self.settings.seq_gap_wait_s)
        except Exception as exc:
            log.warning("ingest %s: seq-gap sweep failed: %s", self.client_id, exc)
            return
        self._publish_acks(acks)

    def _write_loop(self) -> None:
        backoff = 0.0
        while True:
            self._sweep_gaps()
            if not self._fill_batch():
                if self._stopping.is_set():
                    return
                continue
            size = self.ingestor.pending
            started = time.monotonic()
            try:
                acks = self.ingestor.flush()
            except Exception as exc:
                if self._stopping.is_set():
                    return  # stop() makes a last attempt
                backoff = min(DB_RETRY_MAX_S, max(0.5, backoff * 2))
                log.warning(
                    "ingest %s: database write failed (%s); %d buffered, retry in %.1f s",
                    self.client_id,
                    exc,
                    self.ingestor.pending,
                    backoff,
                )
                self._stopping.wait(backoff)
                continue
            backoff = 0.0
            self._observe(size, started)
            self._publish_acks(acks)
