"""Third stage of ingest: after a commit, decide which `ws/v1/{sid}/ack` to publish; and the
seq-gap rule, the one way an ack moves past a seq the cloud never received.

The edge's journal `seq` is one sequence across events and footfall, and with shared
subscriptions several workers store items of one station, each seeing only some of them.
So `upto_seq` is read back from the database after the commit, never from the batch:
`acked_seq` advances while `acked_seq + 1` is in `received_seq`. Any interleaving of two
workers is safe: whichever reads last sees both commits, and the guarded UPDATE only ever
raises `acked_seq`.

An ack lists the refused seqs it is the first to cover (`received_seq.kind = dead_letter`,
read in the same walk, so the good path pays one more column and no query), so the station
keeps those rows instead of believing them stored.

The seq-gap rule (`resolve_gaps`): a gap is a seq not received while a higher one is. A
connected station resends its unacked window within its ack timeout, so a gap still open
`seq_gap_wait_s` after the first item above it arrived (cloud clock) is one the station
cannot fill: the ack moves past it, each skipped range is kept as a `seq_gap` dead letter,
`station_state.skipped`/`gap_at` count it (the `seq_gap` alarm rule reads them), and the ack
lists the skipped seqs with reason `seq_gap`. Commits only note *that* a station may wait on a
gap (`gap_since`, set once, a hint); the ingest worker's writer thread runs the rule on a
timer, so a gap after a station's last message resolves too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, and_, func, select, text, update

from cloud.ingest.stationstate import STATE
from cloud.ingest.writer import DEAD, RECEIVED, Outcome
from cloud.sql.dialect import Guard, dialect_for
from protocol import topics
from protocol.messages import MAX_ACK_REFUSED, AckPayload, RefusedSeq

log = logging.getLogger(__name__)

SCAN = 1_000  # seqs read per query while walking; a reconnect replay is usually far fewer
RAISE_ONLY = Guard("acked_seq", "<")  # another worker may have acked further meanwhile
REFUSED_KIND = "dead_letter"  # received_seq.kind of a seq kept as a dead letter
GAP_REASON = "seq_gap"  # dead letter and ack reason of a seq acked past as a gap
GAP_LOCK_KEY = 0x57A7_0002  # pg advisory lock: one gap sweep at a time across workers


@dataclass(slots=True)
class Walk:
    """One station's ack walk: from `before` over contiguous seqs to `after`; the refused
    seqs it passed (the first MAX_ACK_REFUSED, and how many in all)."""

    before: int
    after: int
    refused: list[int] = field(default_factory=list)
    refused_n: int = 0
    gap_since: datetime | None = None

    def step(self, seq: int, kind: str) -> bool:
        """Take `seq` if it is the next one; False at a gap."""
        if seq != self.after + 1:
            return False
        self.after = seq
        if kind == REFUSED_KIND:
            self.refused_n += 1
            if len(self.refused) < MAX_ACK_REFUSED:
                self.refused.append(seq)
        return True


@dataclass(frozen=True, slots=True)
class Ack:
    """An ack to publish: `refused` are (seq, reason), at most MAX_ACK_REFUSED, `more` the
    refused seqs covered beyond them."""

    sid: str
    upto_seq: int
    refused: tuple[tuple[int, str], ...] = ()
    more: int = 0

    def payload(self) -> AckPayload:
        if not self.refused and not self.more:
            return AckPayload(upto_seq=self.upto_seq)  # byte for byte the ack of old
        return AckPayload(
            upto_seq=self.upto_seq,
            refused=[RefusedSeq(seq=s, reason=r) for s, r in self.refused] or None,
            refused_more=self.more or None,
        )


def _walk_on(conn: Connection, sid: str, walk: Walk) -> None:
    """Continue `walk` over received seqs, SCAN at a time, until a gap or the end."""
    while True:
        rows = conn.execute(
            select(RECEIVED.c.seq, RECEIVED.c.kind)
            .where(RECEIVED.c.station_id == sid, RECEIVED.c.seq > walk.after)
            .order_by(RECEIVED.c.seq)
            .limit(SCAN)
        ).all()
        for seq, kind in rows:
            if not walk.step(seq, kind):
                return
        if len(rows) < SCAN:
            return


def advance_many(conn: Connection, sids: list[str]) -> dict[str, Walk]:
    """Raise each station's `acked_seq` over its contiguous received seqs, in two round trips
    instead of three per station.

    One query reads each station's `acked_seq` with the received seqs in the next SCAN above
    it; a station whose walk fills that whole window (a reconnect replaying more than SCAN
    items in one batch) walks on SCAN at a time.
    """
    r, s = RECEIVED.c, STATE.c
    # One statement, so `acked_seq` and the seqs above it come from one snapshot: read apart,
    # another worker's ack could land in between and hide the seqs this walk starts from.
    window = and_(r.station_id == s.station_id, r.seq > s.acked_seq, r.seq <= s.acked_seq + SCAN)
    rows = conn.execute(
        select(s.station_id, s.acked_seq, s.gap_since, r.seq, r.kind)
        .select_from(STATE.outerjoin(RECEIVED, window))
        .where(s.station_id.in_(sids))
        .order_by(s.station_id, r.seq)
    )
    walks: dict[str, Walk] = {}
    for sid, acked_seq, gap_since, seq, kind in rows:
        walk = walks.get(sid)
        if walk is None:
            walk = walks[sid] = Walk(acked_seq, acked_seq, gap_since=gap_since)
        if seq is not None:
            walk.step(seq, kind)
    updates = []
    for sid, walk in walks.items():
        if walk.after == walk.before + SCAN:
            _walk_on(conn, sid, walk)
        if walk.after > walk.before:
            updates.append({"station_id": sid, "acked_seq": walk.after})
    if updates:
        updates.sort(key=lambda u: u["station_id"])
        dialect_for(conn).update(conn, STATE, updates, key="station_id", guard=RAISE_ONLY)
    return walks


def _reasons(conn: Connection, sid: str, seqs: list[int]) -> dict[int, str]:
    """The dead-letter reason of each refused seq (a purged one reads `refused`)."""
    found = conn.execute(
        select(DEAD.c.seq, DEAD.c.reason)
        .where(DEAD.c.station_id == sid, DEAD.c.seq.in_(seqs))
        .order_by(DEAD.c.id)
    )
    reasons: dict[int, str] = {}
    for seq, reason in found:
        reasons.setdefault(seq, reason)
    return reasons


def _ack(conn: Connection, sid: str, walk: Walk, gaps: Sequence[tuple[int, int]] = ()) -> Ack:
    """The ack of a walk, its refused seqs named with their reasons, skipped ranges too."""
    reasons = _reasons(conn, sid, walk.refused) if walk.refused else {}
    listed = [(seq, reasons.get(seq, "refused")) for seq in walk.refused]
    total = walk.refused_n
    for lo, hi in gaps:
        total += hi - lo + 1
        room = MAX_ACK_REFUSED - len(listed)
        listed += [(seq, GAP_REASON) for seq in range(lo, min(hi, lo + room - 1) + 1)]
    listed.sort()
    return Ack(sid, walk.after, tuple(listed), total - len(listed))


def compute_acks(engine: Engine, outcome: Outcome, now: datetime) -> list[Ack]:
    """The acks to publish: for every station whose ack advanced, and for stations that
    re-sent items (historical or duplicate) so a re-sending edge hears back even when its
    earlier ack was lost. A station with a seq in this batch above its new ack may be waiting
    on a gap: its `gap_since` is set to `now` unless already set (`resolve_gaps` judges it)."""
    sids = sorted(outcome.journal | outcome.replayed)
    if not sids:
        return []
    acks = []
    with engine.begin() as conn:
        walks = advance_many(conn, sids)
        waiting = []
        for sid in sids:
            walk = walks.get(sid)
            if walk is None:
                continue
            if walk.after > walk.before:
                acks.append(_ack(conn, sid, walk))
            elif sid in outcome.replayed and walk.after > 0:
                acks.append(Ack(sid, walk.after))
            if walk.gap_since is None and outcome.top.get(sid, 0) > walk.after:
                waiting.append(sid)
        if waiting:
            conn.execute(
                update(STATE)
                .where(STATE.c.station_id.in_(waiting), STATE.c.gap_since.is_(None))
                .values(gap_since=now)
            )
    return acks


# --- the seq-gap rule ------------------------------------------------------------------------


def resolve_gaps(engine: Engine, now: datetime, wait_s: float) -> list[Ack]:
    """Apply the seq-gap rule to every station whose gap hint is `wait_s` old; the acks to
    publish. One sweep at a time (PostgreSQL: an advisory lock; another worker's sweep
    running means this one has nothing to do)."""
    cutoff = now - timedelta(seconds=wait_s)
    acks = []
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Per schema, as the monitor's lock (see `cloud.alarms.monitor._try_lock`).
            lock = text("SELECT pg_try_advisory_xact_lock(:k, hashtext(current_schema()))")
            if not conn.execute(lock, {"k": GAP_LOCK_KEY}).scalar():
                return []
        due = conn.scalars(
            select(STATE.c.station_id)
            .where(STATE.c.gap_since <= cutoff)
            .order_by(STATE.c.station_id)
        ).all()
        for sid in due:
            ack = _resolve(conn, sid, now, cutoff, wait_s)
            if ack is not None:
                acks.append(ack)
    return acks


def _first_above(conn: Connection, sid: str, seq: int) -> tuple[int, datetime] | None:
    """The lowest received seq above `seq`, and when the earliest of the SCAN received seqs
    above `seq` arrived: since then the cloud has known of a gap right above `seq`."""
    above = (
        select(RECEIVED.c.seq, RECEIVED.c.received_at)
        .where(RECEIVED.c.station_id == sid, RECEIVED.c.seq > seq)
        .order_by(RECEIVED.c.seq)
        .limit(SCAN)
        .subquery()
    )
    first, seen = conn.execute(select(func.min(above.c.seq), func.min(above.c.received_at))).one()
    return None if first is None else (first, seen)


def _resolve(
    conn: Connection, sid: str, now: datetime, cutoff: datetime, wait_s: float
) -> Ack | None:
    """Walk one station's seqs, acking past every gap that has waited long enough; record the
    skipped ranges, set or clear its gap hint. None when its ack did not move (another
    worker moved it meanwhile, or its gap is younger than the wait)."""
    acked = conn.scalar(select(STATE.c.acked_seq).where(STATE.c.station_id == sid))
    if acked is None:
        return None
    walk = Walk(acked, acked)
    _walk_on(conn, sid, walk)  # an ack that lagged (its computation failed) catches up first
    gaps: list[tuple[int, int]] = []
    hint: datetime | None = None
    while (above := _first_above(conn, sid, walk.after)) is not None:
        first, seen = above
        if seen > cutoff:
            hint = seen  # judged again once this gap is as old as the wait
            break
        gaps.append((walk.after + 1, first - 1))
        walk.after = first - 1
        _walk_on(conn, sid, walk)
    values: dict[str, object] = {"gap_since": hint}
    skipped = sum(hi - lo + 1 for lo, hi in gaps)
    if walk.after > acked:
        values["acked_seq"] = walk.after
    if skipped:
        values |= {"skipped": STATE.c.skipped + skipped, "gap_at": now}
    # Compare-and-set on the ack read above: a worker that acked meanwhile wins, and this
    # station is judged again by the next sweep.
    moved = conn.execute(
        update(STATE).where(STATE.c.station_id == sid, STATE.c.acked_seq == acked).values(values)
    ).rowcount
    if not moved:
        return None
    for lo, hi in gaps:
        log.warning(
            "ingest: station %s never sent seqs %d-%d (%d) within %.0f s; acked past them",
            sid,
            lo,
            hi,
            hi - lo + 1,
            wait_s,
        )
        conn.execute(
            DEAD.insert().values(
                received_at=now,
                topic=f"{topics.PREFIX}/{sid}",
                payload=b"",
                reason=GAP_REASON,
                detail=f"seqs {lo}-{hi} ({hi - lo + 1}) never arrived within {wait_s:.0f} s "
                "of a later one; acked past",
                station_id=sid,
                seq=lo,
            )
        )
    return _ack(conn, sid, walk, gaps) if walk.after > acked else None
