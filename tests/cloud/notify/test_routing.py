"""`cloud.notify.routing`: rule matching, quiet hours in a channel's zone, backoff."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime

from cloud.notify.routing import (
    AlarmFacts,
    Quiet,
    Route,
    backoff_s,
    channels_for,
    digest_day,
    matches,
    quiet_until,
)

WARM = AlarmFacts("fridge_warm", "warning", "st-1", "滨州", "建设银行")
DOWN = AlarmFacts("station_offline", "critical", "st-2", "济南", "邮政")
BLIND = AlarmFacts("cloud_blind", "critical", None)


def test_a_route_matches_by_severity_rule_city_operator_and_station() -> None:
    assert matches(Route(1, 1), WARM)
    assert not matches(Route(1, 1, min_severity="critical"), WARM)
    assert matches(Route(1, 1, min_severity="critical"), DOWN)
    assert matches(Route(1, 1, rules=("fridge_warm",)), WARM)
    assert not matches(Route(1, 1, rules=("fridge_warm",)), DOWN)
    assert matches(Route(1, 1, cities=("滨州",)), WARM)
    assert not matches(Route(1, 1, cities=("滨州",)), DOWN)
    assert not matches(Route(1, 1, operators=("邮政",)), WARM)
    assert matches(Route(1, 1, stations=("st-2",)), DOWN)
    # the cloud's own alarm has no city: only unscoped routes get it
    assert matches(Route(1, 1), BLIND)
    assert not matches(Route(1, 1, cities=("滨州",)), BLIND)


def test_one_channel_once_and_clears_only_where_wanted() -> None:
    routes = [Route(1, 10), Route(2, 10, cities=("滨州",)), Route(3, 20, notify_clear=False)]
    assert channels_for(routes, WARM, clear=False) == {10, 20}
    assert channels_for(routes, WARM, clear=True) == {10}


def test_quiet_hours_cross_midnight_in_the_channel_zone() -> None:
    quiet = Quiet("Asia/Shanghai", "22:00", "07:00", bypass_critical=True)
    # 23:30 Shanghai = 15:30 UTC: quiet until 07:00 Shanghai the next day = 23:00 UTC
    late = datetime(2026, 12, 6, 15, 30, tzinfo=UTC)
    assert quiet_until(quiet, late, "warning") == datetime(2026, 12, 6, 23, 0, tzinfo=UTC)
    # 06:00 Shanghai (22:00 UTC the day before): until 07:00 the same local day
    early = datetime(2026, 12, 5, 22, 0, tzinfo=UTC)
    assert quiet_until(quiet, early, "warning") == datetime(2026, 12, 5, 23, 0, tzinfo=UTC)
    noon = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
    assert quiet_until(quiet, noon, "warning") is None
    assert quiet_until(quiet, late, "critical") is None  # bypass
    strict = Quiet("Asia/Shanghai", "22:00", "07:00", bypass_critical=False)
    assert quiet_until(strict, late, "critical") is not None
    day = Quiet("Europe/Berlin", "12:00", "14:00")
    assert quiet_until(day, datetime(2026, 12, 6, 11, 30, tzinfo=UTC), "warning") == datetime(
        2026, 12, 6, 13, 0, tzinfo=UTC
    )
    assert quiet_until(Quiet("UTC"), late, "warning") is None


def test_digest_day_once_the_local_hour_has_come() -> None:
    # 23:30 UTC = 07:30 Shanghai the next day
    at = datetime(2026, 12, 5, 23, 30, tzinfo=UTC)
    assert digest_day("Asia/Shanghai", 8, at) is None
    assert digest_day("Asia/Shanghai", 7, at) == date(2026, 12, 6)


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    rng = random.Random(1)
    for attempts, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0), (10, 600.0), (30, 600.0)):
        draws = [backoff_s(attempts, 2.0, 600.0, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in draws)
        assert max(draws) - min(draws) > ceiling / 4  # really jittered
