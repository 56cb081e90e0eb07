"""The camera's mode (IR monochrome or colour): each frame's evidence, the state that follows
it only when the evidence lasts, and what a wrong mode costs: a shadow counted as a person."""

from __future__ import annotations

import cv2
import numpy as np

from edge.footfall.camera import CameraCounter
from edge.footfall.geometry import CountingConfig
from edge.footfall.mode import MONO_HOLD_S, CameraMode, looks_monochrome
from firmware_sim.overhead import make_scene

W, H, FPS = 320, 240, 10.0


def floor(
    bgr: tuple[int, int, int], rng: np.random.Generator, noise: float = 2.0, *, luma: bool = False
) -> np.ndarray:
    """A flat floor of one colour with a colour sensor's per-channel noise (`luma`: the same
    grain in B, G and R, as after JPEG's chroma smoothing)."""
    base = np.empty((H, W, 3), np.float32)
    base[:] = bgr
    shape = (H, W, 1) if luma else base.shape
    return np.clip(base + rng.normal(0.0, noise, shape), 0, 255).astype(np.uint8)


def test_a_grey_frame_is_monochrome_evidence_and_any_cast_or_colour_is_not() -> None:
    rng = np.random.default_rng(1)
    grey = cv2.cvtColor(
        cv2.cvtColor(floor((120, 120, 120), rng), cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR
    )
    assert looks_monochrome(grey)
    _, jpeg = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, 50])
    assert looks_monochrome(cv2.imdecode(jpeg, cv2.IMREAD_COLOR))  # JPEG keeps grey grey
    # B and R equal, G apart: a green or magenta cast (the old B-vs-R test called it IR)
    assert not looks_monochrome(floor((120, 126, 120), rng, noise=0.0))
    assert not looks_monochrome(floor((124, 118, 124), rng, noise=0.0))
    assert not looks_monochrome(floor((112, 120, 128), rng, noise=0.0))
    # a neutral floor: a colour sensor's own noise is colour
    assert not looks_monochrome(floor((120, 120, 120), rng, noise=2.0))


def test_one_colour_frame_proves_colour_and_grey_must_last_or_follow_a_light_change() -> None:
    mode = CameraMode()
    assert mode.observe(True, 0.0) is True  # the first frame decides
    assert mode.observe(False, 0.1) is False  # an IR frame is never coloured: colour at once
    # grey-looking frames (a neutral floor, nobody coloured in view) short of the hold, with
    # a colour frame among them, do not make it IR
    t = 0.1
    for _ in range(2):
        for _ in range(int(MONO_HOLD_S * FPS) - 1):
            t += 1 / FPS
            assert mode.observe(True, t) is False
        t += 1 / FPS
        assert mode.observe(False, t) is False
    first = t + 1 / FPS  # the first grey frame of a run that lasts
    for i in range(int(MONO_HOLD_S * FPS) + 1):
        mode.observe(True, first + i / FPS)
    assert mode.monochrome is True  # grey for the hold: the camera is in IR mode
    mode.observe(False, first + MONO_HOLD_S + 0.2)
    mode.relearn()  # the light changed (the IR lamp came on): the next frame decides
    assert mode.observe(True, first + MONO_HOLD_S + 0.3) is True


def shadow_walk(bgr: tuple[int, int, int]) -> list[np.ndarray]:
    """A person-sized shadow (the floor at 0.65 of its brightness, its own colour) gliding
    across the line, on a floor of `bgr` (nobody else in view)."""
    rng = np.random.default_rng(7)
    frames = [floor(bgr, rng, luma=True) for _ in range(40)]  # the background is learnt
    for i in range(40):
        frame = floor(bgr, rng, luma=True)
        y = 20 + i * 5
        shade = np.zeros((H, W), np.uint8)
        cv2.ellipse(shade, (160, y), (22, 30), 0, 0, 360, 255, -1)
        frame[shade > 0] = (frame[shade > 0] * 0.65).astype(np.uint8)
        frames.append(frame)
    frames += [floor(bgr, rng, luma=True) for _ in range(30)]
    return frames


def counted(frames: list[np.ndarray]) -> tuple[int, CameraCounter]:
    counter = CameraCounter(CountingConfig(line=(0.0, 120.0, 319.0, 120.0), inside=(160.0, 220.0)))
    n = 0
    for i, frame in enumerate(frames):
        n += sum(c.count for c in counter.process(frame, i / FPS))
    n += sum(c.count for c in counter.flush())
    return n, counter


def test_a_shadow_gliding_over_a_floor_with_a_magenta_cast_is_not_counted() -> None:
    # B == R, G lower: judged IR by a test of B against R alone, and in IR mode a shadow is
    # foreground like anyone in dark clothes; it is a colour floor, and MOG2 drops the shadow
    n, counter = counted(shadow_walk((124, 114, 124)))
    assert counter.mode.monochrome is False
    assert n == 0


def test_in_ir_mode_the_same_darkening_is_counted_it_may_be_dark_clothes() -> None:
    # the other side of the rule: on a grey frame a darker patch cannot be told from dark
    # clothes, so it is foreground and walks across the line as someone
    frames = [
        cv2.cvtColor(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
        for f in shadow_walk((120, 120, 120))
    ]
    n, counter = counted(frames)
    assert counter.mode.monochrome is True
    assert n == 1


def test_over_dusk_ir_and_the_lamp_the_mode_is_the_cameras_in_every_frame() -> None:
    # the rendered evening: daylight fading, the camera's switch to IR, then a lamp (colour)
    scene = make_scene("lights", 4, events=8)
    counter = CameraCounter(CountingConfig(line=scene.line, inside=scene.inside))
    wrong = []
    for t, frame in zip(scene.times(), scene.frames(), strict=True):
        counter.process(frame, t)
        if counter.mode.monochrome != scene.lighting.ir(t):
            wrong.append(round(t, 1))
    assert scene.lighting.ir_from is not None
    assert scene.lighting.lights_on is not None
    assert wrong == []
