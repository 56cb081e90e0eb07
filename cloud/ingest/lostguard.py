"""Holding `lost` states until they are believable: what keeps a broker restart or a radio
flap off the map (liveness targets, docs/operations.md "Liveness timing").

The ingest worker (`cloud.ingest.subscriber`) offers every state message it receives; the
writer thread owns the guard.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from protocol import topics
from protocol.topics import Kind

# Seconds a live `lost` (a will) waits before it is stored. The stations send their will at
# once (`will_delay_s = 0`, see edge.link.mqtt for why not Mosquitto's will delay), so this
# hold is what keeps a radio flap off the map: a birth within it cancels the `lost`. If this
# worker loses the broker meanwhile it was (most likely) Mosquitto's shutdown burst and it is
# dropped; its retained copy is judged again at the next subscribe. Killed station → not
# open ≈ this + batch wait + the API's live-state reuse.
LIVE_LOST_HOLD_S = 12.0
# Seconds a retained `lost` replayed at (re)subscribe waits for the station's new birth:
# after a broker restart every station is back within its reconnect backoff (1-1.5 s, then
# 3-4.5 s with the default reconnect_min_s=1 and jitter 0.5); a real loss is stored late.
RETAINED_LOST_HOLD_S = 15.0

STATE_SUFFIX = f"/{Kind.STATE.value}"


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes
    retained: bool
    at: float  # time.monotonic() at delivery, for the lag metric
    epoch: int = 0  # the worker's connection count at delivery (LostGuard)


@dataclass(slots=True)
class _Held:
    msg: Received
    sess: int
    release_at: float  # monotonic


class LostGuard:
    """Holds `lost` state messages until they are believable (helper E, liveness targets).

    Mosquitto (2.0.11 checked) publishes the will of every connected client at once when it
    shuts down, ignoring the will delay, delivers those `lost` to the subscribers still
    connected, and persists them as the retained state; a restarted broker replays them at
    every subscribe. The stations are back seconds later with a newer `sess`. Stored as they
    come, a broker restart would paint the whole map lost. So, per station, the newest `lost`
    is held: a birth (a live one, or a retained one of a newer session) cancels it; a live one
    is stored after `LIVE_LOST_HOLD_S` unless this worker's connection dropped meanwhile (the
    shutdown burst: dropped, its retained copy comes back at the next subscribe); a retained
    one after `RETAINED_LOST_HOLD_S` of being connected. Not thread-safe: the writer owns it.
    """

    def __init__(self) -> None:
        self._held: dict[str, _Held] = {}
        self.stats: Counter[str] = Counter()

    @property
    def held(self) -> int:
        return len(self._held)

    def offer(self, msg: Received, now: float) -> bool:
        """True if `msg` is a `lost` that is now held (the caller must not store it)."""
        if not msg.topic.endswith(STATE_SUFFIX):
            return False  # the stream kinds, nearly every message: no parse
        try:
            parsed = topics.parse(msg.topic)
            if parsed.kind is not Kind.STATE:
                return False
            body = json.loads(msg.payload)
            status, sess = body.get("status"), body.get("sess")
        except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
            # RecursionError: ~60 kB of nested brackets, under the broker's packet limit
            return False  # not for us: the ingestor dead-letters what is malformed
        if not isinstance(sess, int) or isinstance(sess, bool):
            return False
        held = self._held.get(parsed.sid)
        if status == "lost":
            if held is not None and held.sess > sess:
                self.stats["lost_older_dropped"] += 1
                return True  # older than the one held: the store would ignore it anyway
            hold = RETAINED_LOST_HOLD_S if msg.retained else LIVE_LOST_HOLD_S
            self._held[parsed.sid] = _Held(msg, sess, now + hold)
            self.stats["lost_held"] += 1
            return True
        newer = held is not None and (not msg.retained or sess > held.sess)
        if status in ("online", "degraded") and newer:
            del self._held[parsed.sid]
            self.stats["lost_cancelled_by_birth"] += 1
        return False

    def due(self, epoch: int, connected: bool, now: float) -> list[Received]:
        """The held `lost` messages to store now; drops those from an older connection."""
        if not connected:
            return []  # births cannot arrive: keep waiting
        out: list[Received] = []
        for sid, held in list(self._held.items()):
            if held.msg.epoch != epoch:
                del self._held[sid]
                self.stats["lost_dropped_broker_gone"] += 1
            elif now >= held.release_at:
                del self._held[sid]
                self.stats["lost_stored"] += 1
                out.append(held.msg)
        return out
