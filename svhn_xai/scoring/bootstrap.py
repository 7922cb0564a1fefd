"""Intervals: bootstrap intervals of the presence heads' balanced accuracy, alone and paired,
and of the means a leaderboard reports (Wilson's interval for shares of hits).

A photo is the unit of resampling: its ten heads' answers stay together, as they come from one
forward pass on one image. Paired means two models scored on the same resampled photos, so the
interval of their difference is not inflated by which photos happened to be drawn.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import norm

from svhn_xai.model.classification import presence_scores


@dataclass(frozen=True)
class Interval:
    """A point estimate and its percentile bootstrap interval (``level``, e.g. 0.95)."""

    estimate: float
    low: float
    high: float
    level: float
    resamples: int
    # the fraction of resamples at or below zero: for a paired difference, how often the
    # "better" model was not better (a one-sided bootstrap p-value)
    at_or_below_zero: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _resampled_balanced_accuracy(
    predicted: np.ndarray, truth: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Balanced accuracy under each row of photo ``weights`` (B, N): shape (B,).

    ``predicted`` and ``truth`` are (N, D) booleans. A digit without positives or without
    negatives in a resample is left out of that resample's mean, as :func:`presence_scores`
    leaves it out of the point estimate.
    """
    w = weights.astype(np.float64)
    tp = w @ (predicted & truth)
    fn = w @ (~predicted & truth)
    tn = w @ (~predicted & ~truth)
    fp = w @ (predicted & ~truth)
    positives, negatives = tp + fn, tn + fp
    valid = (positives > 0) & (negatives > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_digit = np.where(valid, 0.5 * (tp / positives + tn / negatives), np.nan)
    counted = valid.sum(axis=1)
    return np.where(counted > 0, np.nansum(per_digit, axis=1) / np.maximum(counted, 1), np.nan)


def _weights(n: int, resamples: int, seed: int) -> np.ndarray:
    """How often each of ``n`` photos is drawn in each resample: (resamples, n) counts."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples)


def _interval(estimate: float, draws: np.ndarray, level: float, resamples: int) -> Interval:
    draws = draws[np.isfinite(draws)]
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    return Interval(
        float(estimate), float(low), float(high), level, resamples, float(np.mean(draws <= 0))
    )


def _check(probabilities: np.ndarray, presence: np.ndarray, digits: tuple[int, ...]) -> None:
    if probabilities.ndim != 2 or probabilities.shape != (len(presence), len(digits)):
        raise ValueError(
            f"probabilities must be (photos, digits) = ({len(presence)}, {len(digits)}), "
            f"got {probabilities.shape}"
        )


def balanced_accuracy_interval(
    probabilities: np.ndarray,
    presence: np.ndarray,
    digits: tuple[int, ...] = tuple(range(10)),
    resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
    threshold: float = 0.5,
) -> Interval:
    """Balanced accuracy of ``probabilities`` (N photos, len(digits)) against the multi-hot
    ``presence`` (N, 10), with a percentile bootstrap interval over the photos."""
    probabilities = np.asarray(probabilities)
    _check(probabilities, presence, digits)
    predicted = probabilities >= threshold
    truth = np.asarray(presence)[:, list(digits)] > 0.5
    estimate = presence_scores(probabilities, presence, digits, threshold)["balanced_accuracy"]
    draws = _resampled_balanced_accuracy(predicted, truth, _weights(len(truth), resamples, seed))
    return _interval(estimate, draws, level, resamples)


def paired_difference(
    new: np.ndarray,
    old: np.ndarray,
    presence: np.ndarray,
    digits: tuple[int, ...] = tuple(range(10)),
    resamples: int = 10_000,
    level: float = 0.95,
    seed: int = 0,
    threshold: float = 0.5,
) -> Interval:
    """Balanced accuracy of ``new`` minus that of ``old`` (both (N, len(digits)) probabilities
    on the same N photos), with a paired bootstrap interval: both are scored on each resample.

    ``new`` is measurably better when the whole interval lies above zero.
    """
    new, old = np.asarray(new), np.asarray(old)
    _check(new, presence, digits)
    _check(old, presence, digits)
    truth = np.asarray(presence)[:, list(digits)] > 0.5
    weights = _weights(len(truth), resamples, seed)
    draws = _resampled_balanced_accuracy(
        new >= threshold, truth, weights
    ) - _resampled_balanced_accuracy(old >= threshold, truth, weights)
    estimate = (
        presence_scores(new, presence, digits, threshold)["balanced_accuracy"]
        - presence_scores(old, presence, digits, threshold)["balanced_accuracy"]
    )
    return _interval(estimate, draws, level, resamples)


# -- intervals of the means a leaderboard reports ----------------------------------------------
RESAMPLES = 2000  # enough for the 2.5 and 97.5 percentiles to move less than the third decimal


def photo_weights(
    photos: Sequence[Hashable], resamples: int = RESAMPLES, seed: int = 0
) -> np.ndarray:
    """(resamples, N) weights of N pairs under a bootstrap that draws photos: each resample
    draws as many photos as there are, with replacement, and a pair counts as often as its
    photo was drawn. The pairs of one photo move together, as they come from one image."""
    groups = np.unique(np.asarray([str(p) for p in photos]), return_inverse=True)[1]
    if len(groups) == 0:
        return np.zeros((resamples, 0))
    counts = _weights(int(groups.max()) + 1, resamples, seed)
    return counts[:, groups].astype(np.float64)


def _percentiles(draws: np.ndarray, level: float) -> list[float]:
    draws = draws[np.isfinite(draws)]
    if draws.size == 0:
        return [float("nan"), float("nan")]
    tail = (1 - level) / 2 * 100
    return [float(v) for v in np.percentile(draws, [tail, 100 - tail])]


def mean_interval(values: np.ndarray, weights: np.ndarray, level: float = 0.95) -> list[float]:
    """``[low, high]``: the percentile interval of the weighted mean of ``values`` (N,) over the
    resamples' ``weights`` (B, N) (:func:`photo_weights`)."""
    values = np.asarray(values, dtype=np.float64)
    totals = weights.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return _percentiles((weights @ values) / totals, level)


def wilson_interval(share: float, n: int, level: float = 0.95) -> list[float]:
    """``[low, high]``: Wilson's score interval of a share of hits among ``n`` independent
    units (photos). Never zero-width at 0 or 1: 28 hits of 28 still leave room below."""
    if n <= 0:
        return [float("nan"), float("nan")]
    z = float(norm.ppf(1 - (1 - level) / 2))
    centre = (share + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(share * (1 - share) / n + z * z / (4 * n * n))
    return [float(max(0.0, centre - half)), float(min(1.0, centre + half))]


def best_threshold_share_draws(hits: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B,) draws of a share chosen at its best threshold: ``hits`` (N, T) says whether each
    pair clears the bar at each threshold; in every resample (``weights`` (B, N)) the threshold
    is chosen again, so the interval carries the optimism of choosing it."""
    shares = (weights @ np.asarray(hits, dtype=np.float64)) / weights.sum(1, keepdims=True)
    return shares.max(1)
