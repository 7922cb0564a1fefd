"""The scene: a wall, a plate and its frame, the digits' ink, light and shadow.

Every function draws from the ``rng`` it is given, in a fixed order, so one seed gives one scene.
Masks are float (H, W) in [0, 1]; colours and canvases float RGB in [0, 255].
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

_LETTERS = "ABCDEFGHKLMNPRSTUVWXYZ"


def colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(plate, ink) RGB colours with a random but readable contrast."""
    while True:
        plate = rng.uniform(0, 255, 3)
        ink = rng.uniform(0, 255, 3)
        if rng.random() < 0.8:  # mostly dull: most real plates and paint are near grey
            plate = plate.mean() + (plate - plate.mean()) * rng.uniform(0, 0.4)
            ink = ink.mean() + (ink - ink.mean()) * rng.uniform(0, 0.4)
        if abs(plate.mean() - ink.mean()) > 60 or np.abs(plate - ink).max() > 110:
            return plate, ink


def wall(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A textured background of shape (H, W, 3), float in [0, 255]."""
    width, height = size
    base = rng.uniform(0, 255, 3)
    if rng.random() < 0.8:  # brick, render and wood photograph dull
        base = base.mean() + (base - base.mean()) * rng.uniform(0, 0.5)
    yy, xx = np.mgrid[0:height, 0:width]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy) / max(width, height)
    wall = base + ramp[..., None] * rng.uniform(-80, 80, 3)
    if rng.random() < 0.5:  # bricks, siding or tiles: stripes of another shade
        period = rng.uniform(4, 20) * max(height, 16) / 32
        stripes = (np.floor((yy if rng.random() < 0.7 else xx) / period) % 2)[..., None]
        wall = wall + stripes * rng.uniform(-40, 40, 3)
    coarse = rng.normal(0, rng.uniform(0, 25), (max(height // 8, 1), max(width // 8, 1), 3))
    coarse_img = Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)).resize(
        (width, height), Image.Resampling.BILINEAR
    )
    return wall + np.asarray(coarse_img, dtype=np.float64) - 128


def render_glyph(
    char: str,
    font: ImageFont.FreeTypeFont,
    canvas: tuple[int, int],
    origin: tuple[float, float],
    stroke: int = 0,
) -> np.ndarray:
    """Coverage mask of one character drawn at ``origin`` on a canvas: float (H, W) in [0, 1].

    ``stroke`` (pixels) thickens the glyph: house numbers are mostly bolder than book fonts.
    """
    layer = Image.new("L", canvas, 0)
    ImageDraw.Draw(layer).text(
        origin, char, fill=255, font=font, stroke_width=stroke, stroke_fill=255
    )
    return np.asarray(layer, dtype=np.float64) / 255.0


def ink_box(mask: np.ndarray, threshold: float = 0.3) -> np.ndarray | None:
    """Bounds ``[x0, y0, x1, y1]`` (pixels, half-open) of ``mask`` above ``threshold``; None
    where there is no ink."""
    ys, xs = np.nonzero(mask > threshold)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


def lay_out(
    rng: np.random.Generator, font: ImageFont.FreeTypeFont, digits: list[int], glyph_height: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The digits' ink masks (H, W) in [0, 1], left to right with random tracking, on a canvas
    padded around them, and the masks of any unlabelled neighbouring sign."""
    count = len(digits)
    stroke = int(rng.uniform(0, 0.09) * glyph_height) if rng.random() < 0.6 else 0
    advances = [font.getlength(str(d)) + 2 * stroke for d in digits]
    gap = rng.uniform(-0.05, 0.35) * glyph_height
    text_width = sum(advances) + gap * (count - 1)
    pad_x = rng.uniform(0.3, 1.5) * glyph_height
    pad_y = rng.uniform(0.3, 1.0) * glyph_height
    width = int(text_width + 2 * pad_x) + 1
    height = int(glyph_height * 1.4 + 2 * pad_y) + 1
    ascent = font.getbbox("0")[1]
    x = pad_x
    y = pad_y - ascent + rng.uniform(-0.1, 0.1) * glyph_height
    masks = []
    for digit, advance in zip(digits, advances):
        masks.append(render_glyph(str(digit), font, (width, height), (x + stroke, y), stroke))
        x += advance + gap

    # neighbouring signs: an unlabelled glyph whose body the model's crop will cut in half
    distractors = []
    if rng.random() < 0.25:
        char = (
            str(rng.integers(10)) if rng.random() < 0.6 else _LETTERS[rng.integers(len(_LETTERS))]
        )
        ink = np.maximum.reduce(masks)
        box = ink_box(ink)
        if box is not None:
            side = rng.random() < 0.5
            reach = 0.15 * (box[2] - box[0]) * rng.uniform(0.2, 0.9)
            dx = box[0] - reach - font.getlength(char) if side else box[2] + reach
            distractors.append(render_glyph(char, font, (width, height), (dx, y), stroke))
    return masks, distractors


def paint(
    rng: np.random.Generator,
    masks: list[np.ndarray],
    distractors: list[np.ndarray],
    glyph_height: int,
    background: np.ndarray,
) -> np.ndarray:
    """The scene as float RGB (H, W, 3): the ``background`` wall (H, W, 3), often a plate (and a
    frame) behind the number, the ink, and sometimes a shadow or a light falling across it."""
    height, width = masks[0].shape
    plate, ink_colour = colour_pair(rng)
    canvas = background.copy()
    ink_all = np.maximum.reduce(masks)
    box = ink_box(ink_all)
    if box is not None and rng.random() < 0.7:  # a plate behind the number
        px = rng.uniform(0.1, 0.6) * glyph_height
        py = rng.uniform(0.1, 0.4) * glyph_height
        x0, y0 = int(max(box[0] - px, 0)), int(max(box[1] - py, 0))
        x1, y1 = int(min(box[2] + px, width)), int(min(box[3] + py, height))
        canvas[y0:y1, x0:x1] = plate + rng.normal(0, 4, (y1 - y0, x1 - x0, 3))
        if rng.random() < 0.3:  # a painted or metal frame around the plate
            t = max(1, int(rng.uniform(0.04, 0.12) * glyph_height))
            frame = np.zeros((height, width), dtype=bool)
            frame[y0:y1, x0:x1] = True
            frame[y0 + t : y1 - t, x0 + t : x1 - t] = False
            canvas[frame] = ink_colour
    else:
        canvas = canvas * 0.5 + plate * 0.5
    for mask in masks + distractors:
        canvas = canvas * (1 - mask[..., None]) + ink_colour * mask[..., None]
    if rng.random() < 0.3:  # a shadow or a light falling across the photo
        yy, xx = np.mgrid[0:height, 0:width]
        edge = rng.uniform(0, width) + (yy - height / 2) * rng.uniform(-1, 1)
        canvas = canvas * np.where(xx > edge, rng.uniform(0.5, 1.2), 1.0)[..., None]
    return canvas
