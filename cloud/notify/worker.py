"""The delivery worker: claims due deliveries, sends them on a bounded thread pool, records
every try, and retries with exponential backoff and jitter.

Why a hanging receiver cannot hold the others: at most `per_channel` deliveries of one
channel are in flight in a process (the claim skips a channel at its limit), each try is
bounded by the channel's timeout, and the pool has more threads than one channel may use.

Claims are leases, not transactions held over HTTP: a claim moves a row to `sending` with
`lease_until` (timeout + margin) in a short transaction (`FOR UPDATE SKIP LOCKED` on
PostgreSQL; the guarded UPDATE alone on SQLite), so two processes never send one delivery at
once, and a process that dies mid-send leaves a lease that expires and is claimed again
(at least once: a receiver de-duplicates on the `X-Waystation-Event` id if it must).
"""

from __future__ import annotations

import logging
import random
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, insert, or_, select, update

from cloud.clock import Clock, utcnow
from cloud.notify import channels, formats
from cloud.notify.models import (
    ATTEMPT,
    CHANNEL,
    DELIVERY,
    DROPPED,
    EVENT,
    FAILED,
    PENDING,
    SENDING,
    SENT,
)
from cloud.notify.routing import Quiet, backoff_s, quiet_until

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WorkerPolicy:
    threads: int = 8  # deliveries in flight per process
    per_channel: int = 1  # in flight per channel: one hanging receiver holds one thread
    max_attempts: int = 8  # then `failed`
    base_s: float = 2.0  # first retry after 1–2 s
    cap_s: float = 600.0  # retries at most every 5–10 minutes
    lease_margin_s: float = 30.0  # a lease outlives the channel's timeout by this much


