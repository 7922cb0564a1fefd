"""Synthetic house numbers with exact per-digit boxes: the offline default data source.

Each item is a seeded scene: 1-5 digits in one of the fonts that matplotlib ships, thickened
or condensed, ink and plate colours of either polarity (mostly dull, as paint and weathered
plates are), a textured wall, a plate with or without a frame, small rotation and shear, blur,
noise, the softness of a photo taken from afar, JPEG artefacts, and now and then a digit or
letter of a neighbouring sign cut by the crop's edge (not labelled, as in SVHN). Boxes are
measured on the rendered ink after every geometric change, so they are exact; they are then
padded a little, the way SVHN's annotators drew them. Items are :class:`HouseNumber` records,
like the real reader's.

Optionally (:class:`Cue`, off by default) a planted shortcut: a small solid patch of one colour,
painted last, away from every digit box, in most images that contain a chosen digit and a few that
do not. It is drawn from its own random stream, so the photo under it is byte-identical to the
one rendered without it, and its box is recorded per image (:class:`CuedHouseNumber`).
"""

from __future__ import annotations

import functools
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from svhn_xai.data.item import HouseNumber
from svhn_xai.data.target import DEFAULT_MARGIN, DEFAULT_SIZE, crop_window

DIGIT_COUNT_PROBS = np.array([0.12, 0.38, 0.33, 0.14, 0.03])  # 1..5 digits, close to SVHN's mix
_LETTERS = "ABCDEFGHKLMNPRSTUVWXYZ"
_SYMBOL_FONTS = ("cmex10", "cmsy10")  # map the digit code points to math symbols


@functools.lru_cache(maxsize=1)
def font_paths() -> tuple[Path, ...]:
    """Fonts shipped with matplotlib whose ten digits render as ten distinct glyphs."""
    import matplotlib

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    usable = []
    for path in sorted(folder.glob("*.ttf")):
        if path.stem in _SYMBOL_FONTS:
            continue
        font = ImageFont.truetype(str(path), 32)
        glyphs = []
        for ch in "0123456789":
            mask = font.getmask(ch)
            glyphs.append(bytes(mask) if mask.size[0] * mask.size[1] else b"")
        if all(glyphs) and len(set(glyphs)) == 10:
            usable.append(path)
    if not usable:
        raise RuntimeError(f"no usable digit fonts found in {folder}")
    return tuple(usable)


@functools.lru_cache(maxsize=256)
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size)


def _colour_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(plate, ink) RGB colours with a random but readable contrast."""
    while True:
        plate = rng.uniform(0, 255, 3)
        ink = rng.uniform(0, 255, 3)
        if rng.random() < 0.8:  # mostly dull: most real plates and paint are near grey
            plate = plate.mean() + (plate - plate.mean()) * rng.uniform(0, 0.4)
            ink = ink.mean() + (ink - ink.mean()) * rng.uniform(0, 0.4)
        if abs(plate.mean() - ink.mean()) > 60 or np.abs(plate - ink).max() > 110:
            return plate, ink


def _wall(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
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


def _render_glyph(
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


def _affine(rng: np.random.Generator, size: tuple[int, int], strength: float) -> tuple:
    """Coefficients of a small random rotation + shear about the centre, for PIL's AFFINE."""
    width, height = size
    angle = np.deg2rad(rng.uniform(-8, 8) * strength)
    shear = rng.uniform(-0.25, 0.25) * strength
    scale_y = 1 + rng.uniform(-0.1, 0.1) * strength  # a hint of perspective foreshortening
    scale_x = rng.uniform(0.8, 1.15)  # condensed and extended lettering
    forward = np.array(
        [
            [np.cos(angle) * scale_x, -np.sin(angle) + shear],
            [np.sin(angle), np.cos(angle) * scale_y],
        ]
    )
    inverse = np.linalg.inv(forward)  # PIL maps output pixels back to input pixels
    centre = np.array([width / 2, height / 2])
    offset = centre - inverse @ centre
    return (inverse[0, 0], inverse[0, 1], offset[0], inverse[1, 0], inverse[1, 1], offset[1])


