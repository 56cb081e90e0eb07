"""`cloud.transaction.session`: one unit of work, committed whole or not at all."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.models import Station
from cloud.transaction import session


def test_a_block_that_succeeds_commits_and_its_objects_stay_readable(engine: Engine) -> None:
    with session(engine) as s:
        station = Station(id="st-001", name="甲", lat=31.0, lon=121.0)
        s.add(station)
    assert station.name == "甲"  # expire_on_commit=False: no reload after the block
    with Session(engine) as s:
        assert s.get(Station, "st-001") is not None


def test_a_block_that_raises_leaves_nothing(engine: Engine) -> None:
    def half_way() -> None:
        with session(engine) as s:
            s.add(Station(id="st-002", name="乙", lat=31.0, lon=121.0))
            s.flush()  # written inside the transaction …
            raise RuntimeError("half way")

    with pytest.raises(RuntimeError, match="half way"):
        half_way()
    with Session(engine) as s:
        assert s.get(Station, "st-002") is None  # … and rolled back
