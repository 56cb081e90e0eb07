"""First stage of ingest: one MQTT message → an `Item`, accepted or refused with a reason.

Pure and total: whatever arrives (wrong topic, broken JSON, a payload claiming another
station), the result is an Item; nothing here raises on bad input or touches the database.
Even a bug (an exception no refusal foresaw) becomes an `internal` dead letter that still
names its station and `seq`, so that station's acks go on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime

from cloud.ingest import sanity
from protocol import messages, topics
from protocol.messages import PayloadError, printable
from protocol.topics import EDGE_TO_CLOUD, Kind, TopicError

log = logging.getLogger(__name__)

# Journal kinds carry the edge's per-station `seq`; acks cover them.
JOURNAL_KINDS = frozenset({Kind.EVENTS, Kind.FOOTFALL})
# Dead letters keep the payload byte for byte up to this size (bytes). The contract's largest
# payload is 64 KiB; the cap only bounds what a misbehaving client can make us store.
MAX_KEPT_BYTES = 1024 * 1024
MAX_SEQ = 2**63 - 1  # BIGINT: a larger seq cannot be stored, so it cannot count as received


def _usable_seq(seq: object) -> int | None:
    if isinstance(seq, int) and not isinstance(seq, bool) and 1 <= seq <= MAX_SEQ:
        return seq
    return None


@dataclass(slots=True)
class Item:
    """One received message on its way to the database.

    `reason` set means refused (it becomes a dead letter); `result` is filled in by the store:
    `stored`, `duplicate`, `ignored`, or the dead-letter reason.
    """

    topic: str
    raw: bytes
    retained: bool
    received_at: datetime  # cloud clock, aware UTC
    sid: str | None = None  # from the topic: the authenticated publisher
    kind: Kind | None = None
    payload: messages.Payload | None = None
    reason: str | None = None
    detail: str = ""
    seq: int | None = None  # journal seq, also recovered from refused payloads when possible
    result: str | None = None
    # (reason, detail) of values removed or clamped before storing (cloud.ingest.sanity);
    # each also keeps the original as a dead letter.
    notes: list[tuple[str, str]] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        return self.reason is not None

    @property
    def replay(self) -> bool:
        return bool(getattr(self.payload, "historical", False))

    def refuse(self, reason: str, detail: str) -> Item:
        self.reason = reason
        self.detail = printable(detail[:1000])  # stored: no NUL or lone surrogate
        self.payload = None
        return self


def _topic_sid(topic: str) -> str | None:
    """The station a malformed topic names, if any (so ops can find who sent it)."""
    parts = topic.split("/")
    if len(parts) >= 3 and f"{parts[0]}/{parts[1]}" == topics.PREFIX:
        try:
            return topics.check_sid(parts[2])
        except TopicError:
            return None
    return None


def _seq_hint(raw: bytes) -> int | None:
    """The top-level `seq` of a refused journal payload, if it is JSON with a usable one.

    A refused item whose seq is known still counts as received, or it would hold back the
    station's acks, and so its journal, forever. Best effort, never raises; a payload that is
    not JSON gives none (a number read out of broken JSON could be another item's, and
    counting it would ack, and so delete from the journal, an item never stored).
    """
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return None
    return _usable_seq(data.get("seq")) if isinstance(data, dict) else None


def parse(topic: str, raw: bytes, *, retained: bool, received_at: datetime) -> Item:
    """Classify one message; never raises."""
    item = Item(topic, bytes(raw), retained, received_at)
    try:
        return _classify(item)
    except Exception as exc:  # a bug, not bad input: keep the message, its station, its seq
        log.exception("ingest: unexpected error parsing a message on %r", printable(topic))
        item.refuse("internal", f"{type(exc).__name__}: {exc}")
        try:
            item.sid = item.sid or _topic_sid(topic)
            if item.kind in JOURNAL_KINDS and item.seq is None:
                item.seq = _seq_hint(item.raw) if len(item.raw) <= MAX_KEPT_BYTES else None
        except Exception:  # best effort: the dead letter matters more than these
            log.exception("ingest: no station or seq for a message on %r", printable(topic))
        return item


def _classify(item: Item) -> Item:
    topic, received_at = item.topic, item.received_at
    try:
        parsed = topics.parse(topic)
    except TopicError as exc:
        item.sid = _topic_sid(topic)
        return item.refuse("bad_topic", str(exc))
    item.sid, item.kind = parsed.sid, parsed.kind
    if parsed.kind not in EDGE_TO_CLOUD:
        return item.refuse("bad_topic", f"{parsed.kind} flows cloud→edge, not edge→cloud")
    try:
        payload = messages.decode(parsed.kind, item.raw)
    except PayloadError as exc:
        if parsed.kind in JOURNAL_KINDS and len(item.raw) <= MAX_KEPT_BYTES:
            item.seq = _seq_hint(item.raw)
        return item.refuse(exc.reason, exc.detail)
    if parsed.kind in JOURNAL_KINDS:
        item.seq = _usable_seq(getattr(payload, "seq", None))
    payload_sid = getattr(payload, "sid", None)
    if payload_sid != parsed.sid:
        return item.refuse(
            "sid_mismatch", f"payload sid {payload_sid!r} on topic of {parsed.sid!r}"
        )
    try:
        item.payload, item.notes = sanity.check(payload, received_at)
    except ValueError as exc:
        return item.refuse("clock_ahead", str(exc))
    return item