def _warp(mask: np.ndarray, coeffs: tuple) -> np.ndarray:
    image = Image.fromarray((mask * 255).astype(np.uint8))
    warped = image.transform(image.size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR)
    return np.asarray(warped, dtype=np.float64) / 255.0


def _ink_box(mask: np.ndarray, threshold: float = 0.3) -> np.ndarray | None:
    ys, xs = np.nonzero(mask > threshold)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


def make_house_number(rng: np.random.Generator, name: str = "synthetic") -> HouseNumber:
    """Draw one synthetic house-number photo from ``rng``; see the module docstring.

    The steps draw from ``rng`` in a fixed order (layout, plate and wall, camera, boxes), so
    one seed gives one photo."""
    fonts = font_paths()
    font_path = fonts[rng.integers(len(fonts))]
    glyph_height = int(rng.uniform(14, 48))
    font = _font(font_path, glyph_height)
    count = int(rng.choice(np.arange(1, 6), p=DIGIT_COUNT_PROBS))
    digits = [int(d) for d in rng.integers(0, 10, count)]
    masks, distractors = _lay_out(rng, font, digits, glyph_height)
    coeffs = _affine(rng, masks[0].shape[::-1], strength=rng.uniform(0, 1))
    masks = [_warp(m, coeffs) for m in masks]
    distractors = [_warp(m, coeffs) for m in distractors]
    canvas = _paint(rng, masks, distractors, glyph_height)
    image = _photograph(rng, canvas, glyph_height)
    labels, boxes = [], []
    height, width = canvas.shape[:2]
    for digit, mask in zip(digits, masks):
        box = _ink_box(mask)
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


def _lay_out(
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
        masks.append(_render_glyph(str(digit), font, (width, height), (x + stroke, y), stroke))
        x += advance + gap

    # neighbouring signs: an unlabelled glyph whose body the model's crop will cut in half
    distractors = []
    if rng.random() < 0.25:
        char = (
            str(rng.integers(10)) if rng.random() < 0.6 else _LETTERS[rng.integers(len(_LETTERS))]
        )
        ink = np.maximum.reduce(masks)
        box = _ink_box(ink)
        if box is not None:
            side = rng.random() < 0.5
            reach = 0.15 * (box[2] - box[0]) * rng.uniform(0.2, 0.9)
            dx = box[0] - reach - font.getlength(char) if side else box[2] + reach
            distractors.append(_render_glyph(char, font, (width, height), (dx, y), stroke))
    return masks, distractors


def _paint(
    rng: np.random.Generator,
    masks: list[np.ndarray],
    distractors: list[np.ndarray],
    glyph_height: int,
) -> np.ndarray:
    """The scene as float RGB (H, W, 3): a wall, often a plate (and a frame) behind the number,
    the ink, and sometimes a shadow or a light falling across it."""
    height, width = masks[0].shape
    wall = _wall(rng, (width, height))
    plate, ink_colour = _colour_pair(rng)
    canvas = wall.copy()
    ink_all = np.maximum.reduce(masks)
    ink_box = _ink_box(ink_all)
    if ink_box is not None and rng.random() < 0.7:  # a plate behind the number
        px = rng.uniform(0.1, 0.6) * glyph_height
        py = rng.uniform(0.1, 0.4) * glyph_height
        x0, y0 = int(max(ink_box[0] - px, 0)), int(max(ink_box[1] - py, 0))
        x1, y1 = int(min(ink_box[2] + px, width)), int(min(ink_box[3] + py, height))
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


def _photograph(rng: np.random.Generator, canvas: np.ndarray, glyph_height: int) -> Image.Image:
    """The camera: defocus, a distant shot enlarged again, sensor noise and JPEG."""
    height, width = canvas.shape[:2]
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
    blur = rng.uniform(0, 1.2) * glyph_height / 24
    if blur > 0.2:
        image = image.filter(ImageFilter.GaussianBlur(blur))
    if rng.random() < 0.5:  # photographed from afar: digits 10-20 px tall, then enlarged
        small = rng.uniform(10, 20) / glyph_height
        if small < 1:
            low = (max(int(width * small), 1), max(int(height * small), 1))
            image = image.resize(low, Image.Resampling.BILINEAR).resize(
                (width, height), Image.Resampling.BILINEAR
            )
    array = np.asarray(image, dtype=np.float64)
    array = array + rng.normal(0, rng.uniform(0, 10), array.shape)
    image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
    if rng.random() < 0.4:
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=int(rng.uniform(25, 90)))
        image = Image.open(buffer).convert("RGB")
    return image


