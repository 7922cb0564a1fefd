"""From an attribution to a heatmap, a mask and a box: pure NumPy, no model.

Shapes: attributions are (C, H, W); relevance maps, heatmaps and masks are (H, W). Heatmaps are
relevance divided by its largest magnitude: in [-1, 1], zero relevance at 0, and every mask
rule keeps positive evidence only. Boxes are ``[x0, y0, x1, y1]`` in pixels, half-open (see
:mod:`svhn_xai.data.item`): a mask's box runs from its first active column to one past its last.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

REDUCTIONS = ("sum", "abs", "positive")
THRESHOLD_MODES = ("value", "topk", "otsu", "truth_area")


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
    """Scale a relevance map (H, W), or each map of a stack (..., H, W), by its largest
    magnitude, keeping zero at zero.

    The result lies in [-1, 1] (in [0, 1] for a non-negative map): ``relevance / max|R|``, so a
    pixel with no relevance is 0 whatever the map's sign mix, and thresholds cut the positive
    evidence only. With ``clip_percentile`` < 100 the scale is that percentile of ``|R|``, and
    larger magnitudes (outliers that would squash the rest of the map) saturate at +-1. A map
    with no spread (all zeros) becomes all zeros, which every threshold turns into an empty mask.
    Non-finite values become 0 here (for display); :func:`svhn_xai.scoring.localisation.localise`
    refuses to score such a map.
    """
    if not 0 < clip_percentile <= 100:
        raise ValueError(f"clip_percentile must be in (0, 100], got {clip_percentile}")
    m = np.nan_to_num(np.asarray(relevance, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    magnitude = np.abs(m)
    axes = (-2, -1)  # each map of a stack (..., H, W) on its own
    largest = magnitude.max(axis=axes, keepdims=True, initial=0.0)
    scale = (
        np.percentile(magnitude, clip_percentile, axis=axes, keepdims=True)
        if clip_percentile < 100
        else largest
    )
    # a clip percentile that falls on zeros (a sparse map): scale by the largest instead
    scale = np.where(scale > 0, scale, largest)
    out = np.clip(m / np.where(scale > 0, scale, 1.0), -1.0, 1.0)
    return np.where(scale > 0, out, 0.0)


def smooth(relevance: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smoothed (H, W) map (or stack of maps (..., H, W)), ``sigma`` in pixels (0:
    unchanged); borders reflected.

    Pixel-level gradient maps are speckle; smoothing before thresholding turns a cloud of
    isolated hot pixels into the region they mark (linear, so signs and zero are kept).
    """
    if sigma < 0:
        raise ValueError(f"smoothing sigma must be >= 0 pixels, got {sigma}")
    m = np.asarray(relevance, dtype=np.float64)
    if sigma == 0:
        return m
    from scipy.ndimage import gaussian_filter

    # a stack (..., H, W): each map on its own, none along the leading axes
    sigmas = (0.0,) * (m.ndim - 2) + (sigma, sigma)
    return gaussian_filter(m, sigmas, mode="reflect", truncate=3.0)


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


TIE_SEED = 0  # the seed of the fixed pixel priorities that break ties at a top-k cut


@lru_cache(maxsize=8)
def _priority(size: int) -> np.ndarray:
    """A fixed random rank of every pixel index (0 first): the order in which pixels tied at a
    top-k cut are taken. Seeded, so the same map always gets the same mask; random, so a flat
    region is never cut by pixel position (top rows first)."""
    out = np.random.default_rng(TIE_SEED).permutation(size)
    out.flags.writeable = False
    return out


def _top(heat: np.ndarray, count: int) -> Mask:
    """Exactly ``count`` hottest pixels (fewer only when fewer have positive heat): pixels tied
    with the last place are taken in :func:`_priority` order, so a flat map (the whole-image
    baseline) is held to the same budget as every other map."""
    flat = heat.ravel()
    count = int(min(max(count, 1), flat.size))
    cut = float(np.partition(flat, -count)[-count])
    if cut <= 0:  # fewer positive pixels than places: all of them, never a non-positive one
        return Mask(heat > 0, cut)
    mask = flat > cut
    tied = np.flatnonzero(flat == cut)
    take = count - int(mask.sum())
    mask[tied[np.argsort(_priority(flat.size)[tied], kind="stable")[:take]]] = True
    return Mask(mask.reshape(heat.shape), cut)


def threshold(
    heat: np.ndarray, mode: str = "value", value: float = 0.5, area: int | None = None
) -> Mask:
    """Active pixels of a heatmap (normalised by :func:`normalise`); never a non-positive one.

    Modes:
        ``value``: pixels with ``heat > value``; ``value`` in [0, 1].
        ``topk``: the ``value`` per cent of pixels with the highest heat, ``value`` in (0, 100].
        ``otsu``: pixels above Otsu's threshold of the positive heat; ``value`` is ignored.
        ``truth_area``: the ``area`` hottest pixels, ``area`` being the pixel count of the target
            digit's boxes (as relevance rank accuracy counts them, Arras et al. 2022); ``value``
            is ignored, and ``area`` is required.
    In ``topk`` and ``truth_area`` the mask holds exactly that many pixels (fewer only when
    fewer have positive heat): ties at the cut are broken by a fixed, seeded pixel order.
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
        return _top(heat, int(round(value / 100 * heat.size)))
    if mode == "otsu":
        cut = otsu_threshold(heat)
        return Mask(heat > cut, cut)
    if mode == "truth_area":
        if area is None or area < 1:
            raise ValueError("threshold mode 'truth_area' needs the target's box area in pixels")
        return _top(heat, area)
    raise ValueError(f"threshold mode must be one of {THRESHOLD_MODES}, got {mode!r}")


def mask_box(mask: np.ndarray) -> np.ndarray | None:
    """Bounding box ``[x0, y0, x1, y1]`` (half-open) of all active pixels; None when empty."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)
