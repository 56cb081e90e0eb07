"""Fuzz the MQTT ingest through a real Mosquitto (project ACL, per-station logins).

Station accounts publish on their own topics, of every kind ingest reads, and the cloud
account on topics no station may use (bad station ids, other stations' topics): valid
payloads, truncated ones, wrong types, huge numbers, NaN and infinities, deep nesting,
non-UTF-8, NUL and other control characters and lone surrogates in text, times at and past
the ends of the representable range (years 1 and 9999, ±14:00 offsets, huge Unix times),
oversize (over the contract's 64 KiB, under the broker's packet limit), a wrong `sid`,
unknown stations, replays, retained and not, all at QoS 1 so the broker drops none.

At the end the worker must be alive and every delivered message accounted for: committed
by the ingestor as stored, duplicate, ignored or a dead letter with a reason, or absorbed
by the `LostGuard` (a `lost` superseded by a newer state). A control subscriber counts what
the broker delivered, independently of the worker.

WS_FUZZ_MESSAGES sets the number of messages (default 100,000, the issue's target: ~45 s on
2 cores), WS_FUZZ_SEED the seed; `pytest -s` prints the figures.
"""

from __future__ import annotations

import json
import math
import os
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, func, select

from cloud.db import init_db, make_engine, session
from cloud.ingest.ingestor import Ingestor
from cloud.ingest.parse import Item
from cloud.ingest.subscriber import RETAINED_KINDS, STREAM_KINDS, IngestWorker
from cloud.models import DeadLetter, Station
from cloud.settings import Settings
from protocol.messages import MAX_PAYLOAD_BYTES
from waystation.mosquitto import MosquittoProcess

pytestmark = pytest.mark.integration

N = int(os.environ.get("WS_FUZZ_MESSAGES", "100000"))  # the target; ~45 s
SEED = int(os.environ.get("WS_FUZZ_SEED", "20261121"))
REGISTERED = ("st-001", "st-002", "st-003")
UNKNOWN = "st-404"  # has a broker login, is not in the registry
STATIONS = (*REGISTERED, UNKNOWN)
# Topic ids only the cloud account can publish on (ACL): not station ids at all.
BAD_SIDS = ("UPPER", "ab", "x" * 41, "bad_sid", "站点", "st-001-", "-st", "a.b")
KINDS = tuple(str(k) for k in (*STREAM_KINDS, *RETAINED_KINDS))
OVERSIZE = MAX_PAYLOAD_BYTES + 1_000  # refused by ingest, still under max_packet_size 70000
DEEP = 30_000  # nesting depth: ~60 kB of brackets, under the broker's packet limit
# The run ends when every message is accounted for, and fails when nothing moves (no ack, no
# delivery, no commit) for this long: a loaded runner is slow, not stuck.
STALL_S = 30.0
# Text no stored field may hold: C0 controls (NUL first), DEL, C1, lone surrogates (JSON
# escapes them: `\u0000`, `\ud800`), and allowed whitespace in a name.
BAD_TEXT = ("\x00", "a\x00b", "\x01", "\x1b[2J", "\x7f", "\x85", "\ud800", "x\udfff", "\t", "\n")
# Each kind's text fields (events: by type); footfall has none but its sid.
TEXT_FIELDS = {
    "access": ("kid",),
    "door": ("cause",),
    "alarm": ("detail", "alarm"),
    "state": ("reason",),
    "meta": ("agent_version",),
    "telemetry": ("sensors",),
    "cmd_result": ("cmd_id", "detail"),
    "footfall": ("sid",),
}
# Times at the ends of what can be stored, and past them; Unix times as numbers too.
EXTREME_TIMES = (
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC: OverflowError once
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T13:59:59-14:00",
    "0001-01-03T00:00:00-14:00",  # in range
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-14:00",  # after year 9999 in UTC
    "9999-12-31T10:00:00+14:00",
    "9999-12-28T00:00:00+14:00",  # in range (and far ahead: clock_ahead)
    "0000-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "2026-11-21T03:00:00+24:00",
    -62135596800000,  # year 1 in ms
    253402300800000,  # year 10000 in ms
    10**20,
    -(10**20),
    2**63,
    1e308,
)


