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
- an empty mask scores 0 on both, and the result says ``empty_mask``;
- pointing game, relevance mass and rank accuracy are computed on the raw relevance map (after
  channel reduction), so no normalisation, clipping or threshold changes them.
Each metric is declared, with its label, direction and averaging, in
:mod:`svhn_xai.scoring.registry`, which also computes all of them on one map; localisation scores
lie in [0, 1].
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy.ndimage import distance_transform_edt


def box_mask(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) bool mask of the union of ``boxes`` (K, 4); pixel centres decide membership.

    Read-only, and cached: a pair's every map (and every baseline) is scored against the same
    boxes, and each score needs their mask."""
    return _box_mask(_key(boxes), (int(shape[0]), int(shape[1])))


def _key(boxes: np.ndarray) -> bytes:
    return np.ascontiguousarray(boxes, dtype=np.float64).reshape(-1, 4).tobytes()


@lru_cache(maxsize=256)
def _box_mask(key: bytes, shape: tuple[int, int]) -> np.ndarray:
    height, width = shape
    cols = np.arange(width) + 0.5
    rows = np.arange(height) + 0.5
    out = np.zeros(shape, dtype=bool)
    for x0, y0, x1, y1 in np.frombuffer(key, dtype=np.float64).reshape(-1, 4):
        out |= ((rows >= y0) & (rows < y1))[:, None] & ((cols >= x0) & (cols < x1))[None, :]
    out.flags.writeable = False
    return out


@lru_cache(maxsize=256)
def _distance_to_boxes(key: bytes, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) Euclidean distance from each pixel centre to the nearest box pixel's centre
    (cached as :func:`box_mask` is: the same for every map of a pair)."""
    out = distance_transform_edt(~_box_mask(key, shape))
    out.flags.writeable = False
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


def _box_ious(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) :func:`box_iou` of every box of ``a`` (N, 4) with every box of ``b`` (M, 4)."""
    iw = np.clip(
        np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None
    )
    ih = np.clip(
        np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None
    )
    inter = iw * ih
    area = lambda x: np.clip(x[:, 2] - x[:, 0], 0, None) * np.clip(x[:, 3] - x[:, 1], 0, None)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


TOLERANCE_AT_224 = 15.0  # TorchRay's pointing-game tolerance, in pixels of a 224 px input


def tolerance_px(size: int) -> float:
    """TorchRay's 15 px at 224 px, scaled to a ``size`` px model input (4.3 px at 64)."""
    return TOLERANCE_AT_224 * size / 224


def _peaks(relevance: np.ndarray) -> np.ndarray | None:
    """(H, W) bool mask of the pixels holding the map's maximum; None when nothing is positive."""
    relevance = np.asarray(relevance, dtype=np.float64)
    top = relevance.max()
    return relevance >= top if top > 0 else None


def pointing_game(relevance: np.ndarray, boxes: np.ndarray) -> float:
    """1 if the map's maximum lies in a target box, else 0 (Zhang et al. 2018).

    With ties for the maximum (a flat map), the fraction of maximal pixels inside: the expected
    hit of breaking the tie at random. A map with no positive value scores 0.
    """
    peaks = _peaks(relevance)
    if peaks is None:
        return 0.0
    inside = box_mask(boxes, peaks.shape)
    return float((peaks & inside).sum() / peaks.sum())


def pointing_game_tolerant(
    relevance: np.ndarray, boxes: np.ndarray, tolerance: float | None = None
) -> float:
    """Pointing game with TorchRay's tolerance: a hit when some pixel of a target box lies
    closer than ``tolerance`` pixels to the maximum (centre to centre, strictly, as TorchRay's
    ``PointingGame.evaluate``). ``tolerance`` defaults to :func:`tolerance_px` of the map's
    width. Ties for the maximum count as in :func:`pointing_game`.
    """
    peaks = _peaks(relevance)
    if peaks is None:
        return 0.0
    tol = tolerance_px(peaks.shape[1]) if tolerance is None else float(tolerance)
    key = _key(boxes)
    if not _box_mask(key, peaks.shape).any():
        return 0.0
    distance = _distance_to_boxes(key, peaks.shape)
    return float((peaks & (distance < tol)).sum() / peaks.sum())


