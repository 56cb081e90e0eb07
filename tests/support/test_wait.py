"""The shared wait: returns the predicate's value, fails with what it last saw."""

import time

import pytest

from tests.support.wait import wait_for


def test_returns_the_first_truthy_value() -> None:
    values = iter([None, 0, [], ["ready"]])
    assert wait_for(lambda: next(values), timeout_s=1.0, interval_s=0.001) == ["ready"]


def test_times_out_naming_the_condition_and_the_last_value() -> None:
    started = time.monotonic()
    with pytest.raises(
        AssertionError, match=r"after 0.1s waiting for the door \(last value: \[\]\)"
    ):
        wait_for(lambda: [], timeout_s=0.1, what="the door")
    assert time.monotonic() - started >= 0.1


def test_a_callable_description_is_built_only_on_failure() -> None:
    calls: list[int] = []

    def describe() -> str:
        calls.append(1)
        return "state at the end"

    assert wait_for(lambda: True, what=describe)
    assert calls == []
    with pytest.raises(AssertionError, match="state at the end"):
        wait_for(lambda: False, timeout_s=0.01, what=describe)
    assert calls == [1]
