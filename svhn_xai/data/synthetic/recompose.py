"""New house numbers composed from real digits (copy-paste augmentation, Ghiasi et al. 2021).

Each item draws 1-5 digit cuts (:class:`RealParts`) — half the time all from one photo, whose
paint and light they share, otherwise from any — scales them to one height, sets them left to
right with random spacing on a real or a generated wall, blends their edges, and then passes the
whole canvas through the generator's camera: rotation and shear (and, with
``Style.perspective``, a homography), defocus, noise, JPEG. A digit's box is its cut's rectangle
where it was pasted, carried through every geometric change by :func:`map_box`, so it is exact
in the sense that SVHN's boxes are: the annotator's box, moved with the photo.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from svhn_xai.data.item import HouseNumber
from svhn_xai.data.synthetic.camera import map_box, photograph, shot, warp
from svhn_xai.data.synthetic.generator import DIGIT_COUNT_PROBS, PLAIN, Style
from svhn_xai.data.synthetic.real_parts import DigitCut, RealParts
from svhn_xai.data.synthetic.scene import wall

_STREAM = 0xC0  # third seed word: recomposed items never share a stream with synthetic ones


@dataclass(frozen=True)
class RecomposedHouseNumber(HouseNumber):
    """A recomposed house number; ``cut_from`` names the photo each digit was cut from."""

    cut_from: tuple[str, ...] = field(default_factory=tuple)


def feather(height: int, width: int) -> np.ndarray:
    """Alpha (height, width) in [0, 1]: 1 inside, falling linearly to 0 over the outer 15 % of
    the width and 10 % of the height, so a pasted cut has no hard seam."""
    ramp_x = np.minimum(np.arange(width) + 0.5, width - np.arange(width) - 0.5)
    ramp_y = np.minimum(np.arange(height) + 0.5, height - np.arange(height) - 0.5)
    ax = np.clip(ramp_x / max(0.15 * width, 1.0), 0, 1)
    ay = np.clip(ramp_y / max(0.10 * height, 1.0), 0, 1)
    return ay[:, None] * ax[None, :]


def compose(
    rng: np.random.Generator,
    cuts: list[DigitCut],
    height: int,
    background: Callable[[np.random.Generator, tuple[int, int]], np.ndarray] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """``cuts`` scaled to ``height`` px and set left to right on a canvas padded around them:
    (canvas float (H, W, 3) in [0, 255], boxes (n, 4) ``[x0, y0, x1, y1]`` where each cut was
    pasted, in canvas pixels).

    ``background(rng, (W, H))`` draws the wall once the canvas's size is known (e.g.
    :meth:`RealParts.wall`); None: a generated wall."""
    widths = [max(int(round(c.pixels.shape[1] * height / c.pixels.shape[0])), 2) for c in cuts]
    gap = rng.uniform(-0.05, 0.25) * height  # SVHN's boxes often touch or overlap
    pad_x, pad_y = rng.uniform(0.3, 1.5) * height, rng.uniform(0.3, 1.0) * height
    width = int(sum(widths) + gap * (len(cuts) - 1) + 2 * pad_x) + 1
    canvas_h = int(height * 1.2 + 2 * pad_y) + 1
    canvas = (background or wall)(rng, (width, canvas_h))
    boxes = []
    x = pad_x
    for cut, w in zip(cuts, widths):
        y = pad_y + rng.uniform(0, 0.2) * height
        left, top = int(round(x)), int(round(y))
        pixels = Image.fromarray(cut.pixels).resize((w, height), Image.Resampling.BILINEAR)
        region = canvas[top : top + height, left : left + w]  # a view: pasting writes through
        rows, cols = region.shape[:2]
        alpha = feather(height, w)[:rows, :cols, None]
        region[:] = region * (1 - alpha) + np.asarray(pixels, np.float64)[:rows, :cols] * alpha
        boxes.append([left, top, left + region.shape[1], top + region.shape[0]])
        x += w + gap
    return canvas, np.array(boxes, dtype=np.float64)


class RecomposedHouseNumbers:
    """``n`` reproducible house numbers recomposed from ``parts``: item ``i`` depends only on
    ``(seed, i)``, the parts and ``style`` (whose ``perspective`` and ``motion_blur`` apply;
    ``real_walls`` is the chance that the wall is a real one rather than generated)."""

    def __init__(
        self,
        parts: RealParts,
        n: int,
        seed: int = 0,
        style: Style = PLAIN,
        real_walls: float = 0.5,
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.parts, self.n, self.seed, self.style = parts, n, seed, style
        self.real_walls = real_walls if parts.backgrounds else 0.0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> RecomposedHouseNumber:
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} recomposed images")
        rng = np.random.default_rng([self.seed, index, _STREAM])
        count = int(rng.choice(np.arange(1, 6), p=DIGIT_COUNT_PROBS))
        if rng.random() < 0.5:  # one photo's digits: one paint, one light
            pool = self.parts.by_photo[rng.integers(len(self.parts.by_photo))]
        else:
            pool = self.parts.digits
        cuts = [pool[k] for k in rng.integers(len(pool), size=count)]
        height = int(rng.uniform(14, 48))
        background = self.parts.wall if rng.random() < self.real_walls else None
        canvas, boxes = compose(rng, cuts, height, background)
        size = canvas.shape[1::-1]
        geometry = shot(rng, size, self.style.perspective)
        fill = tuple(int(v) for v in canvas.reshape(-1, 3).mean(axis=0))
        for h in geometry:
            canvas = warp(canvas, h, fill)
            boxes = np.array([map_box(b, h) for b in boxes])
        image = photograph(rng, canvas, height, motion=self.style.motion_blur)
        bounds = [size[0], size[1], size[0], size[1]]
        return RecomposedHouseNumber(
            image=np.asarray(image, dtype=np.uint8).copy(),
            labels=tuple(c.label for c in cuts),
            boxes=np.clip(boxes, 0, bounds),
            name=f"recomposed/{self.seed}/{index}",
            cut_from=tuple(c.photo for c in cuts),
        )