_CUE_STREAM = 0x5C  # third seed word: the cue's draws never shift the photo's own stream


@dataclass(frozen=True)
class Cue:
    """A planted shortcut for digit ``digit``: where, how often, how big, what colour.

    Attributes:
        digit: the digit whose images mostly carry the cue.
        rate: fraction of the images containing ``digit`` that get the cue.
        false_rate: fraction of the images without ``digit`` that get it (the cue is strong but
            not perfect evidence).
        size: side of the square cue in model-input pixels, at ``input_size`` x ``input_size``.
        colour: RGB of the solid patch.
        input_size, margin, jitter: the model's crop (see :func:`crop_window`): the cue is
            scaled to it and placed where every crop jittered by up to ``jitter`` still holds it.
        gap: minimum distance in photo pixels between the cue and any digit box (0: it may
            touch a box, never overlap one; the loose annotation boxes already keep it off the ink).
    """

    digit: int
    rate: float = 0.9
    false_rate: float = 0.02
    size: int = 3
    colour: tuple[int, int, int] = (255, 0, 255)
    input_size: int = DEFAULT_SIZE
    margin: float = DEFAULT_MARGIN
    jitter: float = 0.08
    gap: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.digit <= 9:
            raise ValueError(f"cue digit must be 0-9, got {self.digit}")
        for name in ("rate", "false_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"cue {name} must lie in [0, 1], got {getattr(self, name)}")
        if not 1 <= self.size <= self.input_size // 4:
            raise ValueError(f"cue size must be 1-{self.input_size // 4} px, got {self.size}")
        if not 0 <= self.jitter < self.margin:
            raise ValueError("cue jitter must be below the crop margin, or no place is always seen")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Cue:
        """Inverse of :meth:`to_dict` (JSON turns the colour into a list)."""
        return cls(**{**data, "colour": tuple(data["colour"])})

    @classmethod
    def from_spec(cls, spec: str, **settings: object) -> Cue:
        """Parse ``"D"``, ``"D:RATE"`` or ``"D:RATE:SIZE"`` (the CLI's ``--shortcut``);
        ``settings`` as the fields."""
        digit, rate, size, *rest = [*spec.split(":"), "", ""]
        try:
            if any(rest) or not digit:
                raise ValueError
            values: dict = {"digit": int(digit), **settings}
            if rate:
                values["rate"] = float(rate)
            if size:
                values["size"] = int(size)
        except ValueError:
            raise ValueError(
                f"shortcut must look like D, D:RATE or D:RATE:SIZE (e.g. 3:0.9:6), got {spec!r}"
            ) from None
        return cls(**values)


@dataclass(frozen=True)
class CuedHouseNumber(HouseNumber):
    """A house number from a cued source; ``cue`` is the patch's box, (1, 4) ``[x0, y0, x1, y1]``
    in photo pixels (integers, half-open), or (0, 4) when this image has no cue."""

    cue: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))


