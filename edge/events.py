"""What the station records: access decisions, door events and alarms.

Each becomes one journal row (UUIDv7 `event_id`, per-station `seq`) before anything is sent,
then the link is woken. A journal that cannot be written (disk full) is counted and logged:
the door has already acted, and the record must not cost the door loop its next frame.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime

import uuid6

from edge.journal import Journal
from protocol.credential import Decision
from protocol.messages import AccessEvent, AlarmEvent, DoorEvent, Payload, printable
from protocol.topics import Kind

log = logging.getLogger(__name__)


class EventLog:
    """Journals the station's events; `now` is the agent's best wall clock (see timeguard)."""

    def __init__(
        self,
        sid: str,
        journal: Journal,
        *,
        now: Callable[[], datetime],
        stats: Counter[str],
        wake: Callable[[], None],
    ) -> None:
        self.sid = sid
        self.journal = journal
        self.now = now
        self.stats = stats
        self.wake = wake  # the link's kick(), or nothing while offline

    def access(self, decision: Decision, ts: datetime) -> None:
        """One door decision; carries the certificate serial, never a name or number."""
        self._append(
            lambda seq: AccessEvent(
                sid=self.sid,
                ts=ts,
                event_id=uuid6.uuid7(),
                seq=seq,
                granted=decision.granted,
                reason=decision.reason,
                credential=decision.credential,
                kid=decision.kid,
                serial=decision.serial,
            )
        )

    def door(self, action: str, cause: str | None, ts: datetime | None = None) -> None:
        when = ts or self.now()
        self.stats[f"door.{action}"] += 1
        self._append(
            lambda seq: DoorEvent(
                sid=self.sid,
                ts=when,
                event_id=uuid6.uuid7(),
                seq=seq,
                action=action,  # type: ignore[arg-type]  # checked by the model
                cause=cause,
            )
        )

    def alarm(self, name: str, state: str, detail: str | None = None) -> None:
        """An alarm transition ("raised" / "cleared"); wakes the link at once."""
        log.warning("%s: alarm %s %s%s", self.sid, name, state, f" ({detail})" if detail else "")
        # exception text, a path…: escaped and cut to what `AlarmEvent.detail` holds, or the
        # payload would not build and the alarm would be lost
        detail = printable(detail)[:200] if detail is not None else None
        now = self.now()
        self._append(
            lambda seq: AlarmEvent(
                sid=self.sid,
                ts=now,
                event_id=uuid6.uuid7(),
                seq=seq,
                alarm=name,
                state=state,  # type: ignore[arg-type]  # checked by the model
                detail=detail,
            )
        )
        self.wake()

    def _append(self, make: Callable[[int], Payload], kind: Kind = Kind.EVENTS) -> int | None:
        try:
            seq, _ = self.journal.append(kind.value, make)
        except Exception:  # disk full, closed journal: the door already acted; count it
            self.stats["journal_errors"] += 1
            log.exception("%s: could not journal a %s item", self.sid, kind.value)
            return None
        return seq
