"""Issue 5's liveness targets, end to end: real Mosquitto (ACL, passwords, persistence) → cloud
ingest → database → the nearby API, sampled every 0.5 s the way a rider's app would see it.

1. a station whose process is killed is no longer `open_now` within 60 s;
2. a clean stop shows within 2 s;
3. a radio blackhole shorter than 15 s changes nothing, nor does a cut that ends in a reset or
   in the station's keepalive giving up: the broker sends the will at once, and the station's
   reconnect cancels it inside the cloud's hold of `lost` (`LostGuard`), so no `lost` is
   stored; when a cut outlasts keepalive + the hold, the map shows it and recovers at the
   birth;
4. a broker restart with 200 stations: the open count is back within 30 s and no station is
   stored `lost`/`offline` (Mosquitto publishes every will at shutdown: see
   `cloud.ingest.lostguard.LostGuard`).

The single-station scenarios run at once against one rig (module fixture) so the file stays
well under 90 s; each target is asserted by its own test.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from firmware_sim.netcut import NetCut
from tests.support.wait import wait_for
from waystation.harness.linkstation import LinkStation
from waystation.harness.liveness_rig import LivenessRig, StationProcess, records
from waystation.mosquitto import find_binary

pytestmark = pytest.mark.integration

SAMPLE_S = 0.5
KILLED, CLEAN, FLAP, RESET, KEEPALIVE, LONG = (f"sz-{i:04d}" for i in range(1, 7))
ACT_AT = 1.0  # seconds into the scenario: kill, stop; FLAP's and RESET's cuts begin
RESET_AT = 5.0  # RESET's proxy resets (RST both ways) and heals
HEAL_AT = 15.0  # FLAP's 14 s cut ends
# KEEPALIVE's and LONG's cuts start once KILLED's `lost` is stored, so each scenario is read
# on its own.
CUT2_AT = 15.0
# KEEPALIVE's 9 s cut: Mosquitto gives up 7-8 s after the last PINGREQ it got (keepalive 5,
# so 0-5 s before the cut) and sends the will at once; the cloud holds it 12 s, while the
# station is back within ~3 s of the heal. The heal waits for the broker's "exceeded
# timeout" as well: on a loaded machine the broker has given up later than 24 s.
CUT2_HEAL_AT = 24.0
# LONG's 25 s cut ends (the broker gave up after ≤ 7.5 s, + 12 s hold), and not before the
# map has shown LONG closed: the scenario is an outage the map shows, whatever the load.
LONG_HEAL_AT = 40.0
END_AT = 90.0  # latest end; the run stops as soon as every scenario has played out (~45 s)


def need_mosquitto() -> None:
    try:
        find_binary()
        find_binary("mosquitto_passwd")
    except FileNotFoundError as exc:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{exc} (CI must run every test)")
        pytest.skip(str(exc))


@dataclass
class Run:
    """What the map showed: samples of open stations, seconds since the scenario start."""

    rig: LivenessRig
    t0: float
    samples: list[tuple[float, set[str]]] = field(default_factory=list)
    healed: dict[str, float] = field(default_factory=dict)  # when each cut ended, s
    sess_before: dict[str, int] = field(default_factory=dict)
    sess_after: dict[str, int] = field(default_factory=dict)

    def open_at_every_sample(self, sid: str) -> list[float]:
        """Sample times at which `sid` was NOT shown open (empty: always open)."""
        return [t for t, ids in self.samples if sid not in ids]

    def closed_from(self, sid: str, after: float) -> float | None:
        """First sample time after `after` from which `sid` stayed closed to the end."""
        closed_since = None
        for t, ids in self.samples:
            if t < after:
                continue
            if sid in ids:
                closed_since = None
            elif closed_since is None:
                closed_since = t
        return closed_since

    def seen(self, sid: str, status: str) -> list[float]:
        return [s.at - self.t0 for s in self.rig.observer.of(sid, status=status)]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    need_mosquitto()
    work = tmp_path_factory.mktemp("liveness")
    rig = LivenessRig(work, records(6), db_url=f"sqlite:///{work / 'waystation.db'}").start()
    proxies = {
        sid: NetCut(("127.0.0.1", rig.broker.port)).start()
        for sid in (FLAP, RESET, KEEPALIVE, LONG)
    }
    links = {
        CLEAN: LinkStation(CLEAN, rig.url(CLEAN), work / "st"),
        FLAP: LinkStation(FLAP, rig.url(FLAP, proxies[FLAP].port), work / "st"),
        RESET: LinkStation(RESET, rig.url(RESET, proxies[RESET].port), work / "st"),
        KEEPALIVE: LinkStation(
            KEEPALIVE, rig.url(KEEPALIVE, proxies[KEEPALIVE].port), work / "st", keepalive_s=5
        ),
        LONG: LinkStation(LONG, rig.url(LONG, proxies[LONG].port), work / "st", keepalive_s=5),
    }
    killed: StationProcess | None = None
    try:
        (killed,) = rig.spawn([KILLED])
        for link in links.values():
            link.start()
        wait_for(
            lambda: len(rig.live_ids()) == 6, 20, "all six stations live on the map", interval_s=0.1
        )
        r = Run(rig, time.monotonic())
        r.sess_before = {sid: link.link.sess for sid, link in links.items()}

        def at(t: float) -> Callable[[], bool]:
            return lambda: time.monotonic() - r.t0 >= t

        def heal(sid: str) -> Callable[[], None]:
            def act() -> None:
                proxies[sid].heal()
                r.healed[sid] = time.monotonic() - r.t0

            return act

        def broker_gave_up() -> bool:
            return f"Client {KEEPALIVE} has exceeded timeout" in rig.broker.log()

        def long_shown_closed() -> bool:
            return bool(r.samples) and LONG not in r.samples[-1][1]

        # (when, action) in order; a step waits for the ones before it.
        plan: list[tuple[Callable[[], bool], Callable[[], None]]] = [
            (at(ACT_AT), killed.kill),
            (at(ACT_AT), links[CLEAN].stop),
            (at(ACT_AT), proxies[FLAP].cut),
            (at(ACT_AT), proxies[RESET].cut),
            (at(RESET_AT), proxies[RESET].reset),
            (at(RESET_AT), heal(RESET)),
            (at(HEAL_AT), heal(FLAP)),
            (at(CUT2_AT), proxies[KEEPALIVE].cut),
            (at(CUT2_AT), proxies[LONG].cut),
            (lambda: at(CUT2_HEAL_AT)() and broker_gave_up(), heal(KEEPALIVE)),
            (lambda: at(LONG_HEAL_AT)() and long_shown_closed(), heal(LONG)),
        ]
        while True:
            t = time.monotonic() - r.t0
            while plan and plan[0][0]():
                plan.pop(0)[1]()
            r.samples.append((time.monotonic() - r.t0, rig.open_ids()))
            if t > END_AT or (not plan and LONG in r.samples[-1][1]):
                break
            time.sleep(max(0.0, SAMPLE_S - (time.monotonic() - r.t0 - t)))
        r.sess_after = {sid: link.link.sess for sid, link in links.items()}
        yield r
    finally:
        for sid, link in links.items():
            if sid != CLEAN:
                link.kill()
        for proxy in proxies.values():
            proxy.stop()
        rig.close()


def test_a_killed_station_is_not_open_within_60_s(run: Run) -> None:
    closed = run.closed_from(KILLED, ACT_AT)
    assert closed is not None, "the killed station never left the map"
    assert closed - ACT_AT <= 60, f"killed → not open took {closed - ACT_AT:.1f} s"
    assert run.seen(KILLED, "lost"), "the broker sent no will"
    assert run.rig.stored()[KILLED][0] == "lost"
    print(f"killed → not open: {closed - ACT_AT:.1f} s")


def test_a_clean_stop_shows_within_2_s(run: Run) -> None:
    closed = run.closed_from(CLEAN, ACT_AT)
    assert closed is not None
    assert closed - ACT_AT <= 2.0, f"clean stop → not open took {closed - ACT_AT:.1f} s"
    assert run.rig.stored()[CLEAN][0] == "offline"
    assert not run.seen(CLEAN, "lost"), "a clean stop must not fire the will"


def test_a_blackhole_shorter_than_15_s_changes_nothing(run: Run) -> None:
    assert run.open_at_every_sample(FLAP) == []
    assert not run.seen(FLAP, "lost")
    assert run.sess_after[FLAP] == run.sess_before[FLAP], "nobody noticed: same session"
    assert run.rig.stored()[FLAP] == ("online", run.sess_before[FLAP])


def test_a_cut_ended_by_a_reset_reconnects_inside_the_hold(run: Run) -> None:
    assert run.open_at_every_sample(RESET) == []
    assert run.seen(RESET, "lost"), "the broker sends the will at once"
    assert (RESET, "lost") not in run.rig.history(), "the reconnect must cancel the held lost"
    assert run.sess_after[RESET] > run.sess_before[RESET], "it did reconnect"
    births = [t for t in run.seen(RESET, "online") if t > RESET_AT]
    assert births, "no birth after the reset"
    assert births[0] - RESET_AT < 10, "back well within the cloud's 12 s hold"


def test_keepalive_expiring_during_a_cut_is_cancelled_at_reconnect(run: Run) -> None:
    """keepalive 5 s: both ends give up on the link during the 9 s cut; the broker's `lost`
    is held by the cloud and cancelled by the station's birth after the heal."""
    assert f"Client {KEEPALIVE} has exceeded timeout" in run.rig.broker.log()
    assert run.open_at_every_sample(KEEPALIVE) == []
    assert (KEEPALIVE, "lost") not in run.rig.history()
    assert run.sess_after[KEEPALIVE] > run.sess_before[KEEPALIVE]
    assert run.rig.stored()[KEEPALIVE][0] == "online"


