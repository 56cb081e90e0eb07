"""May this code open the door now? The one place that answers it.

    parse once → credential checks at the clock rule's time → door mode → replay → Verdict

Each step is a rule written once:

* **Parse** the scanned text once (`protocol.credential.parse_or_deny`); garbage is a
  `malformed` decision, never an exception.
* **Clock rule** (docs/installer.md "Clock", docs/credential.md "The station's clock"):
  while the station's clock is trusted, codes are judged at the wall clock. While it is not (a
  Pi rebooted with no network), the code's own claimed time is believed only inside
  `[lower bound, lower bound + max_ahead]` — the lower bound being the high-water mark plus
  uptime — so a screenshot from before the outage stays stale, and a phone can move the judging
  instant only forward, which can only hurt its own certificate's expiry check.
* **Credential checks** (`protocol.credential.check`): issuer, signatures, validity,
  revocation, the exact presentation window, required flags.
* **Door mode** on the station's own best time, never the phone's: the caller passes the mode
  in force (`mode_now()`, the same rule the lock hold follows). While `closed`, only staff.
* **Replay** last, so a refused code is not consumed: `(kind, serial, t)` is remembered until
  the station's own clocks say the code can no longer be fresh (`edge.access.replay`).
* **Action**: a grant pulses the relay, except in `free` mode, where the lock is already held
  released.

Thread model: the door loop calls `decide`; the link thread swaps lists in `AccessVerifier`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum

from edge.access.replay import ReplayCache
from edge.access.schedule import DoorMode, DoorSchedule
from edge.access.timeguard import TimeGuard, TimeView
from edge.access.verify import AccessVerifier
from protocol.credential import (
    Decision,
    Flag,
    Presentation,
    Reason,
    Token,
    VerifyPolicy,
    check,
    claimed_time,
    fresh_until,
    parse_or_deny,
    replay_key,
)

# The detail of a valid code refused only because the station is closed (journaled as is).
CLOSED_DETAIL = "station closed by schedule"


class DoorAction(StrEnum):
    """What the door does about a decision."""

    PULSE = "pulse"  # granted: release the lock for the configured pulse
    ALREADY_OPEN = "already_open"  # granted in free mode: the lock is held released already
    NONE = "none"  # denied: the lock stays as it is


@dataclass(frozen=True, slots=True)
class Verdict:
    """One decision and what the door does about it."""

    decision: Decision
    action: DoorAction
    synced: bool  # False: judged under the unsynchronised-clock rule
    closed: bool = False  # denied only because the station is closed by schedule


def judging_time(view: TimeView, claimed: int | None, max_ahead_s: float) -> datetime:
    """The instant a code claiming unix second `claimed` is judged at (the clock rule)."""
    if view.synced or view.lower is None:  # trusted, or never synchronised here: the wall
        return view.wall
    low = view.lower.timestamp()
    if claimed is None:
        return view.lower
    return datetime.fromtimestamp(min(max(low, float(claimed)), low + max_ahead_s), UTC)


class AccessDecider:
    """Holds the station's decision state (replay cache) and the rules' inputs."""

    def __init__(
        self,
        *,
        verifier: AccessVerifier,
        time_guard: TimeGuard,
        schedule: DoorSchedule,
        max_entries: int,
    ) -> None:
        self.verifier = verifier  # the signed lists and the verify policy
        self.time_guard = time_guard
        self.schedule = schedule
        self.replay = ReplayCache(
            monotonic=time_guard.clock.monotonic,
            floor=time_guard.floor,
            max_entries=max_entries,
        )

    @property
    def policy(self) -> VerifyPolicy:
        return self.verifier.policy

    def mode_now(self) -> DoorMode:
        """The door mode at the station's own best time (never a phone's claimed time)."""
        return self.schedule.mode_at(self.time_guard.best_now())

    def decide(self, text: str, mode: DoorMode) -> Verdict:
        """Decide on one scanned text with the door in `mode`. Never raises for bad input."""
        view = self.time_guard.view()
        item = parse_or_deny(text)
        if isinstance(item, Decision):
            return Verdict(item, DoorAction.NONE, view.synced)
        decision = self._decision(item, view, mode)
        if not decision.granted:
            closed = decision.reason is Reason.NOT_PERMITTED and decision.detail == CLOSED_DETAIL
            return Verdict(decision, DoorAction.NONE, view.synced, closed=closed)
        action = DoorAction.ALREADY_OPEN if mode is DoorMode.FREE else DoorAction.PULSE
        return Verdict(decision, action, view.synced)

    def _decision(self, item: Presentation | Token, view: TimeView, mode: DoorMode) -> Decision:
        policy = self.verifier.policy
        at = judging_time(view, claimed_time(item), self.time_guard.max_ahead_s)
        snap = self.verifier.snapshot
        decision = check(item, issuers=snap.issuers, revoked=snap.revoked, now=at, policy=policy)
        if not decision.granted:
            return decision
        if mode is DoorMode.CLOSED and not decision.flags & Flag.STAFF:
            return replace(decision, reason=Reason.NOT_PERMITTED, detail=CLOSED_DETAIL)
        if not self.replay.admit(replay_key(item), fresh_until(item, policy)):
            return replace(decision, reason=Reason.REPLAYED, detail="already used here")
        return decision
