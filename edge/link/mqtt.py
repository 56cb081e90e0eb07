"""The MQTT link: one station's session with the broker (connect, birth, will, reconnect,
give up), over the pieces that hold the rest:

- `edge.link.runner`: who runs the network I/O and the drain (paho's thread and a drain
  thread on a real station, or a shared loop for a simulated fleet);
- `edge.link.inbound`: the one table of what the link subscribes to and who handles it;
- `edge.link.drain` and `edge.link.outbox`: journal rows out in seq order, deleted only on
  the cloud's `ack`;
- `edge.link.backoff`: the reconnect wait, with jitter.

Session: each connect takes a new persisted `sess` (`Journal.next_session`); the will
`{"status":"lost","sess":N}` is set just before the CONNECT that starts session N, so the
cloud can ignore a late will of an older session. MQTT 5: every connect resumes the session
(clean start 0) and the session outlives the will delay (`SESSION_MARGIN_S`), so acks survive a
short flap. A broker refusing the login (MQTT 5 0x86/0x87, 3.1.1 rc 4/5) ends the retries:
the password will not fix itself, and a station hammering the broker looks like an attack;
`fatal` says why, the log says it at ERROR, the door keeps working offline and the journal
keeps growing. Why these choices, and what they cost in seconds on the map: docs/operations.md
"Liveness timing" and "The station's MQTT session".
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections import Counter
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config import EdgeConfig
from edge.journal import Journal
from edge.link.backoff import Backoff
from edge.link.drain import Drain
from edge.link.inbound import Inbound
from edge.link.outbox import Outbox
from edge.link.runner import (
    STOP_TIMEOUT_S,
    ExternalLoop,
    LoopRunner,
    Runner,
    ThreadRunner,
    shutdown,
)
from edge.ports import Clock, LinkHooks
from protocol import topics
from protocol.messages import CmdResultPayload, StatePayload, TelemetryPayload

log = logging.getLogger(__name__)

# The session outlives the will delay by this much (seconds), so the broker sends the delayed
# will when the delay ends, not at the session's end; it also keeps queued QoS 1 messages
# (acks, commands) for a station that is away this long. Longer costs broker memory.
SESSION_MARGIN_S = 30
# CONNACK reason codes that mean "your login is wrong": MQTT 5 Bad User Name or Password (0x86)
# and Not Authorized (0x87); paho maps 3.1.1's return codes 4 and 5 onto the same values.
BAD_CREDENTIALS = frozenset({0x86, 0x87})


def station_client(config: EdgeConfig) -> mqtt.Client:
    """A paho client that logs in as the station: its id as client id, its username and
    password (read now: `resolve_password` may read a file and raise OSError), TLS for
    mqtts:// with the configured CA. Not connected; the caller sets the callbacks."""
    cfg = config.mqtt
    v5 = cfg.protocol == 5
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=config.station_id,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        clean_session=None if v5 else True,
    )
    client.username_pw_set(config.mqtt_username, cfg.resolve_password())
    if cfg.url().tls:
        client.tls_set(
            ca_certs=str(cfg.ca_file) if cfg.ca_file else None,
            tls_version=ssl.PROTOCOL_TLS_CLIENT,
        )
    return client


