"""`waystation edge count` on a rendered video file, and `waystation sim footfall-video`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firmware_sim.overhead import make_scene, write_video
from waystation.cli import app

WAYSTATION = Path(sys.executable).with_name("waystation")


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """A 640×480 MJPG recording (the counter downscales it; the line is in its pixels)."""
    scene = make_scene("mixed", 21, events=10, size=(640, 480))
    path = tmp_path_factory.mktemp("count") / "door.avi"
    frames = write_video(scene, path)
    return path, {"entries": scene.truth.entries, "exits": scene.truth.exits, "frames": frames}


def test_json_prints_exactly_one_object_with_the_counts(
    video: tuple[Path, dict[str, int]],
) -> None:
    path, truth = video
    out = subprocess.run(
        [str(WAYSTATION), "edge", "count", str(path), "--line", "0,240,639,240",
         "--inside", "320,432", "--json"],
        capture_output=True, text=True, timeout=100, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert set(result) == {"entries", "exits", "frames", "ms_per_frame"}
    assert result["frames"] == truth["frames"]
    assert abs(result["entries"] - truth["entries"]) <= 1
    assert abs(result["exits"] - truth["exits"]) <= 1
    assert result["entries"] + result["exits"] > 0
    assert 0 < result["ms_per_frame"] < 100


def test_inside_on_the_other_side_swaps_entries_and_exits(
    video: tuple[Path, dict[str, int]],
) -> None:
    path, _ = video
    runner = CliRunner()
    args = ["edge", "count", str(path), "--line", "639,240,0,240", "--json"]
    down = json.loads(runner.invoke(app, [*args, "--inside", "320,432"]).stdout)
    up = json.loads(runner.invoke(app, [*args, "--inside", "320,10"]).stdout)
    assert (up["entries"], up["exits"]) == (down["exits"], down["entries"])
    text = runner.invoke(app, [*args[:-1], "--inside", "320,432"])
    assert text.exit_code == 0
    assert f"{down['entries']} entries, {down['exits']} exits" in text.stdout


@pytest.mark.parametrize(
    ("target", "line", "inside", "message"),
    [
        ("missing.avi", "0,240,639,240", "320,432", "no such file"),
        ("junk.avi", "0,240,639,240", "320,432", "cannot open"),
        ("empty.avi", "0,240,639,240", "320,432", "cannot open"),
        ("VIDEO", "5,5,5,5", "320,432", "zero length"),
        ("VIDEO", "0,240,639,240", "100,240", "on the counting line"),
        ("VIDEO", "0,240,639", "320,432", "--line must be 4 numbers"),
        ("VIDEO", "0,240,639,240", "a,b", "--inside must be 2 numbers"),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_2(
    video: tuple[Path, dict[str, int]],
    tmp_path: Path,
    target: str,
    line: str,
    inside: str,
    message: str,
) -> None:
    (tmp_path / "junk.avi").write_bytes(b"not a video at all" * 100)
    (tmp_path / "empty.avi").write_bytes(b"")
    path = video[0] if target == "VIDEO" else tmp_path / target
    result = CliRunner().invoke(
        app, ["edge", "count", str(path), "--line", line, "--inside", inside, "--json"]
    )
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""


def test_sim_footfall_video_writes_a_file_and_prints_its_truth(tmp_path: Path) -> None:
    out = tmp_path / "scene.avi"
    result = CliRunner().invoke(
        app, ["sim", "footfall-video", str(out), "--scene", "groups", "--seed", "4",
              "--events", "3"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    scene = make_scene("groups", 4, events=3)
    assert (info["entries"], info["exits"]) == (scene.truth.entries, scene.truth.exits)
    assert info["frames"] == scene.frame_count
    assert info["line"] == "0,120,319,120"
    assert info["inside"] == "160,216"
    assert out.stat().st_size > 0
    bad = CliRunner().invoke(app, ["sim", "footfall-video", str(out), "--scene", "crowd"])
    assert bad.exit_code == 2