class DeliveryWorker:
    def __init__(
        self,
        engine: Engine,
        *,
        smtp: channels.Smtp | None = None,
        policy: WorkerPolicy | None = None,
        clock: Clock = utcnow,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.smtp = smtp or channels.Smtp()
        self.policy = policy or WorkerPolicy()
        self.clock = clock
        self.rng = rng or random.Random()
        self.pool = ThreadPoolExecutor(self.policy.threads, thread_name_prefix="notify")
        self.inflight: dict[int, int] = {}  # channel id → deliveries being sent
        self.lock = threading.Lock()
        self.freed = threading.Event()  # a send finished: there may be room to claim more

    def busy(self) -> int:
        with self.lock:
            return sum(self.inflight.values())

    def dispatch(self, *, only_event: int | None = None) -> int:
        """Claim what is due and there is room for, and start sending it; how many.
        `only_event`: just the deliveries of that event (the CLI's test)."""
        room = self.policy.threads - self.busy()
        if room <= 0:
            return 0
        claimed = self._claim(room, self.clock(), only_event)
        for delivery_id, channel_id in claimed:
            self.pool.submit(self._deliver, delivery_id, channel_id)
        return len(claimed)

    def _claim(self, room: int, now: datetime, only_event: int | None) -> list[tuple[int, int]]:
        with self.lock:
            full = {c for c, n in self.inflight.items() if n >= self.policy.per_channel}
        due = or_(
            and_(DELIVERY.c.status == PENDING, DELIVERY.c.next_at <= now),
            and_(DELIVERY.c.status == SENDING, DELIVERY.c.lease_until < now),
        )
        query = select(DELIVERY.c.id, DELIVERY.c.channel_id, DELIVERY.c.status).where(due)
        if full:
            query = query.where(DELIVERY.c.channel_id.not_in(sorted(full)))
        if only_event is not None:
            query = query.where(DELIVERY.c.event_id == only_event)
        query = query.order_by(DELIVERY.c.next_at, DELIVERY.c.id).limit(room * 4)
        out: list[tuple[int, int]] = []
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            rows = conn.execute(query).all()
            timeouts = dict(
                conn.execute(
                    select(CHANNEL.c.id, CHANNEL.c.timeout_s).where(
                        CHANNEL.c.id.in_({r.channel_id for r in rows})
                    )
                ).all()
            )
            taken: dict[int, int] = {}
            for row in rows:
                if len(out) >= room:
                    break
                with self.lock:
                    have = self.inflight.get(row.channel_id, 0) + taken.get(row.channel_id, 0)
                if have >= self.policy.per_channel:
                    continue
                lease = now + timedelta(
                    seconds=float(timeouts.get(row.channel_id, 10.0)) + self.policy.lease_margin_s
                )
                got = conn.execute(
                    update(DELIVERY)
                    .where(DELIVERY.c.id == row.id, due)
                    .values(status=SENDING, lease_until=lease, attempts=DELIVERY.c.attempts + 1)
                ).rowcount
                if got:
                    taken[row.channel_id] = taken.get(row.channel_id, 0) + 1
                    out.append((row.id, row.channel_id))
        with self.lock:
            for _, channel_id in out:
                self.inflight[channel_id] = self.inflight.get(channel_id, 0) + 1
        return out

    def _deliver(self, delivery_id: int, channel_id: int) -> None:
        try:
            self._send(delivery_id)
        except Exception:
            log.exception("notify: delivery %s failed unexpectedly", delivery_id)
        finally:
            with self.lock:
                self.inflight[channel_id] -= 1
                if not self.inflight[channel_id]:
                    del self.inflight[channel_id]
            self.freed.set()

    def _send(self, delivery_id: int) -> None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(
                    DELIVERY.c.attempts,
                    EVENT.c.id.label("event_id"),
                    EVENT.c.kind.label("event_kind"),
                    EVENT.c.severity,
                    EVENT.c.facts,
                    CHANNEL,
                )
                .join(EVENT, EVENT.c.id == DELIVERY.c.event_id)
                .outerjoin(CHANNEL, CHANNEL.c.id == DELIVERY.c.channel_id)
                .where(DELIVERY.c.id == delivery_id)
            ).one()
        now = self.clock()
        if row.id is None or not row.enabled:
            self._finish(delivery_id, now, {"status": DROPPED, "last_error": "channel removed"})
            return
        channel = channels.Channel(
            row.id, row.name, row.kind, row.target, row.secret, row.timeout_s
        )
        msg = formats.render(row.event_kind, row.facts)
        outcome = channels.send(channel, row.event_id, msg, now, self.smtp)
        done = self.clock()
        attempt = {
            "delivery_id": delivery_id,
            "at": now,
            "ok": outcome.ok,
            "status": outcome.status,
            "error": outcome.error,
            "ms": outcome.ms,
        }
        values: dict[str, Any] = {"last_status": outcome.status, "last_error": outcome.error}
        if outcome.ok:
            values |= {"status": SENT, "sent_at": done}
        elif row.attempts >= self.policy.max_attempts:
            values |= {"status": FAILED}
            log.warning(
                "notify: giving up on delivery %s to %s: %s", delivery_id, row.name, outcome.error
            )
        else:
            wait = backoff_s(row.attempts, self.policy.base_s, self.policy.cap_s, self.rng)
            due = done + timedelta(seconds=wait)
            quiet = Quiet(row.tz, row.quiet_start, row.quiet_end, row.quiet_bypass_critical)
            due = quiet_until(quiet, due, row.severity) or due
            values |= {"status": PENDING, "next_at": due}
        self._finish(delivery_id, done, values, attempt)

    def _finish(
        self,
        delivery_id: int,
        now: datetime,
        values: dict[str, Any],
        attempt: dict[str, Any] | None = None,
    ) -> None:
        """The try's log row and the delivery's new state, in one transaction."""
        with self.engine.begin() as conn:
            if attempt is not None:
                conn.execute(insert(ATTEMPT).values(attempt))
            conn.execute(
                update(DELIVERY)
                .where(DELIVERY.c.id == delivery_id, DELIVERY.c.status == SENDING)
                .values(lease_until=None, **values)
            )

    def close(self, wait: bool = True) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=True)


def purge_log(engine: Engine, cutoff: datetime, batch: int = 5_000) -> int:
    """Delete events decided before `cutoff` whose deliveries are all finished, with their
    deliveries and attempts (the delivery log's retention, run by `cloud maintain`); events
    deleted. Safe for idempotency: the poller never re-decides an alarm change older than
    its `max_age_s`, which is shorter than any retention."""
    total = 0
    unfinished = select(DELIVERY.c.event_id).where(DELIVERY.c.status.in_((PENDING, SENDING)))
    while True:
        with engine.begin() as conn:
            old = select(EVENT.c.id).where(EVENT.c.created_at < cutoff)
            ids = list(
                conn.execute(old.where(EVENT.c.id.not_in(unfinished)).limit(batch)).scalars()
            )
            if ids:
                owed = select(DELIVERY.c.id).where(DELIVERY.c.event_id.in_(ids))
                conn.execute(delete(ATTEMPT).where(ATTEMPT.c.delivery_id.in_(owed)))
                conn.execute(delete(DELIVERY).where(DELIVERY.c.event_id.in_(ids)))
                conn.execute(delete(EVENT).where(EVENT.c.id.in_(ids)))
        total += len(ids)
        if len(ids) < batch:
            return total
