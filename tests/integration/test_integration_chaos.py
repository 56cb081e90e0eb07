"""Issue 9's no-loss promise under faults, end to end: a chaos run against real Mosquitto (the
project ACL, one password per station, persistence), two real `waystation cloud ingest`
processes and PostgreSQL, with every fault kind at least once (power cut and restart,
partition, flapping, broker restart, ingest SIGKILL and restart, clock skew, frozen camera);
then the audit: every journaled event stored exactly once, footfall totals equal, each
station's state the truth (running → online, killed for good → lost, stopped → offline),
no journal backlog.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from firmware_sim.cities import make_records
from waystation.harness.chaos import ChaosConfig, ChaosRun
from waystation.harness.faults import ALL_KINDS
from waystation.harness.logins import ingest_logins
from waystation.mosquitto import MosquittoProcess

pytestmark = pytest.mark.integration

STATIONS = 6
SEED = 3


def password(user: str) -> str:
    return f"pw-{user}-{SEED}"


def test_a_chaos_run_with_every_fault_loses_and_duplicates_nothing(
    secure_mosquitto: Callable[[dict[str, str]], MosquittoProcess], pg_url: str, tmp_path: Path
) -> None:
    sids = [r.id for r in make_records(STATIONS, seed=SEED)]
    broker = secure_mosquitto({u: password(u) for u in [*sids, *ingest_logins(2)]})
    config = ChaosConfig(
        stations=STATIONS,
        minutes=0.75,
        seed=SEED,
        db_url=pg_url,
        ingest_workers=2,
        workdir=tmp_path / "chaos",
        visit_interval_s=1.0,
        telemetry_interval_s=3.0,
        faults_per_minute=2.0,
        settle_timeout_s=30.0,
    )
    result = ChaosRun(config, broker=broker, passwords=password).run()

    assert result.stats["kinds_played"] == sorted(k.value for k in ALL_KINDS), result.played
    assert not result.skipped
    assert all(not line.endswith("FAILED") for line in result.played), result.played
    assert result.stats["ingest_kills"] >= 1
    assert result.stats["restarts"] >= 1
    assert result.stats["historical_stored"] > 0, "nothing was replayed from a journal"
    assert result.drained, "the journals did not drain within the settle timeout"
    report = result.report
    assert report.journaled > 100, "too little traffic to prove anything"
    summary = report.summary()
    assert summary["stored"] == summary["journaled"]
    assert (summary["lost"], summary["duplicated"], summary["state_mismatches"]) == (0, 0, 0), [
        s for s in report.stations if s.lost or s.duplicated or not s.state_ok
    ]
    truths = sorted(s.truth.value for s in report.stations)
    assert truths == ["lost", "offline"] + ["online"] * (STATIONS - 2)
    assert all(s.footfall_journal[0] > 0 for s in report.stations), "beams counted nobody"
    by_kind = result.stats["journaled_by_kind"]
    assert by_kind["events"] > 0
    assert by_kind["footfall"] > 0
