"""The MQTT link: birth and death, subscriptions, and the journal drain.

Threads: paho's network loop (callbacks run there) and one drain thread that publishes
journal rows. Neither may die: every callback body is wrapped, a failure is logged and counted.

Delivery (DESIGN.md, no-loss promise; the window rules are in `edge.link.outbox`): journal
rows go out in seq order at QoS 1; a row is deleted only when a cloud `ack` covers its seq
(a PUBACK only means the broker has it); after every (re)connect, when the cloud comes back
online, and when the cloud acks nothing for `ack_timeout_s`, the drain restarts from the
oldest unacked row. Duplicates are harmless: the cloud de-duplicates on `event_id`.

Reconnects: paho's doubling backoff (`reconnect_delay_set`) has no jitter, so every
failed attempt also waits an extra random 0..`reconnect_jitter` share of paho's current step
(in `on_connect_fail` / `on_disconnect`, which paho calls just before its own wait). A broker
refusing the login (MQTT 5 0x86/0x87, 3.1.1 rc 4/5) ends the retries: the password will not
fix itself, and a station hammering the broker looks like an attack. `fatal` says why, the
log says it at ERROR; the door keeps working offline and the journal keeps growing.

Will and session (MQTT 5): the will carries `WillDelayInterval = will_delay_s` (default 0:
sent at once) and the session a longer `SessionExpiryInterval` (delay + `SESSION_MARGIN_S`),
so acks survive a short flap. Every connect resumes the session (clean start 0, also a
restarted agent's first one): a clean start would end the session and, per the spec, send
any pending will. Flap tolerance lives in the cloud: ingest holds a `lost` 12 s and a birth
of a newer session cancels it (`cloud.ingest.lostguard.LostGuard`), which also covers MQTT
3.1.1 stations. Why not the broker's will delay by default: Mosquitto 2.0 keeps delayed wills
in one list ordered by delay interval, newest first among equals, checked only up to the
first will not yet due, so under steady churn a dead station's `lost` waits for a pause as
long as the delay (43 s instead of 13 measured with 10 s).

Liveness timing (defaults: keepalive 20 s, will delay 0; cloud: `lost` held 12 s, batch wait
0.2 s, nearby live-state reuse 1 s; measured by `benchmarks/liveness_targets.py`,
docs/operations.md "Liveness timing"):
- clean stop: retained `offline`, then DISCONNECT (the broker drops the will): the map shows
  it after batch + reuse ≈ 1.2 s;
- process killed, connection reset: the broker sees the close and sends the will at once;
  the cloud stores it after its hold: ≈ 12 + 0.2 + 1 ≈ 13 s;
- silent death (power cut, radio gone for good): the broker gives up after 1.5 × keepalive
  of silence (+ ≤ 1 s tick): ≈ 30 + 1 + 13.2 ≈ 44 s;
- a blackhole shorter than the keepalive goes unnoticed by both ends (the broker waits
  1.5 × keepalive of silence, paho closes only after a PINGREQ unanswered for a keepalive),
  so keepalive must exceed the longest flap the map should ignore (15 s);
- a cut that ends in a reconnect: the birth within the cloud's hold cancels the `lost`;
  paho retries ~1-1.5, 3-4.5 and 7-10.5 s after a drop (reconnect_min_s 1, doubling, jitter
  ≤ 50 %).
Mosquitto 2.0 also sends every will at once when it shuts down and keeps them as retained;
`LostGuard` holds those until the births cancel them.

External loop (`loop=`, e.g. `firmware_sim.netloop.NetLoop`, for a fleet of thousands of
stations in one process): no thread of the link's own. The loop's thread runs paho's reads,
writes and keepalive, the connects and the reconnect backoff (scheduled, never slept: one
station's wait must not stall the others), and the drain (`kick()` schedules a pass; a tick
each second checks the ack timeout). Default `loop=None`: paho's `loop_start()` and a drain
thread, as on a real station.

Cloud down: while the retained `_cloud/state` says `online: false` nothing is drained (the
cloud could not ack it); rows pile up in the journal and go when it says `true` again.

Session: each connect takes a new persisted `sess` (`Journal.next_session`); the LWT
`{"status":"lost","sess":N}` is set just before the CONNECT that starts session N, so the
cloud can ignore a late LWT from an older session.
"""

