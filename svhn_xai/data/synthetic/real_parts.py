"""Parts cut from real photos: each digit by its box, and the wall and plate outside every box.

What copy-paste augmentation (Ghiasi et al. 2021) composes new house numbers from
(:mod:`.recompose`) and what synthetic digits can be drawn on (``Style.backgrounds``). Only the
photos handed in are cut, so a cross-validation fold that hands in its training photos never
sees a digit or a wall of its test photos.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from svhn_xai.data.item import HouseNumber

MIN_DIGIT_HEIGHT = 8  # px: a smaller box holds too few pixels to enlarge into a digit
MIN_BACKGROUND = 12  # px: both sides of a background strip at least this long


@dataclass(frozen=True)
class DigitCut:
    """One digit as its annotator boxed it: ``pixels`` uint8 (h, w, 3), the box rounded out to
    whole pixels; ``label`` 0-9; ``photo`` the name of the photo it was cut from."""

    pixels: np.ndarray
    label: int
    photo: str


def _strips(item: HouseNumber) -> list[np.ndarray]:
    """The four full strips of ``item`` outside all its boxes (left, right, above, below) that
    are at least :data:`MIN_BACKGROUND` pixels on both sides: uint8 (h, w, 3) each."""
    height, width = item.image.shape[:2]
    if len(item.boxes) == 0:
        return [item.image]
    x0, y0 = np.floor(item.boxes[:, :2].min(axis=0)).astype(int)
    x1, y1 = np.ceil(item.boxes[:, 2:].max(axis=0)).astype(int)
    spans = [
        (0, height, 0, x0),  # rows, then columns
        (0, height, x1, width),
        (0, y0, 0, width),
        (y1, height, 0, width),
    ]
    out = []
    for top, bottom, left, right in spans:
        top, left = max(top, 0), max(left, 0)
        bottom, right = min(bottom, height), min(right, width)
        if bottom - top >= MIN_BACKGROUND and right - left >= MIN_BACKGROUND:
            out.append(item.image[top:bottom, left:right])
    return out


class RealParts:
    """The digits and backgrounds of ``photos`` (any sequence of :class:`HouseNumber`).

    Attributes:
        digits: every box at least :data:`MIN_DIGIT_HEIGHT` pixels tall, as a :class:`DigitCut`.
        by_photo: the same cuts grouped by photo (a number recomposed from one photo's digits
            keeps that photo's paint and light).
        backgrounds: the strips outside each photo's boxes, uint8 (h, w, 3).
        photos: the names of the photos cut, in order.
    """

    def __init__(self, photos: Sequence[HouseNumber]) -> None:
        self.digits: list[DigitCut] = []
        self.by_photo: list[list[DigitCut]] = []
        self.backgrounds: list[np.ndarray] = []
        names = []
        for i in range(len(photos)):
            item = photos[i]
            names.append(item.name)
            height, width = item.image.shape[:2]
            cuts = []
            for label, box in zip(item.labels, item.boxes):
                x0, y0 = np.floor(np.maximum(box[:2], 0)).astype(int)
                x1, y1 = np.ceil(np.minimum(box[2:], [width, height])).astype(int)
                if y1 - y0 >= MIN_DIGIT_HEIGHT and x1 - x0 >= 2:
                    cuts.append(DigitCut(item.image[y0:y1, x0:x1].copy(), int(label), item.name))
            if cuts:
                self.by_photo.append(cuts)
                self.digits.extend(cuts)
            self.backgrounds.extend(strip.copy() for strip in _strips(item))
        self.photos = tuple(names)
        if not self.digits:
            raise ValueError("no digit box of these photos is large enough to cut out")

    def wall(self, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
        """A real background for a ``size`` (W, H) canvas: float (H, W, 3) in [0, 255].

        A random strip, the largest window of it with the canvas's aspect ratio at a random
        place (mirrored half the time), resized to the canvas."""
        width, height = size
        strip = self.backgrounds[rng.integers(len(self.backgrounds))]
        sh, sw = strip.shape[:2]
        scale = min(sw / width, sh / height)
        w, h = max(int(width * scale), 1), max(int(height * scale), 1)
        left, top = rng.integers(sw - w + 1), rng.integers(sh - h + 1)
        window = strip[top : top + h, left : left + w]
        if rng.random() < 0.5:
            window = window[:, ::-1]
        image = Image.fromarray(np.ascontiguousarray(window))
        return np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), np.float64)
