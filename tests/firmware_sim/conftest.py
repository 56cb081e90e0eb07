"""Fixtures for the simulator tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from firmware_sim.union import SimUnion

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def union() -> SimUnion:
    return SimUnion.create(11)