from __future__ import annotations

import contextlib
import logging
import random
import socket
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import EdgeConfig
from edge.journal import Journal
from edge.link.outbox import Outbox
from edge.ports import Clock
from protocol import topics
from protocol.messages import (
    AckPayload,
    CloudStatePayload,
    CmdResultPayload,
    MetaPayload,
    PayloadError,
    StatePayload,
    Status,
    TelemetryPayload,
    decode,
    loads,
)
from protocol.topics import Kind

log = logging.getLogger(__name__)

# How long the drain sleeps when nothing wakes it; it also checks the ack timeout this often.
DRAIN_POLL_S = 1.0
# How long stop() waits for the broker to take the retained `offline` state.
STOP_PUBLISH_TIMEOUT_S = 3.0
# The session outlives the will delay by this much (seconds), so the broker sends the delayed
# will when the delay ends, not at the session's end; it also keeps queued QoS 1 messages
# (acks, commands) for a station that is away this long. Longer costs broker memory.
SESSION_MARGIN_S = 30
# CONNACK reason codes that mean "your login is wrong": MQTT 5 Bad User Name or Password (0x86)
# and Not Authorized (0x87); paho maps 3.1.1's return codes 4 and 5 onto the same values.
BAD_CREDENTIALS = frozenset({0x86, 0x87})

CommandHandler = Callable[[str, bytes], CmdResultPayload | None]
ConfigHandler = Callable[[bytes], CmdResultPayload | None]


class ExternalLoop(Protocol):
    """What the link needs from a shared network loop (`firmware_sim.netloop.NetLoop`)."""

    @property
    def in_loop(self) -> bool: ...

    def attach(self, client: mqtt.Client, *, tick: Callable[[], None] | None = None) -> None: ...

    def detach(self, client: mqtt.Client) -> None: ...

    def connect(self, client: mqtt.Client) -> None: ...

    def call_soon(self, fn: Callable[[], object]) -> None: ...

    def call_later(self, delay_s: float, fn: Callable[[], object]) -> Any: ...

    def run(self, fn: Callable[[], Any], timeout_s: float = 10.0) -> Any: ...


def _shutdown(client: mqtt.Client) -> None:
    """Shut the client's TCP connection down without an MQTT DISCONNECT."""
    sock = client.socket()
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


