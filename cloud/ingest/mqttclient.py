"""paho-mqtt's client with fewer system calls per message: what lets one ingest worker
take 10,000 msg/s.

Stock paho, in its threaded mode, spends per received QoS 1 message: a `select`, at least
three `recv` calls (the command byte, each remaining-length byte, the body), a byte written to
its wake-up socket pair when the PUBACK is queued (even from its own thread), and a `send`
for that PUBACK alone; and it builds a `Properties` object, an `MQTTMessageInfo` with its
Condition and a debug-log line per message. At ingest rates that was about half of the
receive thread's CPU. `BurstClient` keeps paho's connection handling, sessions, keepalive,
subscribe and publish, and changes only the hot path:

- the socket is read 64 KiB at a time into a buffer that serves paho's small reads, and
  `loop_read` goes on while bytes are buffered, 256 packets at most (paho already asks a
  socket for `pending()`, as TLS sockets have it, and skips its `select` wait while > 0);
- the packets one `loop_write` sends (a burst's PUBACKs, a batch's acks) leave in one `send`;
- the wake-up byte is not written when paho's own network thread queues a packet: that thread
  is not in `select` and writes what is queued before it waits again;
- the common PUBLISH (QoS 0/1, no MQTT 5 properties) is decoded here; anything else by paho;
- hooks for a consumer: `on_burst_end` after each read burst, `read_paused` to stop reading
  (backpressure to the broker).

Same packets, same order, same PUBACKs; received messages are `MQTTMessage`s whose `info`
and `properties` are None on the lean path.

`client_class()` picks the class: `BurstClient` on the paho-mqtt it was written for
(`PAHO_TESTED`), paho's own `Client` on any other version or with the stock switch
(`cloud.forks`). The stock client has no `on_burst_end` or `read_paused` hook.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

from cloud import forks

log = logging.getLogger(__name__)

RECV_BYTES = 65_536  # one read; Mosquitto writes many small PUBLISH packets back to back
# Packets handled per wake-up at most, so outgoing packets (PUBACKs, acks, pings) queued by
# the callbacks go out between bursts rather than after the whole backlog.
BURST_PACKETS = 256
PAUSE_S = 0.02  # while `read_paused()`, the network loop checks again this often
PAHO_TESTED = "2.2"  # the paho-mqtt major.minor whose internals BurstClient overrides


class BufferedSocket:
    """A socket whose `recv` is served from one large read, and whose `send` is held back
    while `holding` (paho's network thread only) and sent in one piece by `flush`."""

    __slots__ = ("_buf", "_inner_pending", "_out", "_pos", "_sock", "holding")

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._inner_pending = getattr(sock, "pending", None)  # TLS: decrypted, unread bytes
        self._buf = b""
        self._pos = 0
        self._out = bytearray()  # held back or not yet taken by the kernel, in order
        self.holding = False

    def recv(self, bufsize: int) -> bytes:
        buf, pos = self._buf, self._pos
        if pos >= len(buf):
            buf = self._sock.recv(max(bufsize, RECV_BYTES))
            if not buf:
                return buf  # closed by the peer: paho sees b"" as it would
            self._buf, pos = buf, 0
        end = pos + bufsize
        self._pos = min(end, len(buf))
        return buf[pos:end]

    def pending(self) -> int:
        """Bytes readable without touching the network (paho skips `select` while > 0)."""
        inner = self._inner_pending() if self._inner_pending is not None else 0
        return len(self._buf) - self._pos + inner

    def send(self, data: bytes | bytearray | memoryview) -> int:
        if self.holding or self._out:  # behind bytes still queued: keep the order
            self._out += data
            return len(data)
        return int(self._sock.send(data))

    @property
    def unsent(self) -> int:
        return len(self._out)

    def flush(self) -> None:
        """Send what is held; what the kernel does not take now waits for the next call.

        A broken connection drops it: paho learns of the break from its next read, and what
        was lost is PUBACKs and acks, which the broker and the stations send again."""
        if not self._out:
            return
        try:
            sent = self._sock.send(self._out)
        except BlockingIOError:
            return
        except OSError:
            self._out.clear()
            return
        del self._out[:sent]

    def close(self) -> None:
        self.flush()  # e.g. paho's DISCONNECT, written just before paho closes the socket
        self._sock.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class QuietWake:
    """paho's wake-up socket, silent when paho's network thread itself queues a packet."""

    __slots__ = ("_network", "_sock")

    def __init__(self, sock: Any, network: threading.Thread) -> None:
        self._sock = sock
        self._network = network

    def send(self, data: bytes) -> int:
        if threading.current_thread() is self._network:
            return len(data)
        return int(self._sock.send(data))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class BurstClient(mqtt.Client):
    """`paho.mqtt.client.Client` with the socket handling above, for `loop_start()` use.

    Overrides `_create_socket` (paho 2.x's one place sockets are made; websockets keep their
    own wrapper), `loop_read` (paho's body, calling its `_packet_read`/`_loop_rc_handle`),
    `loop_write`, `want_write`, `_handle_publish`, `_handle_on_message` and, after
    `loop_start`, the wake-up socket. Written against paho-mqtt 2.2 (`PAHO_TESTED`; the
    cloud extra pins 2.2.x); `client_class()` uses it on that version only.
    """

    # Called on paho's network thread after each `loop_read` (a burst of messages delivered
    # to `on_message`), so a consumer can hand them on in one piece (cloud.ingest.inbox).
    on_burst_end: Callable[[], None] | None = None
    # While this says True, `loop_read` reads nothing (it waits PAUSE_S and returns): the
    # consumer is behind, so the kernel's buffers fill, no PUBACKs go out, and the broker
    # stops sending and queues for the session instead (backpressure, not drops). Writes,
    # pings and reconnects carry on; a pause longer than ~2 × keepalive ends in paho's own
    # keepalive disconnect (no PINGRESP read), after which the broker keeps a named
    # session's messages and the stations re-send an anonymous one's.
    read_paused: Callable[[], bool] | None = None

    _filtered = False  # message_callback_add was used: paho's own dispatch is needed

    def message_callback_add(self, sub: str, callback: Any) -> None:
        self._filtered = True
        super().message_callback_add(sub, callback)

    def _handle_publish(self) -> MQTTErrorCode:
        """An incoming PUBLISH, lean in the common case — QoS 0 or 1, no MQTT 5 properties, no
        filtered callbacks — and paho's own handling for anything else (QoS 2, properties,
        malformed packets). The common case skips what paho builds per message and ingest
        never reads: a `Properties` object (~15 % of a worker's CPU), the `MQTTMessageInfo`
        and its Condition, the debug log line. The message is a real `MQTTMessage` with
        `info` and `properties` None."""
        header: int = self._in_packet["command"]
        packet = bytes(self._in_packet["packet"])  # paho's is a bytearray; payloads are bytes
        qos = (header & 0x06) >> 1
        end = len(packet)
        if qos == 2 or self._filtered or end < 2:
            return super()._handle_publish()
        pos = 2 + int.from_bytes(packet[0:2], "big")
        topic = packet[2:pos]
        mid = 0
        if qos:
            if pos + 2 > end:
                return super()._handle_publish()
            mid = int.from_bytes(packet[pos : pos + 2], "big")
            pos += 2
        if self._protocol == mqtt.MQTTv5:
            if pos >= end or packet[pos] != 0:  # properties present (or malformed): paho
                return super()._handle_publish()
            pos += 1
        elif not topic or pos > end:
            return super()._handle_publish()  # paho refuses an empty topic in 3.1.1
        message = mqtt.MQTTMessage.__new__(mqtt.MQTTMessage)
        message.timestamp = time.monotonic()
        message.state = 0
        message.dup = bool(header & 0x08)
        message.mid = mid
        message._topic = topic
        message.payload = packet[pos:]
        message.qos = qos
        message.retain = bool(header & 0x01)
        message.info = None  # type: ignore[assignment]
        message.properties = None
        self._handle_on_message(message)
        if qos == 1 and not self._manual_ack:
            return self._send_puback(mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        """paho's dispatch without the per-message walk of an empty topic-filter tree (~5 %
        of a worker's CPU): with no filtered callbacks it is `on_message`, called as paho
        calls it."""
        if self._filtered:
            super()._handle_on_message(message)
            return
        on_message = self.on_message
        if on_message is None:
            return
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception:
                log.exception("BurstClient: exception in on_message")
                if not self.suppress_exceptions:
                    raise

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        return sock if self._transport == "websockets" else BufferedSocket(sock)

    def loop_start(self) -> MQTTErrorCode:
        rc = super().loop_start()
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and self._thread is not None:
            self._sockpairW = QuietWake(self._sockpairW, self._thread)  # type: ignore[assignment]
        return rc

    def loop_read(self, max_packets: int = 1) -> MQTTErrorCode:
        if self.read_paused is not None and self.read_paused():
            time.sleep(PAUSE_S)
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        try:
            if not isinstance(self._sock, BufferedSocket):
                return super().loop_read(max_packets)
            # BURST_PACKETS at most, whatever paho's loop_read would take: it reads one packet
            # per QoS 1 message of ours awaiting a PUBACK, thousands of acks after a pause,
            # which made one "burst" of 100,000 messages. Its body otherwise, packet by packet.
            rc = MQTTErrorCode.MQTT_ERR_SUCCESS
            for _ in range(BURST_PACKETS):
                sock = self._sock
                if not isinstance(sock, BufferedSocket):
                    return MQTTErrorCode.MQTT_ERR_NO_CONN
                rc = self._packet_read()
                if rc > 0:
                    return self._loop_rc_handle(rc)
                if rc == MQTTErrorCode.MQTT_ERR_AGAIN or sock.pending() <= 0:
                    return MQTTErrorCode.MQTT_ERR_SUCCESS
            return rc
        finally:
            if self.on_burst_end is not None:
                self.on_burst_end()

    def loop_write(self) -> MQTTErrorCode:
        sock = self._sock
        if not isinstance(sock, BufferedSocket):
            return super().loop_write()
        sock.holding = True
        try:
            return super().loop_write()
        finally:
            sock.holding = False
            sock.flush()

    def want_write(self) -> bool:
        sock = self._sock
        return super().want_write() or (isinstance(sock, BufferedSocket) and sock.unsent > 0)


def release_wake_sockets(client: mqtt.Client) -> None:
    """Close the loopback socket pair paho opens for `loop_start` (its wake-up channel); call
    after `loop_stop`. paho closes it only in `__del__` (paho issue 627): a client in a
    reference cycle (callbacks bound to its owner) is left to the cycle collector, which may
    finalize the sockets before the client — two descriptors held until then and a
    ResourceWarning at a random later moment. `_reset_sockets` is the same private call in
    paho 1.x and 2.x; `publish` after it is safe (paho skips a missing pair)."""
    reset = getattr(client, "_reset_sockets", None)
    if reset is not None:
        reset(sockpair_only=True)


def client_class() -> type[mqtt.Client]:
    """`BurstClient` on the paho-mqtt it was written for, else paho's stock `Client` (see
    `cloud.forks`: another version, or `WAYSTATION_STOCK_CLASSES=1`)."""
    if forks.use_fork("BurstClient", "paho-mqtt", paho.mqtt.__version__, PAHO_TESTED):
        return BurstClient
    return mqtt.Client
