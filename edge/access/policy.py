"""The station's rules on top of a verified credential: door mode, and the clock rule's time.

`verify` answers "is this a valid member code?"; this module answers "may it open this door
now?". A valid code while the station is `closed` becomes `not_permitted` unless the
certificate carries the STAFF flag (DESIGN.md: staff may enter while the station is closed).
"""

from __future__ import annotations

from dataclasses import replace

from edge.access.schedule import DoorMode
from protocol.credential import Decision, Flag, MalformedError, Reason, parse_text


def presented_at(text: str) -> int | None:
    """The unix time a code claims it was shown at (WS1 `t`, WS2 window start), or None."""
    try:
        item = parse_text(text)
    except (MalformedError, ValueError, TypeError):
        return None
    except Exception:  # a parser bug must not reach the door loop; verify() reports it
        return None
    t = getattr(item, "t", None)
    if isinstance(t, int):
        return t
    start = getattr(item, "window_start", None)
    return start * 60 if isinstance(start, int) else None


def apply_mode(decision: Decision, mode: DoorMode) -> Decision:
    """Turn a grant into `not_permitted` while closed (staff excepted); denials pass through."""
    if not decision.granted or mode is not DoorMode.CLOSED or decision.flags & Flag.STAFF:
        return decision
    return replace(decision, reason=Reason.NOT_PERMITTED, detail="station closed by schedule")