def test_a_cut_longer_than_keepalive_plus_the_hold_shows_and_recovers_at_the_birth(
    run: Run,
) -> None:
    """keepalive 5 s, a 25 s cut: the broker sends `lost`, the cloud stores it after its
    hold, the map shows the station closed, and the birth after the heal puts it back."""
    assert run.seen(LONG, "lost"), "the broker should have given up on the station"
    closed = run.open_at_every_sample(LONG)
    assert closed, "the map never showed the outage"
    assert LONG in run.healed, "the map never showed the outage (the cut was not healed)"
    healed = run.healed[LONG]
    assert min(closed) < healed
    back = [t for t, ids in run.samples if t > healed and LONG in ids]
    assert back, "not back on the map after the heal"
    births = [t for t in run.seen(LONG, "online") if t > healed]
    assert births, "no birth after the heal"
    assert back[0] >= births[0]
    assert run.rig.stored()[LONG][0] == "online"


# --- broker restart ---------------------------------------------------------------------------

RESTART_STATIONS = 200
RECOVERY_TARGET_S = 30.0


@pytest.mark.parametrize("stations", [RESTART_STATIONS])
def test_a_broker_restart_with_200_stations_paints_nothing_offline(
    db_url: str, tmp_path: Path, stations: int
) -> None:
    need_mosquitto()
    rig = LivenessRig(tmp_path, records(stations), db_url=db_url).start()
    try:
        rig.spawn(rig.sids)
        wait_for(
            lambda: len(rig.live_ids()) == stations, 30, f"{stations} stations live", interval_s=0.1
        )
        before = {sid: sess for sid, (_status, sess) in rig.stored().items()}
        assert all(s is not None for s in before.values())

        t0 = time.monotonic()
        rig.broker.restart()  # SIGTERM, same port, persistence kept
        counts: list[tuple[float, int]] = []

        def reborn() -> bool:
            newer = {
                s.sid
                for s in rig.observer.of(status="online")
                if not s.retained and (s.sess or 0) > (before[s.sid] or 0)
            }
            return len(newer) == stations

        while time.monotonic() - t0 < RECOVERY_TARGET_S:
            counts.append((time.monotonic() - t0, len(rig.open_ids())))
            settled = reborn() and rig.worker.lost_guard.held == 0
            if settled and time.monotonic() - t0 > 3:
                break
            time.sleep(SAMPLE_S)
        assert reborn(), "every station reconnects with a new session"
        low = [t for t, n in counts if n < stations]
        recovery = max(low) + SAMPLE_S if low else 0.0
        assert recovery <= RECOVERY_TARGET_S
        assert counts[-1][1] == stations, f"open count at the end: {counts[-1][1]}"
        stored = rig.stored()
        assert {status for status, _ in stored.values()} == {"online"}
        assert rig.history() == [], "no lost/offline in the uptime history"
        print(
            f"{stations} stations, broker restart: lowest open count "
            f"{min(n for _, n in counts)}, back in {recovery:.1f} s; Mosquitto sent "
            f"{len(rig.observer.of(status='lost'))} lost (shutdown wills + retained copies), "
            f"guard {dict(rig.worker.lost_guard.stats)}"
        )
    finally:
        rig.close()


