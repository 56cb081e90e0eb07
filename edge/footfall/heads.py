"""Heads inside a blob: per-person evidence for people pressed shoulder to shoulder.

Seen from above, every person has a head: a compact disc (hair, a helmet, a cap) in the
middle of the shoulders, in another colour or brightness than them. Two people walking
abreast merge into one foreground blob, and JPEG ringing and shadows swell the blob until
its shape (`edge.footfall.blobs`) says one person in a fifth of the frames (a ring of
speckle a few pixels wide, on some frames and not the next — most likely as the person falls
differently on the codec's 8 px grid); their two heads stay two in the picture itself.

The detector is the scale-normalised determinant of the Hessian (DoH), summed over the
colour channels: it answers to discs of either polarity (a dark head on a yellow vest, a
white helmet on a dark coat) and hardly to the straight edges of shoulders, bags and
shadows. Its maxima over space and six scales that lie inside the blob are candidates,
strongest first; a candidate counts as another head when it is strong (`MIN_RESPONSE`) and
far enough from every head kept to belong to another body: `MIN_GAP_PX`, and `GAP_RADII`
times the sum of the two radii (σ√2). A large adult's head and the curved ends of their own
shoulders are closer than that; two people's heads are about 4.7 head radii apart, and a
person whose head is the colour of their clothes answers at their body's scale instead,
still far enough from their companion's head. Only the first head must be clear
(`MIN_RESPONSE`); beside it, another needs only `MORE_RESPONSE`: a companion whose head is
the colour of their own clothes answers weakly, and far enough from a clear head a weaker
maximum is more likely a second person than anything of the first one's — when it has
shoulders of its own: the blob reaches on along the line both ways beyond it, as it does not
beyond a bag or the end of a shoulder (`SHOULDERS`).

Tuned on blobs near the line in eleven of the tuning presets (benchmarks/footfall_counter.py,
tuning set; 10,276 blobs wide enough to look in, with their true people): of the 386 frames
of two people whose shape said one, 224 show two heads (3 × the larger radius: 180); of 179
of three that it called two, 67 show three; of 7,801 frames of one person, none shows two
(with the gap in px alone, 53: a large adult's head and the ends of their own shoulders);
of 1,692 of two people, 2 show three.

Sixth round, the fainter further heads (7,174 blobs near the line with their true people in
nine tuning presets — four of groups, four of singles with tune-singles-low, tune-hard; 6,611
wide enough to look in): two people showing two heads 828 → 1,099 of 1,367, three showing
three 191 → 397 of 544, one person showing two 0 → 1 of 4,700. Without the shoulders test,
1,118 and 405 but 15 of one person two (large adults with a dark bag under a low camera);
the reach as 1.5 radii: 963 and 361, 0.75: 1,104 and 399 (a drawn bag's corner passes
it); `MORE_RESPONSE` 2·10⁴ found 29 fewer pairs, 1.5·10⁴ made more of one person two.

The figures are pixels for people about as big as the tuning scenes draw them. Under a
lower camera or a narrower lens (the second generator, `firmware_sim.overhead3d`) an adult
is two or three times that, and their hands were heads: a thick blob is looked at shrunk to
the tuning scale (`HEAD_SCALE_PX`), two heads must lie along the line, and a clear head
must have some of the blob beyond it both ways (`STRONG_SHOULDERS`).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Gaussian scales of the DoH, px at processing size: heads of ~2-10 px radius (a child under a
# tall camera to a large adult under a low one, at 320 px wide). Four scales up to 4.0 did
# about as well on the tuning blobs with the gap in radii, but place a head of > 6 px radius
# at the wrong scale, and so its gap; a lower camera than the tuning presets' makes such
# heads, and a body's scale is 5-7.
SIGMAS = (1.6, 2.2, 3.0, 4.0, 5.3, 7.0)
# a head must answer at least this strongly (DoH summed over B, G, R, σ⁴-normalised, of the
# frame gain-normalised to a median of 128). Tuning: 2.5e4 made 6 singles two, 3.5e4 found
# 209 pairs instead of 224.
MIN_RESPONSE = 3.0e4
# once one head is that clear, another far enough from it need answer only this strongly
# (a companion's head the colour of their own clothes, or half turned away)
MORE_RESPONSE = 1.75e4
# ... and only where the blob reaches this many head radii beyond it both ways along the line
# (its own radius or the first head's, the larger: a bag's corner answers at a small scale):
# one person's shoulders reach ~2.3 head radii past the head, while a bag, or the end of a
# large adult's shoulder, is the end of the blob (a dark bag beside someone under a low
# camera answered like a faint head). 1.5 lost a fifth of the pairs found; 0.75 lets the
# corner of a drawn bag through (tests/edge/footfall/test_heads.py)
SHOULDERS = 1.0
MIN_GAP_PX = 14.0  # heads nearer than this (px, processing size) are one body (12: 3 singles two)
GAP_RADII = 1.6  # ... or nearer than this × the sum of their radii (1.4: a single two)
# Every px figure above is for people about as big as the tuning scenes draw them: blobs
# 14-28 px thick across the line (p10-p90 of one person's). Under a lower camera or a
# narrower lens an adult is 40-80 px thick, and their hands swinging at the ends of their
# shoulders are discs of a head's size by those figures: two hands were two heads, in a
# fifth of one person's frames (the second generator, benchmarks/footfall_3d.py). A blob
# thicker than this is looked at shrunk to it, so its head is a head's size again.
HEAD_SCALE_PX = 28.0
# A clear head needs the blob to reach on beyond it both ways along the line by this many
# of its radii (a faint one `SHOULDERS` of the larger): a head has shoulders either side,
# a hand swinging at the end of one person's shoulders — a disc of a head's size under a
# low camera — has next to nothing beyond it. 1.0 lost pairs in the tuning presets (a
# companion's head answering at their body's scale, with a large radius); 0.5 none there,
# and two of 367 held-out crossings (901-904: groups 93.5 -> 92.9 %).
STRONG_SHOULDERS = 0.5
MOST = 3  # more heads than this are not looked for (the shape says 3+ for wider groups)
PAD = 4  # px of frame around the blob's box the filters see (a head at its edge)


def look_for_heads(
    image: np.ndarray,
    own: np.ndarray,
    box: tuple[int, int, int, int],
    along_rows: bool = True,
    thickness: float = 0.0,
) -> tuple[int, float]:
    """(how many heads, 0-3, the blob shows apart from each other; where the clearest one sits
    along the line in the blob: the shorter of the blob's reaches beyond it over their sum —
    0.5 in the middle, 0 at an end, 0 with no head). One person's head sits in the middle of
    their blob, a bag or a shadow on one side moves it off a little; of two people with one
    head seen, it sits a quarter in. `own`: the blob's boolean mask over its box; `box`: x,
    y, w, h in `image`, the processing-size frame (BGR or grey uint8) the foreground mask was
    computed from; `along_rows`: the counting line is nearer the rows than the columns
    (shoulders lie along it); `thickness`: the blob's typical extent across the line, px (0:
    not known): above `HEAD_SCALE_PX` the crop is shrunk to it first."""
    x, y, w, h = box
    x0, y0 = max(0, x - PAD), max(0, y - PAD)
    x1, y1 = min(image.shape[1], x + w + PAD), min(image.shape[0], y + h + PAD)
    crop = image[y0:y1, x0:x1].astype(np.float32)
    inside = np.zeros((y1 - y0, x1 - x0), np.uint8)
    inside[y - y0 : y - y0 + h, x - x0 : x - x0 + w] = own
    shrink = HEAD_SCALE_PX / thickness if thickness > HEAD_SCALE_PX else 1.0
    if shrink < 1.0:
        size = (max(1, round(crop.shape[1] * shrink)), max(1, round(crop.shape[0] * shrink)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
        inside = cv2.resize(inside, size, interpolation=cv2.INTER_NEAREST)
    inside = cv2.erode(inside, np.ones((3, 3), np.uint8))
    best, scale = _doh(crop)
    peaks = (best >= cv2.dilate(best, np.ones((5, 5), np.uint8))) & (inside > 0)
    peaks &= best > MORE_RESPONSE
    ys, xs = np.nonzero(peaks)
    kept: list[tuple[int, int, float]] = []  # x, y, radius
    order = np.argsort(-best[ys, xs])
    for i in order:
        px, py = int(xs[i]), int(ys[i])
        radius = SIGMAS[int(scale[py, px])] * math.sqrt(2.0)
        strong = best[py, px] > MIN_RESPONSE
        if not kept and not strong:
            break  # no clear head (the strongest left is faint)
        # only between shoulders of its own (a faint one: as wide as the clearest head's)
        reach = STRONG_SHOULDERS * radius if strong else SHOULDERS * max(radius, kept[0][2])
        if not _between_shoulders(inside, px, py, reach, along_rows):
            continue
        if all(_apart(px - a, py - b, radius + r, along_rows) for a, b, r in kept):
            kept.append((px, py, radius))
            if len(kept) == MOST:
                break
    if not kept:
        return 0, 0.0
    middle = _middle(inside, kept[0][0], kept[0][1], along_rows)
    return len(kept), middle


def _apart(dx: float, dy: float, radii: float, along_rows: bool) -> bool:
    """Two heads this far apart (px; `radii`: the sum of theirs) are two people's: far
    enough apart, and more along the line than across it — people abreast are at most a
    step out of line, while one person's hand swinging forwards, or the feet a low camera
    sees in front of or behind them, lie across it from their head (and so does someone
    following close behind, whom the tracker counts when they cross)."""
    along, across = (dx, dy) if along_rows else (dy, dx)
    far = math.hypot(dx, dy) >= max(MIN_GAP_PX, GAP_RADII * radii)
    return far and abs(along) >= abs(across)


def _reaches(inside: np.ndarray, px: int, py: int, along_rows: bool) -> tuple[int, int]:
    """How far (px) the blob reaches beyond (px, py) each way along the line (-1, -1: not at
    all on that line)."""
    line = inside[py] if along_rows else inside[:, px]
    at = px if along_rows else py
    filled = np.flatnonzero(line)
    if len(filled) == 0:
        return -1, -1
    return at - int(filled[0]), int(filled[-1]) - at


def _middle(inside: np.ndarray, px: int, py: int, along_rows: bool) -> float:
    before, after = _reaches(inside, px, py, along_rows)
    if before < 0 or after < 0 or before + after == 0:
        return 0.0
    return min(before, after) / (before + after)


def _between_shoulders(
    inside: np.ndarray, px: int, py: int, reach: float, along_rows: bool
) -> bool:
    """The blob reaches `reach` px beyond (px, py) both ways along the line: a head has its
    shoulders either side; a bag, or the end of a shoulder, has nothing beyond."""
    return min(_reaches(inside, px, py, along_rows)) >= reach


def _doh(crop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(strongest response, index into SIGMAS of the scale that gave it), both (h, w): the
    scale-normalised Hessian determinant summed over channels, its maximum over the scales.
    OpenCV calls throughout: numpy temporaries cost twice the filters on these small crops."""
    channels = 1 if crop.ndim == 2 else crop.shape[2]
    best: np.ndarray | None = None
    index = np.zeros(crop.shape[:2], np.uint8)
    for i, sigma in enumerate(SIGMAS):
        g = cv2.GaussianBlur(crop, (0, 0), sigma)
        xx = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3)
        yy = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3)
        xy = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3)
        det = cv2.subtract(cv2.multiply(xx, yy), cv2.multiply(xy, xy))
        # sum over channels and σ⁴ normalisation in one pass; a grey frame counts as three
        # equal channels, as an IR mode's B = G = R frames do, so one threshold serves both
        det = cv2.transform(
            det.reshape(det.shape[0], det.shape[1], channels),
            np.full((1, channels), sigma**4 * 3.0 / channels, np.float32),
        )
        if best is None:
            best = det
            continue
        index[det > best] = i
        best = cv2.max(best, det)
    assert best is not None
    return best, index
