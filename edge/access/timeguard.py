"""Clock safety: what "now" means for a credential check on a Pi that has no battery clock.

A Raspberry Pi boots with the time it had at shutdown (fake-hwclock) or 1970, and stays there
until NTP answers, which a station with no internet may never get. Denying everyone then would
lock members out of a shelter; trusting the wall clock would let any old screenshot in, or
refuse every valid code as stale.

The rule (docs/installer.md, "Clock"):

* The station keeps a **high-water mark** (HWM): the latest wall time it saw while the clock
  was trusted, persisted to disk every `PERSIST_EVERY_S` and at stop. After a reboot,
  ``HWM + time since start`` is a *lower bound* on the true time.
* The clock is **unsynchronised** when the OS says so (systemd-timesyncd's
  ``/run/systemd/timesync/synchronized`` flag is absent while its directory exists) or when
  the wall clock is behind the lower bound by more than `BEHIND_TOLERANCE_S`.
* While synchronised, decisions use the wall clock, as DESIGN.md says.
* While unsynchronised, a code is judged at its own signed time clamped to
  ``[lower bound, lower bound + max_ahead_s]`` (the rule is `edge.access.decide`), while the
  door mode, event timestamps and the replay cache follow the station's own clocks only
  (`best_now`, `floor`). The station raises a `clock_unsynced` alarm and counts every such
  decision, and clears the alarm once the clock is trusted again.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from edge.access.trustfiles import write_atomic
from edge.ports import Clock

log = logging.getLogger(__name__)

# How far the wall clock may sit behind the lower bound before we call it wrong, seconds.
# Must exceed NTP slews and the HWM's own write period; smaller values flap on a good clock.
BEHIND_TOLERANCE_S = 120.0
# How often the HWM is written, seconds: an SD card tolerates one small write a minute for
# years; a longer period makes the lower bound after a power cut that much older.
PERSIST_EVERY_S = 60.0
TIMESYNCD_DIR = Path("/run/systemd/timesync")


def timesyncd_synced(directory: Path = TIMESYNCD_DIR) -> bool | None:
    """systemd-timesyncd's verdict: True/False, or None where it does not run (unknown)."""
    if not directory.is_dir():
        return None
    return (directory / "synchronized").exists()


@dataclass(frozen=True, slots=True)
class TimeView:
    """One reading: the wall clock, the lower bound on true time, and whether to trust it."""

    wall: datetime
    lower: datetime | None
    synced: bool
    why: str = ""


class TimeGuard:
    """Tracks the high-water mark and judges the clock; `view()` is cheap (no I/O)."""

    def __init__(
        self,
        clock: Clock,
        path: Path | None,
        *,
        probe: Callable[[], bool | None] = timesyncd_synced,
        max_ahead_s: float = 14 * 86400.0,
    ) -> None:
        self.clock = clock
        self.path = path
        self.probe = probe
        self.max_ahead_s = max_ahead_s
        self._hwm: float | None = None  # unix seconds
        self._hwm_mono: float = 0.0  # monotonic time when _hwm was true
        self._saved_at = -float("inf")
        self._probe_cache: tuple[float, bool | None] = (-float("inf"), None)

    def load(self) -> None:
        """Read the persisted HWM; a missing or broken file just means no lower bound yet."""
        if self.path is None:
            return
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            self._set_hwm(float(data["hwm"]))
        except FileNotFoundError:
            log.info("no clock high-water mark at %s yet", self.path)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring clock high-water mark %s: %s", self.path, exc)

    def _set_hwm(self, unix_s: float) -> None:
        self._hwm = unix_s
        self._hwm_mono = self.clock.monotonic()

    def lower_bound(self) -> float | None:
        """Unix seconds the true time is at least, or None if never synchronised here."""
        if self._hwm is None:
            return None
        return self._hwm + max(0.0, self.clock.monotonic() - self._hwm_mono)

    def _probe(self) -> bool | None:
        now = self.clock.monotonic()
        at, value = self._probe_cache
        if now - at >= 5.0:  # one stat() every few seconds, not per decision
            try:
                value = self.probe()
            except Exception:
                log.exception("clock sync probe failed")
                value = None
            self._probe_cache = (now, value)
        return value

    def view(self) -> TimeView:
        wall = self.clock.now()
        lower = self.lower_bound()
        lower_dt = datetime.fromtimestamp(lower, UTC) if lower is not None else None
        if self._probe() is False:
            return TimeView(wall, lower_dt, False, "NTP not synchronised")
        if lower is not None and wall.timestamp() < lower - BEHIND_TOLERANCE_S:
            return TimeView(wall, lower_dt, False, "wall clock behind the high-water mark")
        return TimeView(wall, lower_dt, True)

    def best_now(self) -> datetime:
        """The best estimate of the time for event timestamps: the wall clock while it is
        trusted, else the lower bound (never 1970 after a reboot offline)."""
        view = self.view()
        if view.synced or view.lower is None:
            return view.wall
        return max(view.wall, view.lower)

    def floor(self) -> float:
        """Unix seconds the true time is at least, by the station's own clocks only: the wall
        clock while trusted, else the lower bound (else the wall clock: nothing better). The
        replay cache keeps an entry until this passes the code's freshness end."""
        view = self.view()
        if view.synced or view.lower is None:
            return view.wall.timestamp()
        return view.lower.timestamp()

    def tick(self, *, force: bool = False) -> None:
        """Advance and persist the HWM from a trusted wall clock (call every loop turn)."""
        view = self.view()
        if not view.synced:
            return
        wall = view.wall.timestamp()
        if self._hwm is None or wall > (self.lower_bound() or 0.0):
            self._set_hwm(wall)
        mono = self.clock.monotonic()
        if self.path is not None and (force or mono - self._saved_at >= PERSIST_EVERY_S):
            self._saved_at = mono
            data = json.dumps({"hwm": self._hwm, "written": time.time()}).encode()
            write_atomic(self.path, data)
