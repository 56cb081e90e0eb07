"""`edge.footfall.snapshot.Snapshots`: at most one annotated frame every `every_s`, on local
disk only, the oldest deleted beyond `keep`; a failing disk never reaches the caller."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.footfall.geometry import LineBand
from edge.footfall.snapshot import PREFIX, Snapshots

BAND = LineBand.make((0.0, 30.0, 80.0, 30.0), (40.0, 50.0), 6.0)  # horizontal, inside below
GREY = np.full((60, 80), 90, dtype=np.uint8)
MASK = np.zeros((60, 80), dtype=np.uint8)
MASK[40:50, 10:20] = 255  # a person
TRACKS = [(15.0, 45.0, 1), (60.0, 10.0, -1), (30.0, 30.0, 0)]


def test_turning_it_on_says_so_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="edge.footfall.snapshot"):
        Snapshots(tmp_path / "snaps", every_s=60.0, keep=3)
    assert "debug snapshots ON" in caplog.text
    assert "never sent" in caplog.text
    assert not (tmp_path / "snaps").exists()  # nothing written until the first frame


def test_one_snapshot_per_interval(tmp_path: Path) -> None:
    snaps = Snapshots(tmp_path, every_s=60.0, keep=3)
    assert snaps.due(0.0)
    snaps.write(GREY, MASK, BAND, TRACKS, 100.0)
    assert not snaps.due(159.9)
    assert snaps.due(160.0)


def test_the_frame_is_annotated_and_the_callers_image_untouched(tmp_path: Path) -> None:
    snaps = Snapshots(tmp_path / "new" / "dir", every_s=1.0, keep=3)
    colour = cv2.cvtColor(GREY, cv2.COLOR_GRAY2BGR)
    before = colour.copy()
    path = snaps.write(colour, MASK, BAND, TRACKS, 0.0)
    assert path is not None
    assert path.parent == tmp_path / "new" / "dir"
    assert path.name.startswith(PREFIX)
    assert path.suffix == ".jpg"
    assert np.array_equal(colour, before)
    image = cv2.imread(str(path))
    assert image.shape == (60, 80, 3)
    b, _, r = (float(c) for c in image[41, 11])
    assert r > b + 40  # the foreground is tinted red
    assert image[30, 5, 2] > 150  # the counting line (yellow) across the frame
    assert image[30, 5, 1] > 150
    grey_path = snaps.write(GREY, MASK, BAND, [], 1.0)  # a grey frame is drawn in colour
    assert grey_path is not None
    assert cv2.imread(str(grey_path)).shape == (60, 80, 3)


def test_only_the_newest_keep_files_stay(tmp_path: Path) -> None:
    snaps = Snapshots(tmp_path, every_s=1.0, keep=2)
    (tmp_path / "notes.txt").write_text("the installer's own file")
    written = [snaps.write(GREY, MASK, BAND, [], float(t)) for t in range(5)]
    left = sorted(tmp_path.glob(f"{PREFIX}*.jpg"))
    assert left == written[-2:]
    assert (tmp_path / "notes.txt").exists()  # only snapshots are pruned


def test_a_failing_disk_is_logged_once_and_never_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    snaps = Snapshots(blocked / "snaps", every_s=1.0, keep=2)
    with caplog.at_level(logging.WARNING, logger="edge.footfall.snapshot"):
        caplog.clear()
        assert snaps.write(GREY, MASK, BAND, TRACKS, 0.0) is None
        assert snaps.write(GREY, MASK, BAND, TRACKS, 1.0) is None
    assert [
        r.getMessage().startswith("footfall debug snapshot not written") for r in caplog.records
    ] == [True]
    assert not snaps.due(1.5)  # a failed attempt still waits its interval
