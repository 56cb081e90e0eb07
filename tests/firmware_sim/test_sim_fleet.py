from __future__ import annotations

import math
from pathlib import Path

import pytest

from firmware_sim.cities import CITIES, make_records, read_registry_csv, write_registry_csv
from firmware_sim.fleet import Fleet, FleetConfig
from firmware_sim.union import SimUnion
from protocol.registry import AMENITIES, CSV_COLUMNS, StationRecord
from tests.support.wait import wait_for


def km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    dy = (lat2 - lat1) * 111.32
    dx = (lon2 - lon1) * 111.32 * math.cos(math.radians(lat1))
    return math.hypot(dx, dy)


def test_records_are_deterministic_for_a_seed() -> None:
    assert make_records(30, seed=4) == make_records(30, seed=4)
    assert make_records(30, seed=4) != make_records(30, seed=5)


def test_shenzhen_records_look_real() -> None:
    records = make_records(200, seed=1)
    assert [r.id for r in records[:2]] == ["sz-0001", "sz-0002"]
    assert len({r.id for r in records}) == 200
    assert len({r.name for r in records}) == 200
    centre = CITIES["shenzhen"].centre
    for r in records:
        StationRecord.model_validate(r.model_dump())
        assert km(*centre, r.lat, r.lon) < 40  # Futian to Longgang is ~20 km
        assert r.city == "深圳市"
        assert r.address.startswith("深圳市")
        assert r.name.endswith(f"#{r.name.rsplit('#', 1)[1]}")
        assert "区" in r.name
        assert {"water", "rest_seats"} <= set(r.amenities) <= set(AMENITIES)
        assert r.operator
    hours = [r.opening_hours for r in records]
    assert 0.6 < hours.count("24/7") / len(hours) < 0.9
    assert any(h.startswith("Mo-Su") for h in hours)
    assert any("福田区" in r.name for r in records)


@pytest.mark.parametrize("city", ["beijing", "shanghai", "hangzhou"])
def test_other_cities(city: str) -> None:
    c = CITIES[city]
    records = make_records(20, seed=0, city=city)
    assert records[0].id == f"{c.prefix}-0001"
    assert all(km(*c.centre, r.lat, r.lon) < 40 for r in records)


def test_unknown_city() -> None:
    with pytest.raises(ValueError, match="unknown city"):
        make_records(1, city="atlantis")


def test_registry_csv_round_trip(tmp_path: Path) -> None:
    records = make_records(25, seed=3)
    path = write_registry_csv(records, tmp_path / "stations.csv")
    header = path.read_text(encoding="utf-8").splitlines()[0]
    assert header.split(",") == list(CSV_COLUMNS)
    assert read_registry_csv(path) == records


def test_offline_fleet_runs_visits_from_one_thread(tmp_path: Path) -> None:
    fleet = Fleet(
        make_records(4, seed=2),
        SimUnion.create(2),
        FleetConfig(
            broker_url=None,
            workdir=tmp_path,
            visit_interval_s=0.05,
            telemetry_interval_s=0.2,
            members=5,
            render_frames=False,
        ),
    )
    fleet.start()
    try:
        wait_for(lambda: fleet.stats.visits >= 40, 10, "40 visits")
        journals = [s.agent.journal.backlog() for s in fleet.stations]
    finally:
        fleet.stop()
    stats = fleet.stats
    assert stats.visits >= 40
    assert stats.granted > stats.denied
    assert stats.errors == 0
    assert stats.heartbeats > 0
    assert all(n > 0 for n in journals)  # offline: every station's journal grows
