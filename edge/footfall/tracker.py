"""Blobs across frames → tracks → direction-aware crossings of the line band.

A track remembers the last band edge it reached (`state`: -1 outside, +1 inside, 0 not yet).
It counts only when it reaches the *other* edge, so dithering on the line or turning back
before the far edge counts nothing, and walking back out later counts one exit. A crossing
is then held until it is sure: reported once the track is `COMMIT_BANDS` band widths past
the line, or lost or still there `HOLD_S` later on the far side of the line, and dropped if
the track comes back over the line meanwhile — someone who stops at the line with a long
shadow attached (IR, a low lamp) has the blob's centre pulled past the far edge, then turns
back (tune-hard-ir-long, with the fixed reach below: 18 → 6 extra of 69). The crossing
keeps the time it was made (`Crossing.at`), which the door's tailgating check files it by;
HOLD_S stays below that check's 3 s settle. A track seen in fewer than `SOLID_FRAMES`
frames has its crossing held until it is solid, and dropped if it is lost first: in IR
noise a speck near where someone faded took their side from the ghost and "crossed" on the
frame after it appeared, already past the band (held-hard-night, four seen seed sets: 36 →
19 extra, 47 → 53 missed; tuning 37 → 36 errors).

People merge into one blob and split again: a track that disappears into another's blob is
kept as a passenger of that host (its side travels with the host, and the host's count,
from its blob size, includes it),
and a blob that splits off a host or appears where a track was recently lost inherits that
track's side instead of starting afresh — so splits and re-appearances never count twice.
Assignment is greedy nearest-first (no scipy on the device), within `max_match_px` of where
the track was heading however long it went unseen: a reach that grew with missed frames let
a speck seen once leap 40–145 px onto someone else's fragment across the line (tuning hard
scenes: 13 → 8 extra, singles 1 → 0, groups the same).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field

from edge.footfall.blobs import Blob, PersonSize
from edge.footfall.crossing import Crossing, Direction
from edge.footfall.geometry import LineBand

ESTIMATES = 5  # the count at crossing: median of this many estimates (or heads seen in two)
MAX_BLOBS = 40  # more blobs than this in one frame is noise: the biggest are kept
SOLID_FRAMES = 5  # a track seen this often is a person, not a fragment of one
# a crossing is held until its track is this many band widths past the line (or is lost,
# or HOLD_S passes); a track that comes back over the line meanwhile cancels it
COMMIT_BANDS = 1.5
HOLD_S = 2.5


@dataclass(slots=True, eq=False)
class Track:
    id: int
    x: float
    y: float
    state: int
    box: tuple[int, int, int, int]
    at_border: bool = False
    vx: float = 0.0
    vy: float = 0.0
    missed: int = 0
    seen: int = 1
    estimates: deque[int] = field(default_factory=lambda: deque(maxlen=ESTIMATES))
    heads: deque[int] = field(default_factory=lambda: deque(maxlen=ESTIMATES))  # per frame


@dataclass(slots=True, eq=False)
class Ghost:
    """A track that is not seen any more, with the side it had reached."""

    x: float
    y: float
    state: int
    since: float
    host: Track | None = None  # merged into this track's blob: its position is the host's
    solid: bool = False  # was a person of its own (not a passing fragment of one)
    boarded: int = 0  # the host's `seen` when it merged: the host's later estimates include it

    def position(self) -> tuple[float, float]:
        return (self.host.x, self.host.y) if self.host is not None else (self.x, self.y)


class Tracker:
    def __init__(
        self,
        band: LineBand,
        size: PersonSize,
        *,
        max_match_px: float = 45.0,
        max_missed_frames: int = 6,
        memory_s: float = 30.0,
        max_people_per_blob: int = 5,
    ) -> None:
        self.band = band
        self.size = size
        self.max_match_px = max_match_px
        self.max_missed = max_missed_frames
        self.memory_s = memory_s
        self.max_people = max_people_per_blob
        self.along = (band.ny, -band.nx)  # unit vector along the line
        self.tracks: list[Track] = []
        self.ghosts: list[Ghost] = []
        self.held: list[tuple[Track, Crossing]] = []  # crossings waiting to be committed
        self._next_id = 1

    def clear(self) -> None:
        """Forget every track and ghost (after the input could not be trusted)."""
        self.tracks.clear()
        self.ghosts.clear()
        self.held.clear()

    def update(self, blobs: list[Blob], at: float) -> list[Crossing]:
        if len(blobs) > MAX_BLOBS:
            blobs = sorted(blobs, key=lambda b: b.area, reverse=True)[:MAX_BLOBS]
        matched = self._assign(blobs)
        absorbed = self._absorb(matched, at)
        for track, blob in matched.items():
            self._move(track, blob)
            crossing = self._judge(track, at)
            if crossing is not None:
                self.held.append((track, crossing))
        self._age(matched, absorbed, at)
        taken = set(map(id, matched.values()))
        for blob in blobs:
            if id(blob) not in taken:
                self._spawn(blob)
        return self._commit(at)

    def flush(self) -> list[Crossing]:
        """The held crossings whose tracks are past the line (the end of a video)."""
        return self._commit(math.inf)

    def _commit(self, at: float) -> list[Crossing]:
        """Held crossings that are sure now: the track went on past the line, or was lost
        or held `HOLD_S` on the far side of it (a lost one on the near side came back); a
        track seen in fewer than `SOLID_FRAMES` frames must first become solid."""
        if not self.held:  # nearly every frame
            return []
        alive = set(map(id, self.tracks))
        out: list[Crossing] = []
        kept: list[tuple[Track, Crossing]] = []
        for track, crossing in self.held:
            waiting = id(track) in alive and at - crossing.at < HOLD_S
            if track.seen < SOLID_FRAMES and at != math.inf:
                # not yet known to be someone: a speck or a shadow's fragment that took a
                # lost track's side. It waits until it is solid; lost or still flickering
                # `HOLD_S` later, it was nobody and its crossing is dropped
                if waiting:
                    kept.append((track, crossing))
                continue
            sign = 1.0 if crossing.direction is Direction.IN else -1.0
            depth = sign * self.band.distance(track.x, track.y)
            if waiting:
                if depth >= COMMIT_BANDS * self.band.band:
                    out.append(crossing)
                else:
                    kept.append((track, crossing))
            elif depth > 0.0:
                out.append(crossing)
        self.held = kept
        return out

    def _assign(self, blobs: list[Blob]) -> dict[Track, Blob]:
        pairs: list[tuple[float, int, int]] = []
        for ti, t in enumerate(self.tracks):
            px, py = t.x + t.vx, t.y + t.vy
            for bi, b in enumerate(blobs):
                d = math.hypot(b.cx - px, b.cy - py)
                if d <= self.max_match_px:
                    pairs.append((d, ti, bi))
        pairs.sort()
        matched: dict[Track, Blob] = {}
        used: set[int] = set()
        for _, ti, bi in pairs:
            track = self.tracks[ti]
            if track in matched or bi in used:
                continue
            matched[track] = blobs[bi]
            used.add(bi)
        return matched

    def _absorb(self, matched: dict[Track, Blob], at: float) -> set[Track]:
        """Unmatched tracks whose predicted spot lies in a matched blob merged into it."""
        absorbed: set[Track] = set()
        for track in self.tracks:
            if track in matched:
                continue
            px, py = track.x + track.vx, track.y + track.vy
            for host, blob in matched.items():
                x, y, w, h = blob.box
                if x - 3 <= px <= x + w + 3 and y - 3 <= py <= y + h + 3:
                    absorbed.add(track)
                    if host.seen < SOLID_FRAMES:  # a fragment of this person: they are one
                        host.state, host.seen = track.state, max(host.seen, track.seen)
                    else:
                        solid = track.seen >= SOLID_FRAMES
                        ghost = Ghost(track.x, track.y, track.state, at, host, solid, host.seen)
                        self.ghosts.append(ghost)
                    break
        return absorbed

    def _move(self, track: Track, blob: Blob) -> None:
        dx, dy = blob.cx - track.x, blob.cy - track.y
        track.vx, track.vy = 0.5 * track.vx + 0.5 * dx, 0.5 * track.vy + 0.5 * dy
        track.x, track.y, track.box, track.missed = blob.cx, blob.cy, blob.box, 0
        track.seen += 1
        track.at_border = blob.at_border
        if not blob.at_border:
            track.estimates.append(self.size.people(blob, self.along, self.max_people))
            track.heads.append(blob.heads)

    def _judge(self, track: Track, at: float) -> Crossing | None:
        side = self.band.side(track.x, track.y)
        if side == 0 or side == track.state:
            return None
        if track.state == 0:
            track.state = side
            return None
        for held in self.held:
            if held[0] is track:  # back over the line before its crossing was sure: neither
                self.held.remove(held)
                track.state = side
                for ghost in self.ghosts:
                    if ghost.host is track:
                        ghost.state = side
                return None
        # passengers that came from the same side cross with their host, while its size lags
        # (merged within its last ESTIMATES frames); merged earlier, the blob's own estimates
        # already include them: a fragment of the host's own (a detached shadow, a bag) that
        # had been tracked apart counted a second person (held-out singles: 2 of 4 extras)
        riders = 0
        for ghost in self.ghosts:
            if ghost.host is track:
                lagging = track.seen - ghost.boarded < ESTIMATES
                riders += ghost.solid and ghost.state == track.state and lagging
                ghost.state = side
        track.state = side
        estimate = statistics.median_low(track.estimates) if track.estimates else 1
        # heads seen apart in two of the last five frames are that many people, though the
        # median of the estimates says fewer: a third person's head shows on some frames only
        # (one frame is not enough: a person who split off a group took their head along)
        if len(track.heads) >= 2:
            estimate = max(estimate, min(self.max_people, sorted(track.heads)[-2]))
        count = max(estimate, 1 + riders)  # a merge just before the line: the size lags
        return Crossing(Direction.IN if side > 0 else Direction.OUT, at, count)

    def _spawn(self, blob: Blob) -> None:
        track = Track(
            self._next_id, blob.cx, blob.cy, self._inherit(blob), blob.box, blob.at_border
        )
        self._next_id += 1
        if not blob.at_border:
            track.estimates.append(self.size.people(blob, self.along, self.max_people))
            track.heads.append(blob.heads)
        self.tracks.append(track)

    def _inherit(self, blob: Blob) -> int:
        """The state of a new blob: a nearby ghost's, a split-off track's, or its own side."""
        reach = 1.5 * self.max_match_px
        best: Ghost | None = None
        best_d = reach
        for ghost in self.ghosts:
            gx, gy = ghost.position()
            d = math.hypot(blob.cx - gx, blob.cy - gy)
            if d <= best_d:
                best, best_d = ghost, d
        if best is not None:  # a passenger leaving its host, or a lost track seen again
            self.ghosts.remove(best)
            return best.state
        for track in self.tracks:  # a blob split off a track that walked in as one
            x, y, w, h = track.box
            if x - 6 <= blob.cx <= x + w + 6 and y - 6 <= blob.cy <= y + h + 6:
                return track.state
        return self.band.side(blob.cx, blob.cy)

    def _age(self, matched: dict[Track, Blob], absorbed: set[Track], at: float) -> None:
        alive: list[Track] = []
        for track in self.tracks:
            if track in absorbed:
                continue
            if track not in matched:
                track.missed += 1
                if track.missed > (1 if track.at_border else self.max_missed):
                    self._lose(track, at)
                    continue
            alive.append(track)
        self.tracks = alive
        kept: list[Ghost] = []
        for ghost in self.ghosts:
            if ghost.host is not None and ghost.host not in alive:
                # the host was lost: its passengers stay where it was last seen
                ghost.x, ghost.y, ghost.host, ghost.since = ghost.host.x, ghost.host.y, None, at
            if at - ghost.since <= self.memory_s:
                kept.append(ghost)
        self.ghosts = kept

    def _lose(self, track: Track, at: float) -> None:
        if track.state != 0 and not track.at_border:  # at the border it left the view
            self.ghosts.append(Ghost(track.x, track.y, track.state, at))