def relevance_mass(relevance: np.ndarray, boxes: np.ndarray) -> float:
    """Share of the positive relevance that falls inside the target boxes (relevance mass
    accuracy, Arras et al. 2022; Quantus's energy-based pointing game). Computed on the raw
    relevance: no normalisation or clipping changes it. A map with no positive value scores 0.
    """
    positive = np.clip(np.asarray(relevance, dtype=np.float64), 0, None)
    total = positive.sum()
    if total <= 0:
        return 0.0
    return float(positive[box_mask(boxes, positive.shape)].sum() / total)


def _top_share(relevance: np.ndarray, inside: np.ndarray, k: int) -> float:
    """Expected share of the ``k`` highest-ranked pixels that lie ``inside``, ties for the last
    places broken at random (so a flat map scores the box's share of the image, not whatever
    a sort order happens to put first)."""
    values = np.asarray(relevance, dtype=np.float64).ravel()
    inside = inside.ravel()
    k = int(min(max(k, 1), values.size))
    cut = np.partition(values, -k)[-k]
    above = values > cut
    tied = values == cut
    hits = (above & inside).sum() + (k - above.sum()) * (tied & inside).sum() / tied.sum()
    return float(hits / k)


def rank_accuracy(relevance: np.ndarray, boxes: np.ndarray) -> float:
    """Relevance rank accuracy (Arras et al. 2022): of the |B| highest-ranked pixels, |B| being
    the pixel count of the target boxes, the share inside them. Ties at the cut are broken at
    random in expectation (see :func:`_top_share`)."""
    relevance = np.asarray(relevance, dtype=np.float64)
    inside = box_mask(boxes, relevance.shape)
    return _top_share(relevance, inside, int(inside.sum()))


def topk_intersection(relevance: np.ndarray, boxes: np.ndarray, k: int) -> float:
    """Top-k intersection (Theiner et al. 2021, as in Quantus): of the ``k`` highest-ranked
    pixels, the share inside the target boxes; ties as in :func:`rank_accuracy`."""
    relevance = np.asarray(relevance, dtype=np.float64)
    return _top_share(relevance, box_mask(boxes, relevance.shape), k)


def pxap(heat: np.ndarray, boxes: np.ndarray) -> float:
    """Pixel average precision (PxAP, Choe et al. 2020) of a heatmap (H, W) against the target
    boxes' pixel mask: the area under the precision-recall curve of the positive heat as a
    pixel classifier, summed over its distinct values from the hottest down as scikit-learn's
    ``average_precision_score`` does (tied pixels enter together, so a constant map scores the
    boxes' share of the image). Threshold-free; in [0, 1]. Non-positive heat is one tie at 0:
    no mask rule ever keeps it, so its order carries nothing.
    """
    values = np.clip(np.asarray(heat, dtype=np.float64), 0, None).ravel()
    truth = box_mask(boxes, np.shape(heat)).ravel()
    positives = int(truth.sum())
    if positives == 0:
        return 0.0
    order = np.argsort(-values, kind="stable")
    ranked, hits = values[order], truth[order]
    # the last pixel of each run of equal values: where the curve gets its next point
    ends = np.flatnonzero(np.r_[ranked[1:] != ranked[:-1], True])
    tp = np.cumsum(hits)[ends]
    recall = tp / positives
    precision = tp / (ends + 1)
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


BOX_ACC_DELTAS = (0.3, 0.5, 0.7)  # MaxBoxAccV2's IoU bars (Choe et al. 2020)
BOX_ACC_GRID = np.round(np.arange(0.0, 1.0, 0.01), 2)  # its heat thresholds, as wsolevaluation's


def box_accuracy(iou_2: float) -> float:
    """One pair's share of :data:`BOX_ACC_DELTAS` its heatmap box clears (IoU_2 >= delta): the
    pair's term of MaxBoxAccV2 at the threshold it was cut at. Over a data set the threshold is
    chosen per delta where the share is highest (:func:`max_box_accuracy`)."""
    return float(np.mean([iou_2 >= d for d in BOX_ACC_DELTAS]))


