"""Third stage of ingest: after a commit, decide which `ws/v1/{sid}/ack` to publish.

The edge's journal `seq` is one sequence across events and footfall, and with shared
subscriptions several workers store items of one station, each seeing only some of them.
So `upto_seq` is read back from the database after the commit, never from the batch:
`acked_seq` advances while `acked_seq + 1` is in `received_seq`. Any interleaving of two
workers is safe: whichever reads last sees both commits, and the guarded UPDATE only ever
raises `acked_seq`.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, select, update

from cloud.ingest.store import RECEIVED, STATE, Outcome

SCAN = 1_000  # seqs read per query while walking; a reconnect replay is usually far fewer


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


def compute_acks(engine: Engine, outcome: Outcome) -> list[tuple[str, int]]:
    """The acks to publish as (sid, upto_seq): for every station whose ack advanced, and for
    stations that re-sent items (historical or duplicate) so a re-sending edge hears back
    even when its earlier ack was lost."""
    acks = []
    with engine.begin() as conn:
        for sid in sorted(outcome.journal | outcome.replayed):
            before, after = advance(conn, sid)
            if after > before or (sid in outcome.replayed and after > 0):
                acks.append((sid, after))
    return acks
