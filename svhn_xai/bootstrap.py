"""Bootstrap intervals of the presence heads' balanced accuracy, alone and paired.

A photo is the unit of resampling: its ten heads' answers stay together, as they come from one
forward pass on one image. Paired means two models scored on the same resampled photos, so the
interval of their difference is not inflated by which photos happened to be drawn.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from svhn_xai.classification import presence_scores


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