def max_box_accuracy(iou_2: np.ndarray, thresholds: np.ndarray) -> dict[str, object]:
    """MaxBoxAccV2 (Choe et al. 2020) of a set of pairs: ``iou_2`` (N, T) is each pair's IoU_2
    at each of ``thresholds`` (T,). For each delta of :data:`BOX_ACC_DELTAS`, the share of pairs
    with IoU_2 >= delta at the threshold where that share is highest; the score is their mean.

    Returns ``{"max_box_acc", "per_delta": {delta: share}, "thresholds": {delta: threshold}}``.
    """
    iou_2 = np.asarray(iou_2, dtype=np.float64)
    per_delta, chosen = {}, {}
    for delta in BOX_ACC_DELTAS:
        shares = (iou_2 >= delta).mean(0)
        best = int(np.argmax(shares))
        per_delta[str(delta)], chosen[str(delta)] = float(shares[best]), float(thresholds[best])
    return {
        "max_box_acc": float(np.mean(list(per_delta.values()))),
        "per_delta": per_delta,
        "thresholds": chosen,
    }


THRESHOLD_GRID = np.round(np.linspace(0.0, 0.95, 20), 2)


def iou_curve(
    heat: np.ndarray, boxes: np.ndarray, thresholds: np.ndarray = THRESHOLD_GRID
) -> dict[str, list[float] | float]:
    """IoU_1 and IoU_2 at each value threshold of a normalised heatmap, each curve's area (mean
    over the grid) and its maximum (``oracle_iou_1``/``oracle_iou_2``: the best threshold chosen
    on the very image it scores, an oracle, reported as such and given to baselines too)."""
    return iou_curves(np.asarray(heat)[None], boxes, thresholds)[0]


def iou_curves(
    heats: np.ndarray, boxes: np.ndarray, thresholds: np.ndarray = THRESHOLD_GRID
) -> list[dict[str, list[float] | float]]:
    """:func:`iou_curve` of each of several heatmaps (M, H, W) of one image, computed together
    (dataset evaluation scores seven maps per pair: one call instead of seven)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    truth = box_mask(boxes, heats.shape[1:])
    t = np.asarray(thresholds, dtype=np.float64)
    # pixels above each threshold, as threshold(heat, "value", t) cuts them, counted from the
    # sorted values instead of one mask per threshold: (M, T)
    inside, every = np.sort(heats[:, truth], 1), np.sort(heats.reshape(len(heats), -1), 1)
    inter = np.stack([inside.shape[1] - np.searchsorted(v, t, "right") for v in inside])
    active = np.stack([every.shape[1] - np.searchsorted(v, t, "right") for v in every])
    union = active + int(truth.sum()) - inter
    iou_1 = np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)
    # which rows / columns hold a pixel above each threshold: (M, T, H), (M, T, W)
    rows = heats.max(2)[:, None] > t[None, :, None]
    cols = heats.max(1)[:, None] > t[None, :, None]
    first = lambda a: np.argmax(a, 2)  # noqa: E731
    last = lambda a: a.shape[2] - np.argmax(a[..., ::-1], 2)  # noqa: E731  (half-open end)
    hboxes = np.stack([first(cols), first(rows), last(cols), last(rows)], 2).astype(np.float64)
    best = _box_ious(hboxes.reshape(-1, 4), boxes).max(1).reshape(len(heats), len(t))
    iou_2 = np.where(rows.any(2), best, 0.0)
    grid = [float(v) for v in t]
    return [
        {
            "thresholds": grid,
            "iou_1": one.tolist(),
            "iou_2": two.tolist(),
            "auc_iou_1": float(np.mean(one)),
            "auc_iou_2": float(np.mean(two)),
            "oracle_iou_1": float(np.max(one)),
            "oracle_iou_2": float(np.max(two)),
            "oracle_threshold": grid[int(np.argmax(one))],
        }
        for one, two in zip(iou_1, iou_2)
    ]


BASELINES = ("whole_image", "centre_gaussian", "uniform_random")
# baselines whose score on one image is one random draw: over many images their mean is chance,
# on one image their pointing-game hit or miss is luck, no bar for a method to clear there
DRAWN_BASELINES = frozenset({"uniform_random"})


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
