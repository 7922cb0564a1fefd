"""Synthetic house numbers drawn from a seed: the generator and its options (:class:`Style`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from svhn_xai.data.item import HouseNumber
from svhn_xai.data.synthetic.camera import photograph, shot, warp
from svhn_xai.data.synthetic.cue import Cue, cue_rng, plant_cue
from svhn_xai.data.synthetic.fonts import TYPEFACES, font, font_paths
from svhn_xai.data.synthetic.real_parts import RealParts
from svhn_xai.data.synthetic.scene import ink_box, lay_out, paint, wall

DIGIT_COUNT_PROBS = np.array([0.12, 0.38, 0.33, 0.14, 0.03])  # 1..5 digits, close to SVHN's mix


@dataclass(frozen=True)
class Style:
    """Options of the generator beyond its defaults, each off by default: the default images are
    the ones the shipped model learnt from, byte for byte (an option draws from the random
    stream only when it is on).

    Attributes:
        typefaces: ``"matplotlib"`` or ``"extended"`` (see :mod:`.fonts`).
        backgrounds: real photos' walls and plates (:class:`RealParts`) to draw the digits on,
            instead of the generated textures; None: generated.
        perspective: the plate seen at an angle (a homography), not only rotated and sheared.
        motion_blur: half the photos smeared along a random direction.
    """

    typefaces: str = "matplotlib"
    backgrounds: RealParts | None = None
    perspective: bool = False
    motion_blur: bool = False

    def __post_init__(self) -> None:
        if self.typefaces not in TYPEFACES:
            raise ValueError(f"typefaces must be one of {', '.join(TYPEFACES)}")
        if self.backgrounds is not None and not self.backgrounds.backgrounds:
            raise ValueError("real backgrounds asked for, but the photos left none outside boxes")

    def describe(self) -> dict:
        """What identifies these options (for caches and model cards); {} for the defaults."""
        out: dict = {}
        if self.typefaces != "matplotlib":
            out["typefaces"] = self.typefaces
        if self.backgrounds is not None:
            out["backgrounds"] = self.backgrounds.photos
        for name in ("perspective", "motion_blur"):
            if getattr(self, name):
                out[name] = True
        return out


PLAIN = Style()


def make_house_number(
    rng: np.random.Generator, name: str = "synthetic", style: Style = PLAIN
) -> HouseNumber:
    """Draw one synthetic house-number photo from ``rng`` (see :mod:`svhn_xai.data.synthetic`).

    The steps draw from ``rng`` in a fixed order (layout, geometry, plate and wall, camera,
    boxes), so one seed gives one photo."""
    fonts = font_paths(style.typefaces)
    font_path = fonts[rng.integers(len(fonts))]
    glyph_height = int(rng.uniform(14, 48))
    face = font(font_path, glyph_height)
    count = int(rng.choice(np.arange(1, 6), p=DIGIT_COUNT_PROBS))
    digits = [int(d) for d in rng.integers(0, 10, count)]
    masks, distractors = lay_out(rng, face, digits, glyph_height)
    size = masks[0].shape[::-1]
    geometry = shot(rng, size, style.perspective)
    for h in geometry:  # boxes are measured on the ink below, after every change
        masks = [warp(m, h) for m in masks]
        distractors = [warp(m, h) for m in distractors]
    height, width = masks[0].shape
    if style.backgrounds is not None:
        background = style.backgrounds.wall(rng, (width, height))
    else:
        background = wall(rng, (width, height))
    canvas = paint(rng, masks, distractors, glyph_height, background)
    image = photograph(rng, canvas, glyph_height, motion=style.motion_blur)
    labels, boxes = [], []
    for digit, mask in zip(digits, masks):
        box = ink_box(mask)
        if box is None:
            continue
        # SVHN's annotators drew boxes a little looser than the ink
        bw, bh = box[2] - box[0], box[3] - box[1]
        loose = rng.uniform(0.0, 0.12, 4) * np.array([bw, bh, bw, bh])
        box = box + loose * np.array([-1, -1, 1, 1])
        labels.append(digit)
        boxes.append(np.clip(box, 0, [width, height, width, height]))
    return HouseNumber(
        image=np.asarray(image, dtype=np.uint8).copy(),
        labels=tuple(labels),
        boxes=np.array(boxes).reshape(-1, 4),
        name=name,
    )


class SyntheticHouseNumbers:
    """``n`` reproducible synthetic house numbers: item ``i`` depends only on ``(seed, i)``
    (and ``style``).

    With ``cue``, items are :class:`CuedHouseNumber` with the planted cue (see :func:`plant_cue`;
    ``force_cue`` as there); the photo under the cue is the one rendered without it.
    """

    def __init__(
        self,
        n: int,
        seed: int = 0,
        cue: Cue | None = None,
        force_cue: bool | None = None,
        style: Style = PLAIN,
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n, self.seed, self.cue, self.force_cue, self.style = n, seed, cue, force_cue, style

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> HouseNumber:
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} synthetic images")
        rng = np.random.default_rng([self.seed, index])
        item = make_house_number(rng, name=f"synthetic/{self.seed}/{index}", style=self.style)
        if self.cue is None:
            return item
        return plant_cue(item, self.cue, cue_rng(self.seed, index), self.force_cue)
