"""Third stage of ingest: after a commit, decide which `ws/v1/{sid}/ack` to publish.

The edge's journal `seq` is one sequence across events and footfall, and with shared
subscriptions several workers store items of one station, each seeing only some of them.
So `upto_seq` is read back from the database after the commit, never from the batch:
`acked_seq` advances while `acked_seq + 1` is in `received_seq`. Any interleaving of two
workers is safe: whichever reads last sees both commits, and the guarded UPDATE only ever
raises `acked_seq`.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, and_, select, update

from cloud.ingest.dialect import Guard, dialect_for
from cloud.ingest.stationstate import STATE
from cloud.ingest.writer import RECEIVED, Outcome

SCAN = 1_000  # seqs read per query while walking; a reconnect replay is usually far fewer
RAISE_ONLY = Guard("acked_seq", "<")  # another worker may have acked further meanwhile


def advance(conn: Connection, sid: str) -> tuple[int, int]:
    """Raise the station's `acked_seq` over every contiguous received seq; (before, after)."""
    acked = conn.scalar(select(STATE.c.acked_seq).where(STATE.c.station_id == sid))
    if acked is None:
        return 0, 0
    upto = acked
    while True:
        seqs = conn.scalars(
            select(RECEIVED.c.seq)
            .where(RECEIVED.c.station_id == sid, RECEIVED.c.seq > upto)
            .order_by(RECEIVED.c.seq)
            .limit(SCAN)
        ).all()
        for seq in seqs:
            if seq != upto + 1:
                break
            upto = seq
        else:
            if len(seqs) == SCAN:
                continue
        break
    if upto > acked:
        conn.execute(
            update(STATE)
            .where(STATE.c.station_id == sid, STATE.c.acked_seq < upto)
            .values(acked_seq=upto)
        )
    return acked, upto


def advance_many(conn: Connection, sids: list[str]) -> dict[str, tuple[int, int]]:
    """`advance` for many stations in two round trips instead of three per station.

    One query reads each station's `acked_seq` with the received seqs in the next SCAN above
    it; a station whose walk fills that whole window (a reconnect replaying more than SCAN
    items in one batch) finishes with `advance`.
    """
    r, s = RECEIVED.c, STATE.c
    # One statement, so `acked_seq` and the seqs above it come from one snapshot: read apart,
    # another worker's ack could land in between and hide the seqs this walk starts from.
    window = and_(r.station_id == s.station_id, r.seq > s.acked_seq, r.seq <= s.acked_seq + SCAN)
    rows = conn.execute(
        select(s.station_id, s.acked_seq, r.seq)
        .select_from(STATE.outerjoin(RECEIVED, window))
        .where(s.station_id.in_(sids))
        .order_by(s.station_id, r.seq)
    )
    acked: dict[str, int] = {}
    upto: dict[str, int] = {}
    for sid, acked_seq, seq in rows:
        acked.setdefault(sid, acked_seq)
        upto.setdefault(sid, acked_seq)
        if seq is not None and seq == upto[sid] + 1:
            upto[sid] = seq
    result = {}
    updates = []
    for sid in sids:
        if sid not in acked:
            result[sid] = (0, 0)
            continue
        before, after = acked[sid], upto[sid]
        if after == before + SCAN:
            after = advance(conn, sid)[1]
        result[sid] = (before, after)
        if after > before:
            updates.append({"station_id": sid, "acked_seq": after})
    if updates:
        dialect_for(conn).update(conn, STATE, updates, key="station_id", guard=RAISE_ONLY)
    return result


def compute_acks(engine: Engine, outcome: Outcome) -> list[tuple[str, int]]:
    """The acks to publish as (sid, upto_seq): for every station whose ack advanced, and for
    stations that re-sent items (historical or duplicate) so a re-sending edge hears back
    even when its earlier ack was lost."""
    sids = sorted(outcome.journal | outcome.replayed)
    if not sids:
        return []
    acks = []
    with engine.begin() as conn:
        for sid, (before, after) in advance_many(conn, sids).items():
            if after > before or (sid in outcome.replayed and after > 0):
                acks.append((sid, after))
    return acks