class CountingIngestor(Ingestor):
    """The real ingestor, also counting each committed message once by its result (the
    stats count stored messages' sanity notes too, so they are not one per message)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.results: Counter[str] = Counter()
        self.total = 0

    def _count(self, item: Item) -> None:
        super()._count(item)
        self.results[item.result or "dropped"] += 1
        self.total += 1


@dataclass(frozen=True, slots=True)
class Msg:
    publisher: str  # a station id or "cloud"
    topic: str
    payload: bytes
    retain: bool
    variant: str


# --- payloads -----------------------------------------------------------------------------


class Fuzzer:
    """Builds the message list; deterministic for a seed."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.seq = dict.fromkeys(STATIONS, 0)
        self.sess = dict.fromkeys(STATIONS, 0)
        self.sent: list[tuple[str, str, bytes]] = []  # valid journal items, for replays

    def valid(self, sid: str, kind: str) -> dict[str, Any]:
        rng, now = self.rng, datetime.now(UTC)
        base: dict[str, Any] = {"v": 1, "ts": now.isoformat(), "sid": sid}
        if kind == "state":
            self.sess[sid] += rng.random() < 0.3
            status = rng.choice(("online", "online", "lost", "offline", "degraded"))
            return base | {"status": status, "sess": self.sess[sid]}
        if kind == "meta":
            return base | {"agent_version": "0.1.0", "capabilities": ["door", "camera"]}
        if kind == "telemetry":
            return base | {
                "uptime_s": rng.uniform(0, 1e6),
                "interval_s": 30.0,
                "cpu_temp_c": rng.uniform(30, 80),
                "sensors": {"fridge_c": rng.uniform(2, 8)},
                "door": rng.choice(("closed", "open", "unknown")),
            }
        if kind == "cmd_result":
            return base | {"cmd_id": f"c-{rng.randrange(10**6)}", "ok": rng.random() < 0.5}
        self.seq[sid] += 1
        if kind == "footfall":
            start = now.replace(minute=0, second=0, microsecond=0) - timedelta(
                hours=rng.randrange(48)
            )
            return base | {
                "seq": self.seq[sid],
                "interval_start": start.isoformat(),
                "seconds": 3600,
                "entries": rng.randrange(50),
                "exits": rng.randrange(50),
                "occupancy": rng.randrange(10),
            }
        event = base | {"event_id": str(uuid.uuid4()), "seq": self.seq[sid]}
        return event | rng.choice(
            (
                {"type": "access", "granted": True, "reason": "granted", "credential": "ws1"},
                {"type": "access", "granted": False, "reason": "revoked"},
                {"type": "door", "action": "door_opened", "cause": "grant"},
                {"type": "alarm", "alarm": "camera_down", "state": "raised"},
            )
        )

    def payload(self, sid: str, kind: str, variant: str) -> bytes:
        rng = self.rng
        body = self.valid(sid, kind)
        if variant == "valid":
            raw = _dumps(body)
            if kind in ("events", "footfall"):
                self.sent.append((sid, kind, raw))
            return raw
        if variant == "replay" and self.sent:
            return rng.choice(self.sent)[2]
        if variant == "truncated":
            raw = _dumps(body)
            return raw[: rng.randrange(len(raw))]
        if variant == "wrong_type":
            key = rng.choice(sorted(body))
            body[key] = rng.choice(("x", 1, -1.5, None, [], {}, True, [1, "a"], {"k": {}}))
            return _dumps(body)
        if variant == "huge":
            key = rng.choice([k for k, v in body.items() if isinstance(v, int | float)] or ["v"])
            body[key] = rng.choice((10**30, 2**63, 2**64, -(2**63) - 1, 1e308, -1e308, 10**400))
            return _dumps(body)
        if variant == "nan":
            key = rng.choice([k for k, v in body.items() if isinstance(v, int | float)] or ["v"])
            body[key] = rng.choice((math.nan, math.inf, -math.inf))
            return json.dumps(body).encode()  # NaN / Infinity tokens: not JSON, Python emits
        if variant == "deep":
            depth = rng.choice((100, 1_000, DEEP))
            nest = "[" * depth + "]" * depth
            if rng.random() < 0.5:
                return nest.encode()
            return _dumps(body)[:-1] + b', "x": ' + nest.encode() + b"}"
        if variant == "non_utf8":
            raw = _dumps(body)
            cut = rng.randrange(len(raw))
            return (
                raw[:cut] + rng.choice((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x00")) + raw[cut:]
            )
        if variant == "oversize":
            body["pad"] = "x" * (OVERSIZE + rng.randrange(3_000))
            return _dumps(body)
        if variant == "wrong_sid":
            body["sid"] = rng.choice([s for s in STATIONS if s != sid])
            return _dumps(body)
        if variant == "not_object":
            return rng.choice((b"[]", b"1", b'"s"', b"null", b"true", b"{", b" "))
        if variant == "extra_field":
            body["unexpected"] = {"a": [1, 2, 3]}
            return _dumps(body)
        if variant == "empty":
            return b""
        if variant == "bad_text":
            field = rng.choice(TEXT_FIELDS[body.get("type", kind)])
            text = rng.choice(BAD_TEXT)
            if field == "sensors":
                body[field] = {f"fridge{text}_c": 4.0}
            else:
                body[field] = rng.choice((text, f"ok {text} ok"))
            return _dumps(body)
        if variant == "bad_time":
            key = "interval_start" if kind == "footfall" and rng.random() < 0.5 else "ts"
            body[key] = rng.choice(EXTREME_TIMES)
            return _dumps(body)
        return rng.randbytes(rng.randrange(1, 512))  # "random" (and "replay" with none yet)

    def messages(self, n: int) -> list[Msg]:
        rng = self.rng
        variants, weights = zip(*VARIANTS, strict=True)
        out: list[Msg] = []
        for _ in range(n):
            variant = rng.choices(variants, weights)[0]
            kind = rng.choice(KINDS)
            retain = rng.random() < 0.2
            if variant == "foreign_topic":  # the cloud account on a topic no station has
                sid = rng.choice(BAD_SIDS)
                payload = self.payload(rng.choice(REGISTERED), kind, "valid")
                out.append(Msg("cloud", f"ws/v1/{sid}/{kind}", payload, retain, variant))
                continue
            sid = UNKNOWN if variant == "unknown_station" else rng.choice(REGISTERED)
            inner = "valid" if variant == "unknown_station" else variant
            if variant == "impersonation":  # the cloud account, payload of another station
                other = rng.choice([s for s in REGISTERED if s != sid])
                out.append(
                    Msg(
                        "cloud",
                        f"ws/v1/{sid}/{kind}",
                        self.payload(other, kind, "valid"),
                        retain,
                        variant,
                    )
                )
                continue
            out.append(
                Msg(sid, f"ws/v1/{sid}/{kind}", self.payload(sid, kind, inner), retain, variant)
            )
        return out


# (variant, weight): mostly valid traffic, every kind of damage well represented.
VARIANTS = (
    ("valid", 40),
    ("replay", 6),
    ("truncated", 6),
    ("wrong_type", 8),
    ("huge", 6),
    ("nan", 4),
    ("deep", 0.6),
    ("non_utf8", 4),
    ("oversize", 0.3),
    ("wrong_sid", 4),
    ("not_object", 3),
    ("extra_field", 3),
    ("empty", 2),
    ("bad_text", 4),
    ("bad_time", 4),
    ("random", 4),
    ("unknown_station", 4),
    ("foreign_topic", 3),
    ("impersonation", 2),
)


def _dumps(body: dict[str, Any]) -> bytes:
    return json.dumps(body, separators=(",", ":")).encode()


# --- MQTT clients -------------------------------------------------------------------------


class Publisher:
    """One account's connection; counts PUBACKs so the test knows the broker has it all."""

    def __init__(self, port: int, user: str, password: str) -> None:
        self.acked = 0
        self.refused: list[str] = []
        self.ready = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{user}-fuzz", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set(user, password)
        self.client.max_inflight_messages_set(1_000)
        self.client.max_queued_messages_set(0)
        self.client.on_connect = self._on_connect
        self.client.on_publish = self._on_publish
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.refused.append(str(reason))
        self.ready.set()

    def _on_publish(self, _c: Any, _u: Any, _mid: int, reason: Any, _p: Any) -> None:
        if reason.is_failure:  # the broker refused it (ACL): must not happen here
            self.refused.append(str(reason))
        self.acked += 1

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Control:
    """A diagnostics login, plainly subscribed to what ingest reads: what the broker delivers."""

    def __init__(self, port: int, password: str) -> None:
        self.received = 0
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="fuzz-control", protocol=mqtt.MQTTv5
        )
        self.client.username_pw_set("cloud-admin", password)
        self.client.on_connect = lambda c, *_a: c.subscribe([(f"ws/v1/+/{k}", 1) for k in KINDS])
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic != "ws/v1/_cloud/state":  # the worker's own liveness, not fuzz
            self.received += 1

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


# --- the run ------------------------------------------------------------------------------


@dataclass
class Report:
    published: int
    delivered: int
    committed: int
    absorbed: int
    results: Counter[str]
    variants: Counter[str]
    seconds: float
    rate: float
    dead_letters: int
    unaccounted_seqs: int  # bad_text / bad_time journal dead letters without station or seq


def run_fuzz(
    start_broker: Callable[[dict[str, str]], MosquittoProcess], workdir: Path, n: int
) -> Report:
    rng = random.Random(SEED)
    fuzz = Fuzzer(rng)
    msgs = fuzz.messages(n)
    passwords = {user: f"pw-{user}-{rng.randrange(10**9)}" for user in ("cloud", *STATIONS)}
    # The worker and the control have logins of their own (the broker takes the login as
    # client id, so processes sharing one would disconnect each other).
    cloud_pw = passwords["cloud"]
    broker = start_broker(passwords | {"cloud-ingest-1": cloud_pw, "cloud-admin": cloud_pw})
    url = f"sqlite:///{workdir / 'fuzz.db'}"
    engine = make_engine(url)
    init_db(engine)
    with session(engine) as s:
        for sid in REGISTERED:
            s.add(Station(id=sid, name=sid, lat=31.23, lon=121.47))
    settings = Settings(db=url, broker=f"mqtt://cloud-ingest-1:{cloud_pw}@127.0.0.1:{broker.port}")
    worker = IngestWorker(engine, settings, client_id="fuzz-ingest")
    worker.ingestor = ingestor = CountingIngestor(engine)
    worker.start()
    control = Control(broker.port, passwords["cloud"])
    publishers = {u: Publisher(broker.port, u, p) for u, p in passwords.items()}
    try:
        assert worker.subscribed.wait(10), "ingest did not subscribe"
        assert control.subscribed.wait(10)
        for p in publishers.values():
            assert p.ready.wait(10)
            assert not p.refused, p.refused
        writer = worker._writer
        assert writer is not None
        started = time.monotonic()
        for m in msgs:
            publishers[m.publisher].client.publish(m.topic, m.payload, qos=1, retain=m.retain)

        def absorbed() -> int:
            g = Counter(worker.lost_guard.stats)
            return g["lost_older_dropped"] + g["lost_held"] - g["lost_stored"]

        progress, moved = (-1, -1, -1), time.monotonic()
        while time.monotonic() - moved < STALL_S:
            assert writer.is_alive(), "the ingest writer thread died"
            done = ingestor.total + absorbed()
            acked = sum(p.acked for p in publishers.values())
            if acked == n and control.received == n and done >= n and worker.ingestor.pending == 0:
                break
            if (acked, control.received, done) != progress:
                progress, moved = (acked, control.received, done), time.monotonic()
            time.sleep(0.05)
        seconds = time.monotonic() - started
        for p in publishers.values():
            assert not p.refused, p.refused
        with engine.connect() as conn:
            dead = conn.execute(select(func.count()).select_from(DeadLetter)).scalar_one()
            blank = conn.execute(
                select(func.count()).select_from(DeadLetter).where(DeadLetter.reason == "")
            ).scalar_one()
            journal = DeadLetter.topic.like("%/events") | DeadLetter.topic.like("%/footfall")
            unaccounted = conn.execute(
                select(func.count())
                .select_from(DeadLetter)
                .where(
                    DeadLetter.reason.in_(("bad_text", "bad_time")),
                    journal,
                    DeadLetter.station_id.is_(None) | DeadLetter.seq.is_(None),
                )
            ).scalar_one()
        assert blank == 0, "dead letters without a reason"
        assert worker.fatal is None
        assert worker.dropped == 0
        assert writer.is_alive()
        return Report(
            published=n,
            delivered=control.received,
            committed=ingestor.total,
            absorbed=absorbed(),
            results=Counter(ingestor.results),
            variants=Counter(m.variant for m in msgs),
            seconds=seconds,
            rate=n / seconds,
            dead_letters=dead,
            unaccounted_seqs=unaccounted,
        )
    finally:
        for p in publishers.values():
            p.stop()
        control.stop()
        worker.stop()
        engine.dispose()


# 100,000 messages take ~40 s on an idle 2-core machine; a loaded CI runner has taken three
# times as long. The run waits on progress (`STALL_S`); this bound only stops a hung one.
@pytest.mark.timeout(600)
def test_ingest_survives_fuzz(
    secure_mosquitto: Callable[[dict[str, str]], MosquittoProcess], tmp_path: Path
) -> None:
    report = run_fuzz(secure_mosquitto, tmp_path, N)
    print(  # the figures, for `pytest -s` and the benchmark notes
        f"fuzz: {report.published} published, {report.delivered} delivered, "
        f"{report.committed} committed + {report.absorbed} absorbed in {report.seconds:.1f} s "
        f"({report.rate:.0f} msg/s); results {dict(report.results.most_common())}; "
        f"sent {dict(report.variants.most_common())}"
    )
    assert report.delivered == report.published  # QoS 1 end to end: the broker dropped none
    # every delivered message accounted for, once
    assert report.committed + report.absorbed == report.delivered, report
    assert report.results["dropped"] == 0
    assert report.results["internal"] == 0, "parse() raised: it must be total"
    stored = report.results["stored"] + report.results["duplicate"] + report.results["ignored"]
    refused = report.committed - stored
    assert refused > 0
    assert stored > 0
    assert report.dead_letters >= refused  # each refusal kept (sanity notes keep more)
    # the damage reached ingest: each kind of refusal shows up
    for reason in ("bad_topic", "sid_mismatch", "unknown_station", "too_large"):
        assert report.results[reason] > 0, reason
    for reason in ("bad_text", "bad_time"):  # refused at validation, never by the database
        assert report.results[reason] > 0, reason
    assert report.results["store_failed"] == 0
    assert report.results["duplicate"] > 0
    # refused journal items keep their station and seq, so the station's acks go on
    assert report.unaccounted_seqs == 0