class Link:
    """One station's MQTT connection. No I/O until `start()`."""

    def __init__(
        self,
        config: EdgeConfig,
        journal: Journal,
        *,
        meta: Callable[[], MetaPayload],
        clock: Clock,
        on_ack: Callable[[int], None] | None = None,
        on_trust: Callable[[bytes], None] | None = None,
        on_revocations: Callable[[bytes], None] | None = None,
        on_command: CommandHandler | None = None,
        on_config: ConfigHandler | None = None,
        rng: random.Random | None = None,
        status: Callable[[], tuple[Status, str | None]] | None = None,
        loop: ExternalLoop | None = None,
    ) -> None:
        self.config = config
        self.loop = loop  # None: paho's own thread and a drain thread (a real station)
        self.sid = config.station_id
        self.journal = journal
        self.meta = meta
        self.clock = clock
        self.on_ack = on_ack
        self.on_trust = on_trust
        self.on_revocations = on_revocations
        self.on_command = on_command
        self.on_config = on_config
        self.rng = rng or random.Random()  # jitter, not cryptography
        # What the birth reports: `online`, or `degraded` with why (camera or lock dead).
        self.status = status or (lambda: ("online", None))
        self.fatal: str | None = None  # why the link gave up for good (bad credentials)
        self._failures = 0  # failed attempts since the last good CONNACK, for the jitter
        self.stats: Counter[str] = Counter()
        self.sess = 0
        self.cloud_online: bool | None = None
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._drain_thread: threading.Thread | None = None
        self._drain_queued = False  # external loop: a drain pass is already scheduled
        self._reconnect_timer: Any = None  # external loop: the pending reconnect
        self.outbox = Outbox(
            journal,
            max_inflight=config.mqtt.max_inflight,
            ack_timeout_s=config.mqtt.ack_timeout_s,
            monotonic=clock.monotonic,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Connect in the background; reconnects forever with backoff until stop()."""
        if self._client is not None:
            return
        cfg = self.config.mqtt
        url = cfg.url()
        v5 = cfg.protocol == 5
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.sid,
            protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
            clean_session=None if v5 else True,
        )
        client.username_pw_set(self.config.mqtt_username, cfg.resolve_password())
        if url.tls:
            client.tls_set(
                ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)
        client.max_inflight_messages_set(cfg.max_inflight)
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.message_callback_add(topics.ack(self.sid), self._guard(self._on_ack_message))
        client.message_callback_add(
            f"{topics.PREFIX}/{self.sid}/cmd/+", self._guard(self._on_command)
        )
        client.message_callback_add(topics.config(self.sid), self._guard(self._on_config))
        client.message_callback_add(f"{topics.PREFIX}/trust/#", self._guard(self._on_trust))
        client.message_callback_add(topics.CLOUD_STATE, self._guard(self._on_cloud_state))
        client.on_message = self._guard(self._on_other)
        self._client = client
        self._stopping.clear()
        if self.loop is None:
            self._drain_thread = threading.Thread(
                target=self._drain_loop, name=f"drain-{self.sid}", daemon=True
            )
            self._drain_thread.start()
        properties = None
        if v5:  # also with will_delay_s = 0: the session still keeps acks over a short flap
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = cfg.will_delay_s + SESSION_MARGIN_S
        self.fatal = None
        client.connect_async(
            url.host,
            url.port,
            keepalive=cfg.keepalive_s,
            # MQTT 5: always resume the session, also on a restarted agent's first connect. A
            # clean start ends the old session, and the spec then sends its pending will at
            # once (Mosquitto 2.0 happens not to): a crash-restart inside the will delay would
            # show `lost`. Resuming also keeps the acks and commands queued while away.
            clean_start=False if v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        if self.loop is None:
            client.loop_start()
            return
        self.loop.attach(client, tick=self._tick)
        self.loop.call_soon(lambda: self._connect_now(client))

    def stop(self) -> None:
        """Publish the retained `offline` state and disconnect cleanly (no LWT)."""
        client = self._client
        if client is None:
            return
        self._halt_drain()
        if self.connected:
            try:
                info = client.publish(
                    topics.state(self.sid),
                    StatePayload(
                        sid=self.sid, ts=self.clock.now(), status="offline", sess=self.sess
                    ).to_bytes(),
                    qos=1,
                    retain=True,
                )
                if self.loop is None or not self.loop.in_loop:
                    info.wait_for_publish(timeout=STOP_PUBLISH_TIMEOUT_S)
            except Exception:  # stopping must finish even if the broker just went away
                log.warning("%s: could not publish offline state", self.sid, exc_info=True)
        client.disconnect()
        if self.loop is None:
            client.loop_stop()
        else:
            self._leave_loop(client, wait_s=STOP_PUBLISH_TIMEOUT_S)
        self._connected.clear()
        self._client = None

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, like a power cut: the broker sends the LWT."""
        client = self._client
        if client is None:
            return
        self._halt_drain()
        if self.loop is not None:
            self._leave_loop(client, wait_s=0.0)
            self._connected.clear()
            self._client = None
            return
        # paho has no public way to end its thread without sending DISCONNECT: raise its
        # stop flag first so the cut below ends the loop at once instead of reconnecting.
        client._thread_terminate = True
        _shutdown(client)
        client.loop_stop()
        self._connected.clear()
        self._client = None  # paho closes its sockets when the client is collected

    def drop_connection(self) -> None:
        """Cut the TCP connection under a running client (tests, chaos); paho reconnects."""
        if self._client is not None:
            _shutdown(self._client)

    def _halt_drain(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._drain_thread is not None:
            self._drain_thread.join(timeout=5)
            self._drain_thread = None
        timer, self._reconnect_timer = self._reconnect_timer, None
        if timer is not None:
            timer.cancel()

    # --- external loop (no thread of our own) ----------------------------------------------------

    def _leave_loop(self, client: mqtt.Client, *, wait_s: float) -> None:
        """Give the loop `wait_s` to write what is queued (the DISCONNECT), then cut and detach."""
        loop = self.loop
        assert loop is not None
        deadline = time.monotonic() + wait_s  # real time: a simulated clock may stand still
        while client.socket() is not None and time.monotonic() < deadline:
            if loop.in_loop:
                break  # cannot wait for ourselves
            time.sleep(0.005)  # _stopping is set by now: it cannot pace this

        def leave() -> None:
            loop.detach(client)
            sock = client.socket()
            if isinstance(sock, socket.socket):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)  # no DISCONNECT: the broker sends the will
                sock.close()

        loop.run(leave)

    def _connect_now(self, client: mqtt.Client) -> None:
        """On the loop thread: one connect attempt; a failure schedules the next one."""
        self._reconnect_timer = None
        if client is not self._client or self._stopping.is_set() or self.fatal is not None:
            return
        assert self.loop is not None
        try:
            self.loop.connect(client)
        except Exception as exc:  # refused, unreachable, partitioned, timed out
            self.stats["connect_failures"] += 1
            log.debug("%s: connect failed: %s", self.sid, exc)
            self._schedule_reconnect(client)

    def _schedule_reconnect(self, client: mqtt.Client) -> None:
        """paho's doubling backoff plus the jitter, as a timer on the loop (never a sleep)."""
        assert self.loop is not None
        cfg = self.config.mqtt
        step = min(cfg.reconnect_min_s * 2**self._failures, cfg.reconnect_max_s)
        self._failures = min(self._failures + 1, 32)
        delay = step + self.rng.uniform(0.0, cfg.reconnect_jitter * step)
        self.stats["reconnect_waits"] += 1
        if self._reconnect_timer is not None:
            self._reconnect_timer.cancel()
        self._reconnect_timer = self.loop.call_later(delay, lambda: self._connect_now(client))

    def _tick(self) -> None:
        """Every second on the loop thread: resend the window if the cloud stopped acking."""
        if self.outbox.inflight and self.outbox.timed_out():
            self.kick()

    def _drain_pass(self) -> None:
        """On the loop thread: publish up to the free window (what the drain thread does)."""
        self._drain_queued = False
        try:
            while not self._stopping.is_set() and self._drain_once():
                pass
        except Exception:
            self.stats["errors"] += 1
            log.exception("%s: drain failed; retrying on the next wake", self.sid)

    # --- outbound ----------------------------------------------------------------------------

    def kick(self) -> None:
        """Wake the drain: a row was just journaled (or an ack, a connect made room)."""
        if self.loop is None:
            self._wake.set()
        elif not self._drain_queued and not self._stopping.is_set():
            self._drain_queued = True
            self.loop.call_soon(self._drain_pass)

    def publish_telemetry(self, payload: TelemetryPayload) -> None:
        """Live heartbeat at QoS 0, not journaled: a missed one is replaced by the next."""
        client = self._client
        if client is None or not self.connected:
            self.stats["telemetry_dropped"] += 1
            return
        info = client.publish(topics.telemetry(self.sid), payload.to_bytes(), qos=0)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.stats["telemetry_dropped"] += 1

    def _publish_birth(self, client: mqtt.Client) -> None:
        meta = self.meta()
        client.publish(topics.meta(self.sid), meta.to_bytes(), qos=1, retain=True)
        status, reason = self.status()
        state = StatePayload(
            sid=self.sid,
            ts=self.clock.now(),
            status=status,
            sess=self.sess,
            config_version=meta.config_version,
            reason=reason,
        )
        client.publish(topics.state(self.sid), state.to_bytes(), qos=1, retain=True)

    # --- paho callbacks (network thread) -------------------------------------------------------

    def _on_pre_connect(self, client: mqtt.Client, userdata: Any) -> None:
        try:
            self.sess = self.journal.next_session()
        except Exception:  # keep connecting with the old number rather than not at all
            log.exception("%s: could not persist the session counter", self.sid)
            self.stats["errors"] += 1
            self.sess += 1
        lost = StatePayload(sid=self.sid, ts=self.clock.now(), status="lost", sess=self.sess)
        will_props = None
        if self.config.mqtt.protocol == 5 and self.config.mqtt.will_delay_s:
            will_props = Properties(PacketTypes.WILLMESSAGE)
            will_props.WillDelayInterval = self.config.mqtt.will_delay_s
        client.will_set(
            topics.state(self.sid), lost.to_bytes(), qos=1, retain=True, properties=will_props
        )

    def _on_connect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        if reason.is_failure:
            self.stats["connect_refused"] += 1
            if reason.value in BAD_CREDENTIALS:
                self.fatal = f"broker refused the login as {self.config.mqtt_username}: {reason}"
                self.stats["fatal"] += 1
                log.error(
                    "%s: %s; NOT retrying: fix the password or the broker's user list and "
                    "restart the agent (the door keeps working offline)",
                    self.sid,
                    self.fatal,
                )
                client.disconnect()  # ends paho's loop: no reconnect storm
                return
            log.error("%s: broker refused the connection: %s", self.sid, reason)
            return  # paho disconnects and calls on_disconnect, which adds the jitter
        try:
            # QoS 1 publishes paho still holds from the last session would be resent after
            # this callback: journal rows go out again from the outbox anyway, and an old
            # session's birth must not follow the new one. Drop them.
            client.drop_out_messages()
            self._publish_birth(client)
            client.subscribe(
                [
                    (topics.ack(self.sid), 1),
                    (f"{topics.PREFIX}/{self.sid}/cmd/+", 1),
                    (topics.config(self.sid), 1),
                    (f"{topics.PREFIX}/trust/#", 1),
                    (topics.CLOUD_STATE, 1),
                ]
            )
            self.outbox.restart(reconnected=True)
        except Exception:
            log.exception("%s: birth failed; dropping the connection to retry", self.sid)
            self.stats["errors"] += 1
            self.drop_connection()
            return
        self._failures = 0
        self.stats["connects"] += 1
        self._connected.set()
        log.info("%s: connected, session %d", self.sid, self.sess)
        self.kick()

    def _on_disconnect(
        self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        was = self._connected.is_set()
        self._connected.clear()
        if was:
            self.stats["disconnects"] += 1
            log.info("%s: disconnected (%s)", self.sid, reason)
        if self._stopping.is_set() or self.fatal is not None:
            return
        if self.loop is not None:
            self._schedule_reconnect(client)  # paho reconnects only in its own loop
        else:
            self._jitter()

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        self.stats["connect_failures"] += 1
        self._jitter()

    def _jitter(self) -> None:
        """Wait a random share of paho's next backoff step before paho's own wait starts."""
        cfg = self.config.mqtt
        step = min(cfg.reconnect_min_s * 2**self._failures, cfg.reconnect_max_s)
        self._failures = min(self._failures + 1, 32)
        extra = self.rng.uniform(0.0, cfg.reconnect_jitter * step)
        self.stats["reconnect_waits"] += 1
        self._stopping.wait(extra)  # stop() and abort() set this: never delays shutting down

    def _guard(
        self, handler: Callable[[mqtt.MQTTMessage], None]
    ) -> Callable[[mqtt.Client, Any, mqtt.MQTTMessage], None]:
        """Wrap a message handler so nothing it raises reaches (and kills) paho's loop."""

        def callback(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
            try:
                handler(message)
            except Exception:
                self.stats["errors"] += 1
                log.exception("%s: handler failed on %s", self.sid, message.topic)

        return callback

    def _on_ack_message(self, message: mqtt.MQTTMessage) -> None:
        try:
            ack = decode(Kind.ACK, message.payload)
        except PayloadError as exc:
            self.stats["bad_ack"] += 1
            log.warning("%s: bad ack: %s", self.sid, exc)
            return
        assert isinstance(ack, AckPayload)
        self.outbox.acked(ack.upto_seq)
        self.stats["acks"] += 1
        if self.on_ack is not None:
            self.on_ack(ack.upto_seq)
        self.kick()

    def _on_trust(self, message: mqtt.MQTTMessage) -> None:
        if not message.payload:
            return  # a cleared retained message
        if message.topic == topics.TRUST_KEYS and self.on_trust is not None:
            self.on_trust(bytes(message.payload))
        elif message.topic == topics.TRUST_REVOCATIONS and self.on_revocations is not None:
            self.on_revocations(bytes(message.payload))

    def _on_cloud_state(self, message: mqtt.MQTTMessage) -> None:
        if not message.payload:
            return
        try:
            online = CloudStatePayload.model_validate(loads(message.payload)).online
        except ValueError as exc:  # PayloadError and ValidationError are ValueErrors
            log.warning("%s: bad cloud state: %s", self.sid, exc)
            return
        was, self.cloud_online = self.cloud_online, online
        # The cloud may have lost what was in flight while it was down, or (first word after
        # a connect) what was sent before any ingest had subscribed: send it again.
        if online and (was is False or (was is None and self.outbox.inflight)):
            log.info("%s: cloud is up, resending the unacked window", self.sid)
            self.outbox.restart(reconnected=False)
            self.kick()

    def _on_command(self, message: mqtt.MQTTMessage) -> None:
        try:
            name = topics.parse(message.topic).name
        except ValueError:
            name = None
        if not message.payload or name is None or self.on_command is None:
            self.stats["commands_ignored"] += 1
            return
        self.stats["commands"] += 1
        self.publish_result(self.on_command(name, bytes(message.payload)))

    def _on_config(self, message: mqtt.MQTTMessage) -> None:
        if not message.payload or self.on_config is None:
            return  # a cleared retained config: keep the applied one
        self.stats["configs"] += 1
        self.publish_result(self.on_config(bytes(message.payload)))

    def publish_result(self, result: CmdResultPayload | None) -> None:
        """Answer on `cmd_result` (QoS 1, not journaled: the cloud can ask again)."""
        client = self._client
        if result is None or client is None:
            return
        client.publish(topics.cmd_result(self.sid), result.to_bytes(), qos=1)

    def rebirth(self) -> None:
        """Publish meta and state again (the `rebirth` command, or after a config change)."""
        client = self._client
        if client is not None and self.connected:
            self._publish_birth(client)

    def sync(self) -> None:
        """Resend the unacked window and ask for the retained trust lists again (`sync`)."""
        self.outbox.restart(reconnected=False)
        client = self._client
        if client is not None and self.connected:
            # A new SUBSCRIBE on the same filter makes the broker send the retained copies.
            client.subscribe(f"{topics.PREFIX}/trust/#", 1)
        self.kick()

    def _on_other(self, message: mqtt.MQTTMessage) -> None:
        log.debug("%s: unexpected message on %s", self.sid, message.topic)

    # --- the drain -----------------------------------------------------------------------------

    def _drain_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(DRAIN_POLL_S)
            self._wake.clear()
            try:
                while not self._stopping.is_set() and self._drain_once():
                    pass
            except Exception:
                self.stats["errors"] += 1
                log.exception("%s: drain failed; retrying", self.sid)
                self._stopping.wait(DRAIN_POLL_S)

    def _drain_once(self) -> bool:
        """Publish up to the free window; True if something was published."""
        client = self._client
        if client is None or not self.connected:
            return False
        if self.cloud_online is False:
            self.stats["drain_paused"] += 1
            return False  # nobody would ack it; the cloud-back restart sends it all
        if self.outbox.timed_out():
            log.warning("%s: no ack for %d rows; resending", self.sid, self.outbox.inflight)
            self.stats["ack_timeouts"] += 1
            self.outbox.restart(reconnected=False)
        gen, rows = self.outbox.take()
        for row in rows:
            payload = self.outbox.payload(row)
            info = client.publish(topics.station(self.sid, row.kind), payload, qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return False  # not connected any more; the next CONNACK restarts the drain
            self.stats["published"] += 1
            if not self.outbox.sent(gen, row.seq):
                return True  # a restart happened meanwhile: take again from the oldest
        return bool(rows)
