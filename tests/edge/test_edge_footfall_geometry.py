"""The counting line: sides with a hysteresis band, the inside point, scaling, bad input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from edge.footfall.geometry import CountingConfig, LineBand, parse_numbers


def test_side_is_positive_towards_the_inside_point_with_a_band_either_side() -> None:
    band = LineBand.make((0, 100, 320, 100), inside=(160, 200), band=10)
    assert band.side(50, 150) == 1
    assert band.side(50, 50) == -1
    assert band.side(50, 105) == 0  # within the band: not yet on either side
    assert band.side(50, 95) == 0
    assert band.side(50, 110) == 1  # the band edge itself counts as reached
    assert band.distance(0, 130) == pytest.approx(30)


def test_inside_point_decides_the_sign_whatever_the_line_direction() -> None:
    a = LineBand.make((0, 100, 320, 100), inside=(10, 10), band=5)
    b = LineBand.make((320, 100, 0, 100), inside=(10, 10), band=5)
    for band in (a, b):
        assert band.side(100, 20) == 1
        assert band.side(100, 180) == -1


def test_diagonal_line() -> None:
    band = LineBand.make((0, 0, 100, 100), inside=(100, 0), band=2)
    assert band.side(60, 10) == 1
    assert band.side(10, 60) == -1
    assert band.side(50, 50) == 0


def test_config_scales_the_line_but_not_the_band() -> None:
    config = CountingConfig(line=(0, 240, 640, 240), inside=(320, 400), band_px=8)
    band = LineBand.from_config(config, scale=0.5)
    assert band.distance(0, 120) == pytest.approx(0)
    assert band.side(0, 127) == 0
    assert band.side(0, 128) == 1


@pytest.mark.parametrize(
    ("line", "inside", "reason"),
    [
        ((10, 10, 10, 10), (50, 50), "zero length"),
        ((0, 100, 320, 100), (200, 100), "on the counting line"),
    ],
)
def test_unusable_lines_are_refused_with_the_reason(
    line: tuple[float, ...], inside: tuple[float, float], reason: str
) -> None:
    with pytest.raises(ValidationError, match=reason):
        CountingConfig(line=line, inside=inside)  # type: ignore[arg-type]


def test_config_is_frozen_and_typo_proof() -> None:
    config = CountingConfig(line=(0, 1, 2, 3), inside=(5, 0))
    assert config.debug_snapshot_dir is None  # privacy: no images on disk by default
    assert config.process_width == 320
    with pytest.raises(ValidationError):
        CountingConfig(line=(0, 1, 2, 3), inside=(5, 0), band=3)  # type: ignore[call-arg]
    with pytest.raises(ValidationError):
        config.band_px = 3.0  # type: ignore[misc]


def test_parse_numbers() -> None:
    assert parse_numbers(" 1, 2.5,3,4 ", 4, "--line") == (1.0, 2.5, 3.0, 4.0)
    for bad in ("1,2,3", "1,2,3,x", "1,2,3,nan", ""):
        with pytest.raises(ValueError, match="--line must be 4 numbers"):
            parse_numbers(bad, 4, "--line")
