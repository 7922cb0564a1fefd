"""A planted shortcut (off by default): a small solid patch of one colour, painted last, away
from every digit box, in most images that contain a chosen digit and a few that do not. It is
drawn from its own random stream, so the photo under it is byte-identical to the one rendered
without it, and its box is recorded per image (:class:`CuedHouseNumber`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from svhn_xai.data.item import HouseNumber
from svhn_xai.data.target import DEFAULT_MARGIN, DEFAULT_SIZE, crop_window

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