# --- broker outage: the cloud's blindness is not the stations' death -------------------------

OUTAGE_GRACE_S = 2.0  # stale open grace in this test (default 300 s)
OUTAGE_HEARTBEAT_S = 1.0  # so a station is stale 3 s after its last heartbeat
OUTAGE_S = 8.0  # longer than heartbeat span + stale grace: every station would have left
BACK_TARGET_S = 60.0  # a station killed during the outage leaves the map this soon after


def test_a_broker_outage_keeps_stations_open_by_schedule_and_a_dead_one_leaves_after(
    tmp_path: Path,
) -> None:
    """Story: with the broker stopped longer than the stale grace, the map showed every
    station closed, though the outage was the cloud's. Now the open count holds (basis
    `schedule`), `cloud_blind` is raised and no `station_offline`; once the cloud sees again,
    a station killed during the outage leaves the map within 60 s."""
    need_mosquitto()
    settings = {
        "stale_open_grace_s": OUTAGE_GRACE_S,
        "monitor_interval_s": 0.5,
        "sight_refresh_s": 0.0,
    }
    # One database (SQLite): the judgement is the same on both, and the suite's time is short.
    db_url = f"sqlite:///{tmp_path / 'waystation.db'}"
    rig = LivenessRig(tmp_path, records(5), db_url=db_url, settings=settings).start()
    try:
        living, (doomed,) = rig.sids[:4], rig.sids[4:]
        # Reconnects capped at 2 s: the test is about the cloud's judgement, not a station's
        # backoff (60 s at most by default, which alone would outlast the shortened grace).
        rig.spawn(living, heartbeat_s=OUTAGE_HEARTBEAT_S, reconnect_max_s=2.0)
        (victim,) = rig.spawn([doomed], heartbeat_s=OUTAGE_HEARTBEAT_S, reconnect_max_s=2.0)
        wait_for(lambda: len(rig.live_ids()) == 5, 20, "five stations live")
        # A birth alone makes a station live; its 1 s heartbeat is known from its first
        # heartbeat. One killed before that is judged by the 30 s default (online for 90 s),
        # longer than the target below: under a loaded suite that was this test's flake.
        wait_for(
            lambda: all(rig.intervals().get(s) == OUTAGE_HEARTBEAT_S for s in rig.sids),
            20,
            lambda: f"every station's heartbeat interval known: {rig.intervals()}",
        )

        rig.broker.stop(kill=True, hold_port=True)  # a crash: no wills, nothing said
        t0 = time.monotonic()
        wait_for(lambda: (None, "cloud_blind", "raised") in rig.alarms(), 10, "cloud_blind")
        victim.kill()
        lows: list[int] = []
        while time.monotonic() - t0 < OUTAGE_S:
            shown = rig.open_stations()
            lows.append(len(shown))
            time.sleep(SAMPLE_S)
        assert min(lows) == 5, f"open counts during the outage: {lows}"
        assert {s["basis"] for s in shown.values()} == {"schedule"}
        assert not [a for a in rig.alarms() if a[1] == "station_offline"]

        rig.broker.start()
        wait_for(
            lambda: (None, "cloud_blind", "cleared") in rig.alarms(), 40, "cloud_blind cleared"
        )
        seeing = time.monotonic()
        wait_for(
            lambda: doomed not in rig.open_ids(),
            BACK_TARGET_S,
            lambda: (
                f"the dead station gone: the API shows {rig.open_stations().get(doomed)}, "
                f"alarms {rig.alarms()}, stored {rig.stored()}, "
                f"sight {rig.client.app.state.ctx.sight.current()}, "  # type: ignore[attr-defined]
                f"presence {rig.presence()}, intervals {rig.intervals()}"
            ),
        )
        gone_after = time.monotonic() - seeing
        # The living ones reconnect on their own backoff (seconds after an 8 s outage), which
        # the test's 2 s grace may not cover: wait for all four to be confirmed again.
        wait_for(
            lambda: set(rig.live_ids()) == set(living), 30, "the four living stations live again"
        )
        shown = rig.open_stations()
        assert set(shown) == set(living)  # … and the dead one stays gone
        assert {s["basis"] for s in shown.values()} == {"live"}
        print(f"outage {OUTAGE_S:.0f} s: 5 open throughout; dead one gone {gone_after:.1f} s after")
    finally:
        rig.close()
