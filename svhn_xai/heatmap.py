"""From an attribution to a heatmap, a mask and a box: pure NumPy, no model.

Shapes: attributions are (C, H, W); relevance maps, heatmaps and masks are (H, W). Heatmaps are
normalised to [0, 1]. Boxes are ``[x0, y0, x1, y1]`` in pixels, half-open (see
:mod:`svhn_xai.data.item`): a mask's box runs from its first active column to one past its last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

REDUCTIONS = ("sum", "abs", "positive")
THRESHOLD_MODES = ("value", "topk", "otsu")


def reduce_channels(attribution: np.ndarray, mode: str = "positive") -> np.ndarray:
    """(C, H, W) -> (H, W).

    ``sum``: signed sum over channels (keeps LRP's conservation); ``abs``: sum of magnitudes
    (gradient signals whose sign carries no evidence); ``positive``: the positive part of the
    sum (evidence *for* the digit).
    """
    attribution = np.asarray(attribution, dtype=np.float64)
    if attribution.ndim == 2:
        attribution = attribution[None]
    if mode == "sum":
        return attribution.sum(0)
    if mode == "abs":
        return np.abs(attribution).sum(0)
    if mode == "positive":
        return np.clip(attribution.sum(0), 0, None)
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {mode!r}")


def normalise(relevance: np.ndarray, clip_percentile: float = 100.0) -> np.ndarray:
    """Scale a relevance map to [0, 1].

    Non-negative maps are divided by their maximum; signed maps are shifted so that their
    minimum becomes 0. With ``clip_percentile`` < 100 the top is the given percentile, and
    larger values (outliers that would squash the rest of the map) saturate at 1. A map with no
    spread (e.g. all zeros) becomes all zeros, which every threshold turns into an empty mask.
    """
    if not 0 < clip_percentile <= 100:
        raise ValueError(f"clip_percentile must be in (0, 100], got {clip_percentile}")
    m = np.nan_to_num(np.asarray(relevance, dtype=np.float64))
    lo = min(float(m.min()), 0.0)
    hi = float(np.percentile(m, clip_percentile)) if clip_percentile < 100 else float(m.max())
    if hi - lo <= 1e-12 * max(abs(hi), abs(lo), 1e-300) or hi <= lo:
        return np.zeros_like(m)
    return np.clip((m - lo) / (hi - lo), 0.0, 1.0)


def otsu_threshold(heat: np.ndarray, bins: int = 256) -> float:
    """Otsu's threshold of the positive values of ``heat`` (maximises between-class variance)."""
    values = heat[heat > 0]
    if values.size == 0 or values.min() == values.max():
        return 0.0
    hist, edges = np.histogram(values, bins=bins, range=(0.0, float(values.max())))
    centres = (edges[:-1] + edges[1:]) / 2
    weight0 = np.cumsum(hist)
    weight1 = weight0[-1] - weight0
    mean0 = np.cumsum(hist * centres) / np.maximum(weight0, 1)
    total = (hist * centres).sum()
    mean1 = (total - np.cumsum(hist * centres)) / np.maximum(weight1, 1)
    between = weight0 * weight1 * (mean0 - mean1) ** 2
    return float(edges[1:][np.argmax(between[:-1])]) if len(between) > 1 else 0.0


@dataclass(frozen=True)
class Mask:
    """A thresholded heatmap: ``mask`` (H, W) bool and the value it was cut at."""

    mask: np.ndarray
    threshold: float

    @property
    def empty(self) -> bool:
        return not self.mask.any()


def threshold(heat: np.ndarray, mode: str = "value", value: float = 0.5) -> Mask:
    """Active pixels of a [0, 1] heatmap.

    Modes:
        ``value``: pixels with ``heat > value``; ``value`` in [0, 1].
        ``topk``: the ``value`` per cent of pixels with the highest heat, ``value`` in (0, 100];
            pixels tied with the last one are included, and pixels with zero heat never are.
        ``otsu``: pixels above Otsu's threshold of the positive heat; ``value`` is ignored.
    The returned :class:`Mask` records the heat value the mask was cut at.
    """
    heat = np.asarray(heat, dtype=np.float64)
    if mode == "value":
        if not 0 <= value <= 1:
            raise ValueError(f"value threshold must be in [0, 1], got {value}")
        return Mask(heat > value, float(value))
    if mode == "topk":
        if not 0 < value <= 100:
            raise ValueError(f"top-k threshold must be a percentage in (0, 100], got {value}")
        count = max(1, int(round(value / 100 * heat.size)))
        cut = float(np.partition(heat.ravel(), -count)[-count])
        return Mask((heat >= cut) & (heat > 0), cut)
    if mode == "otsu":
        cut = otsu_threshold(heat)
        return Mask(heat > cut, cut)
    raise ValueError(f"threshold mode must be one of {THRESHOLD_MODES}, got {mode!r}")


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    """Bounding box ``[x0, y0, x1, y1]`` (half-open) of all active pixels; None when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)