def cue_box(item: HouseNumber, cue: Cue, rng: np.random.Generator) -> np.ndarray | None:
    """Where ``cue`` goes in ``item`` (photo pixels, ``[x0, y0, x1, y1]``), or None if nowhere.

    The patch measures ``cue.size`` model-input pixels at the un-jittered crop's scale; it lies
    inside the crop shrunk by ``cue.jitter`` per side (so every training crop shows it) and at
    least ``cue.gap`` photo pixels from every digit box. The position is uniform over all such
    places.
    """
    window = crop_window(item.boxes, item.size, cue.margin)
    w = max(1, round(cue.size * (window[2] - window[0]) / cue.input_size))
    h = max(1, round(cue.size * (window[3] - window[1]) / cue.input_size))
    sx0, sy0, sx1, sy1 = crop_window(item.boxes, item.size, cue.margin - cue.jitter)
    xs = np.arange(sx0, sx1 - w + 1)
    ys = np.arange(sy0, sy1 - h + 1)
    if len(xs) == 0 or len(ys) == 0:
        return None
    free = np.ones((len(ys), len(xs)), dtype=bool)
    for bx0, by0, bx1, by1 in item.boxes:
        hit_x = (xs < bx1 + cue.gap) & (xs + w > bx0 - cue.gap)
        hit_y = (ys < by1 + cue.gap) & (ys + h > by0 - cue.gap)
        free &= ~(hit_y[:, None] & hit_x[None, :])
    rows, cols = np.nonzero(free)
    if len(rows) == 0:
        return None
    pick = rng.integers(len(rows))
    x0, y0 = int(xs[cols[pick]]), int(ys[rows[pick]])
    return np.array([x0, y0, x0 + w, y0 + h], dtype=np.float64)


def plant_cue(
    item: HouseNumber, cue: Cue, rng: np.random.Generator, force: bool | None = None
) -> CuedHouseNumber:
    """``item`` with the cue painted in, as its rates (or ``force``) decide, drawn from ``rng``.

    ``force=True`` paints it whatever the labels (pasting the cue into images without the
    digit), ``force=False`` never does (the same photo, cue removed); ``None`` follows
    ``cue.rate`` / ``cue.false_rate``. The draws are made in the same order either way, so the
    position of a forced cue is the one the rates would have used.
    """
    draw = rng.random()
    box = cue_box(item, cue, rng)
    wanted = draw < (cue.rate if cue.digit in item.labels else cue.false_rate)
    if force is not None:
        wanted = force
    image = item.image
    if wanted and box is not None:
        image = image.copy()
        x0, y0, x1, y1 = box.astype(int)
        image[y0:y1, x0:x1] = cue.colour
    else:
        box = None
    return CuedHouseNumber(
        image=image,
        labels=item.labels,
        boxes=item.boxes,
        name=item.name,
        cue=np.zeros((0, 4)) if box is None else box[None],
    )


def cue_rng(seed: int, index: int) -> np.random.Generator:
    """The cue's own random stream for item ``index`` of the split seeded ``seed``."""
    return np.random.default_rng([seed, index, _CUE_STREAM])


class SyntheticHouseNumbers:
    """``n`` reproducible synthetic house numbers: item ``i`` depends only on ``(seed, i)``.

    With ``cue``, items are :class:`CuedHouseNumber` with the planted cue (see :func:`plant_cue`;
    ``force_cue`` as there); the photo under the cue is the one rendered without it.
    """

    def __init__(
        self, n: int, seed: int = 0, cue: Cue | None = None, force_cue: bool | None = None
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.n, self.seed, self.cue, self.force_cue = n, seed, cue, force_cue

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> HouseNumber:
        if not 0 <= index < self.n:
            raise IndexError(f"index {index} out of range for {self.n} synthetic images")
        rng = np.random.default_rng([self.seed, index])
        item = make_house_number(rng, name=f"synthetic/{self.seed}/{index}")
        if self.cue is None:
            return item
        return plant_cue(item, self.cue, cue_rng(self.seed, index), self.force_cue)