class Link:
    """One station's MQTT connection (the agent's `Publisher`). No I/O until `start()`.

    `loop=None`: paho's own thread and a drain thread, as on a real station; else everything
    runs on that shared loop (`edge.link.runner`).
    """

    def __init__(
        self,
        config: EdgeConfig,
        journal: Journal,
        *,
        clock: Clock,
        hooks: LinkHooks,
        loop: ExternalLoop | None = None,
    ) -> None:
        self.config = config
        self.sid = config.station_id
        self.journal = journal
        self.clock = clock
        self.hooks = hooks
        self.stats: Counter[str] = Counter()
        self.fatal: str | None = None  # why the link gave up for good (bad credentials)
        self.sess = 0
        self.backoff = Backoff(config.mqtt, self.stats)
        self.outbox = Outbox(
            journal,
            max_inflight=config.mqtt.max_inflight,
            ack_timeout_s=config.mqtt.ack_timeout_s,
            monotonic=clock.monotonic,
        )
        self.inbound = Inbound(self)
        self.drain = Drain(self)
        self.runner: Runner = ThreadRunner(self) if loop is None else LoopRunner(self, loop)
        self._client: mqtt.Client | None = None
        self._connected = threading.Event()

    # --- state -------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def client(self) -> mqtt.Client | None:
        """The paho client from `start()` until `stop()` / `abort()`."""
        return self._client

    @property
    def live_client(self) -> mqtt.Client | None:
        """The paho client while connected, else None (what the drain publishes on)."""
        client = self._client
        return client if client is not None and self.connected else None

    @property
    def cloud_online(self) -> bool | None:
        """What the retained `_cloud/state` said last; None until it said anything."""
        return self.inbound.cloud_online

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; reconnects forever with backoff until stop()."""
        if self._client is not None:
            return
        cfg = self.config.mqtt
        url = cfg.url()
        v5 = cfg.protocol == 5
        client = station_client(self.config)
        client.reconnect_delay_set(cfg.reconnect_min_s, cfg.reconnect_max_s)
        client.max_inflight_messages_set(cfg.max_inflight)
        client.on_pre_connect = self._on_pre_connect
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        self.inbound.install(client)
        self._client = client
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
        self.runner.start(client)

    def stop(self) -> None:
        """Publish the retained `offline` state and disconnect cleanly (no will)."""
        client = self._client
        if client is None:
            return
        self.runner.halt()
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
                if self.runner.may_block():
                    info.wait_for_publish(timeout=STOP_TIMEOUT_S)
            except Exception:  # stopping must finish even if the broker just went away
                log.warning("%s: could not publish offline state", self.sid, exc_info=True)
        client.disconnect()
        self.runner.close(client)
        self._connected.clear()
        self._client = None

    def abort(self) -> None:
        """Drop the connection without DISCONNECT, like a power cut: the broker sends the will."""
        client = self._client
        if client is None:
            return
        self.runner.halt()
        self.runner.cut(client)
        self._connected.clear()
        self._client = None

    def drop_connection(self) -> None:
        """Cut the TCP connection under a running client (tests, chaos); paho reconnects."""
        if self._client is not None:
            shutdown(self._client)

    # --- outbound ----------------------------------------------------------------------------

    def kick(self) -> None:
        """Wake the drain: a row was just journaled (or an ack, a connect made room)."""
        self.runner.kick()

    def publish_telemetry(self, payload: TelemetryPayload) -> None:
        """Live heartbeat at QoS 0, not journaled: a missed one is replaced by the next."""
        client = self._client
        if client is None or not self.connected:
            self.stats["telemetry_dropped"] += 1
            return
        info = client.publish(topics.telemetry(self.sid), payload.to_bytes(), qos=0)
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            self.stats["telemetry_dropped"] += 1

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
            self.inbound.resubscribe_trust(client)
        self.kick()

    def _publish_birth(self, client: mqtt.Client) -> None:
        meta = self.hooks.meta()
        client.publish(topics.meta(self.sid), meta.to_bytes(), qos=1, retain=True)
        status, reason = self.hooks.status()
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
        """Just before each CONNECT: a new session number, and the will that names it."""
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
        """CONNACK: give up on a refused login, else birth, subscriptions, drain from the top."""
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
            self.inbound.subscribe(client)
            self.outbox.restart(reconnected=True)
        except Exception:
            log.exception("%s: birth failed; dropping the connection to retry", self.sid)
            self.stats["errors"] += 1
            self.drop_connection()
            return
        self.backoff.reset()
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
        if self.runner.halted or self.fatal is not None:
            return
        self.runner.retry(client)

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        """paho's own loop could not connect (never called on a shared loop)."""
        self.stats["connect_failures"] += 1
        self.runner.retry(client)
