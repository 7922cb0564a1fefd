"""Localisation scores of a heatmap against the target digit's ground-truth boxes (pure NumPy).

Conventions (stated once, used everywhere):
- boxes are ``[x0, y0, x1, y1]`` in pixels, half-open; a pixel (row r, column c) belongs to a
  box when its centre ``(c + 0.5, r + 0.5)`` lies inside, which for integer boxes means
  ``x0 <= c < x1`` and ``y0 <= r < y1``;
- **IoU_1** (pixel level): active pixels of the thresholded heatmap vs the union of the target
  digit's boxes, as pixel sets;
- **IoU_2** (box level): the box around all active pixels vs a ground-truth box, areas
  ``(x1 - x0) * (y1 - y0)`` (as ``torchvision.ops.box_iou`` computes them); when the digit
  appears more than once, the best-matching box counts;
- an empty mask scores 0 on both, and the result says ``empty_mask``.
All scores are higher-is-better and lie in [0, 1].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from svhn_xai.heatmap import mask_box, threshold


def box_mask(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool mask of the union of ``boxes`` (K, 4); pixel centres decide membership."""
    height, width = shape
    cols = np.arange(width) + 0.5
    rows = np.arange(height) + 0.5
    out = np.zeros(shape, dtype=bool)
    for x0, y0, x1, y1 in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        out |= ((rows >= y0) & (rows < y1))[:, None] & ((cols >= x0) & (cols < x1))[None, :]
    return out


def iou_pixels(mask: np.ndarray, truth: np.ndarray) -> float:
    """IoU of two (H, W) bool masks: |A ∩ B| / |A ∪ B|; 0 when both are empty."""
    union = np.logical_or(mask, truth).sum()
    return float(np.logical_and(mask, truth).sum() / union) if union else 0.0


def box_iou(a: np.ndarray, b: np.ndarray) -> float:
    """IoU of two half-open boxes: intersection from max of starts and min of ends."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    union = area_a + area_b - inter
    return float(inter / union) if union > 0 else 0.0


def pointing_game(heat: np.ndarray, boxes: np.ndarray) -> float:
    """1 if the heatmap's maximum lies in a target box, else 0.

    With ties for the maximum (a flat map), the fraction of maximal pixels inside: the expected
    hit of breaking the tie at random. A map with no positive value scores 0.
    """
    heat = np.asarray(heat)
    if heat.max() <= 0:
        return 0.0
    peaks = heat >= heat.max()
    inside = box_mask(boxes, heat.shape)
    return float((peaks & inside).sum() / peaks.sum())


def relevance_mass(relevance: np.ndarray, boxes: np.ndarray) -> float:
    """Share of the positive relevance that falls inside the target boxes (Arras et al. 2022)."""
    positive = np.clip(np.asarray(relevance, dtype=np.float64), 0, None)
    total = positive.sum()
    if total <= 0:
        return 0.0
    return float(positive[box_mask(boxes, positive.shape)].sum() / total)


@dataclass(frozen=True)
class Scores:
    """Localisation scores of one heatmap at one threshold."""

    iou_1: float
    iou_2: float
    pointing_game: float
    relevance_mass: float
    threshold: float  # the heat value the mask was cut at
    heatmap_box: list[float] | None  # [x0, y0, x1, y1] of the active pixels
    empty_mask: bool
    active_fraction: float  # share of the image's pixels in the mask

    def to_dict(self) -> dict:
        return asdict(self)


def score(heat: np.ndarray, boxes: np.ndarray, mode: str = "value", value: float = 0.5) -> Scores:
    """All scores of a [0, 1] heatmap (H, W) against the target digit's boxes (K, 4)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        raise ValueError("the target digit has no box in this image: nothing to localise")
    cut = threshold(heat, mode, value)
    truth = box_mask(boxes, heat.shape)
    hbox = mask_box(cut.mask)
    iou_2 = max(box_iou(hbox, b) for b in boxes) if hbox is not None else 0.0
    return Scores(
        iou_1=iou_pixels(cut.mask, truth),
        iou_2=iou_2,
        pointing_game=pointing_game(heat, boxes),
        relevance_mass=relevance_mass(heat, boxes),
        threshold=cut.threshold,
        heatmap_box=None if hbox is None else hbox.tolist(),
        empty_mask=cut.empty,
        active_fraction=float(cut.mask.mean()),
    )


THRESHOLD_GRID = np.round(np.linspace(0.0, 0.95, 20), 2)


def iou_curve(
    heat: np.ndarray, boxes: np.ndarray, thresholds: np.ndarray = THRESHOLD_GRID
) -> dict[str, list[float] | float]:
    """IoU_1 and IoU_2 at each value threshold, plus each curve's area (mean over the grid)."""
    iou_1, iou_2 = [], []
    for t in thresholds:
        s = score(heat, boxes, "value", float(t))
        iou_1.append(s.iou_1)
        iou_2.append(s.iou_2)
    return {
        "thresholds": [float(t) for t in thresholds],
        "iou_1": iou_1,
        "iou_2": iou_2,
        "auc_iou_1": float(np.mean(iou_1)),
        "auc_iou_2": float(np.mean(iou_2)),
    }


BASELINES = ("whole_image", "centre_gaussian", "uniform_random")


def baseline_heatmap(name: str, shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A heatmap that knows nothing about the image, for scores to be compared against.

    ``whole_image``: every pixel 1 (its IoU_1 is the box's share of the image);
    ``centre_gaussian``: a Gaussian bump at the centre, sigma a quarter of each side (digits
    are centred by the crop); ``uniform_random``: i.i.d. uniform noise from ``seed``.
    """
    height, width = shape
    if name == "whole_image":
        return np.ones(shape)
    if name == "centre_gaussian":
        y = (np.arange(height) + 0.5 - height / 2) / (height / 4)
        x = (np.arange(width) + 0.5 - width / 2) / (width / 4)
        return np.exp(-0.5 * (y[:, None] ** 2 + x[None, :] ** 2))
    if name == "uniform_random":
        return np.random.default_rng(seed).random(shape)
    raise ValueError(f"baseline must be one of {BASELINES}, got {name!r}")


def baseline_scores(
    boxes: np.ndarray,
    shape: tuple[int, int],
    mode: str = "value",
    value: float = 0.5,
    seed: int = 0,
) -> dict[str, Scores]:
    """:func:`score` of every baseline heatmap, thresholded exactly like a method's heatmap."""
    return {
        name: score(baseline_heatmap(name, shape, seed), boxes, mode, value) for name in BASELINES
    }
