"""The second overhead scene generator: seeded, its truth follows its paths, and it films
what it claims (parallax, a level line under a tilted camera, grey IR frames, shadows that
start at the feet)."""

from __future__ import annotations

import itertools

import numpy as np

from firmware_sim.overhead3d import STYLES, Camera, Light, Scene, _Painter, make_scene
from firmware_sim.overhead3d_people import Body, Look

LOOK = Look((0.2, 0.2, 0.6), (0.1, 0.1, 0.1), (0.05, 0.05, 0.05), (0.5, 0.4, 0.7))


def walk(x: float, t0: float = 0.0, direction: int = 1) -> Body:
    keys = [(t0, x, -3.0 * direction), (t0 + 5.0, x, 3.0 * direction)]
    return Body(keys, 1.75, 0.45, LOOK, 0.8, 0.0)


def scene(people: list[Body], light: Light | None = None, tilt: float = 0.0) -> Scene:
    cam = Camera((320, 240), 3.0, 70.0, tilt, -3.0 * np.tan(np.radians(tilt)))
    lights = [(0.0, light or Light("day"))]
    return Scene("t", 1, cam, people, lights, (0.4, 0.5, 0.6), 0.0, None, 6.0)


def test_a_seed_gives_the_same_frames_and_truth() -> None:
    kind, style = STYLES["3d-hard"]
    a, b = (make_scene("3d-hard", style, 7, events=2) for _ in range(2))
    assert kind == "hard"
    assert a.crossings() == b.crossings()
    for fa, fb in itertools.islice(zip(a.frames(), b.frames(), strict=True), 0, 80, 20):
        assert np.array_equal(fa, fb)
    c = make_scene("3d-hard", style, 8, events=4)
    assert c.camera != a.camera


def test_the_truth_counts_whoever_ends_on_the_other_side_once() -> None:
    for name, (_, style) in STYLES.items():
        s = make_scene(name, style, 11, events=12)
        moved = [p for p in s.people if p.side(0) != p.side(-1)]
        assert len(s.crossings()) == len(moved)
        for p in moved:
            t, d = p.crossing()  # type: ignore[misc]
            assert p.start < t < p.end
            assert d == p.side(-1)
            _, y, *_ = p.at(t)  # type: ignore[misc]
            assert abs(y) < 1e-6
        assert 0.0 < s.line[1] < s.inside[1] <= s.size[1] - 1


def test_a_head_is_filmed_farther_out_than_the_feet_and_the_line_is_level_when_tilted() -> None:
    cam = Camera((320, 240), 3.0, 70.0, 20.0, -1.0)
    feet, head = cam.project(np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 1.7]]))
    assert head[0] - 160.0 > 2.0 * (feet[0] - 160.0) > 0.0
    rows = cam.project(np.array([[x, 0.0, 0.0] for x in (-2.0, 0.0, 2.0)]))[:, 1]
    assert np.ptp(rows) < 1e-9
    assert abs(rows[0] - cam.row(0.0)) < 1e-9
    fx, fy = cam.floor()
    back = cam.project(np.array([[fx[120, 200], fy[120, 200], 0.0]]))[0]
    assert np.allclose(back, (200.5, 120.5), atol=0.01)


def test_ir_frames_are_grey_and_day_frames_are_not() -> None:
    ir = next(iter(scene([walk(0.0, -2.5)], Light("ir")).frames()))
    day = next(iter(scene([walk(0.0, -2.5)]).frames()))
    assert np.array_equal(ir[..., 0], ir[..., 2])
    assert np.array_equal(ir[..., 1], ir[..., 2])
    assert np.abs(day[..., 0].astype(int) - day[..., 2]).mean() > 5.0


def test_a_lamp_shadow_starts_at_the_feet_and_leans_away_from_the_lamp() -> None:
    s = scene([walk(0.0, -2.5)], Light("lamp", lamp=(0.0, -1.0, 2.6)))
    painter = _Painter(s, np.random.default_rng(0))
    pts = np.array([[0.0, 0.5, 0.0], [0.0, 0.5, 1.0]])
    floor = painter._shadow_point(s.lights[0][1], pts)
    assert floor is not None
    assert np.allclose(floor[0], pts[0])  # the feet's shadow is the feet
    assert floor[1, 1] > 0.5 + 0.5  # a point 1 m up, lit from behind: more than 0.5 m on
