"""Scores of the presence heads: per-digit balanced accuracy, precision and recall."""

from __future__ import annotations

import numpy as np


def presence_scores(
    probabilities: np.ndarray, presence: np.ndarray, digits: tuple[int, ...], threshold: float = 0.5
) -> dict:
    """Score predictions of shape (N, len(digits)) against the multi-hot truth (N, 10).

    Returns ``{"balanced_accuracy", "accuracy", "per_digit": {d: {...}}}``; balanced accuracy of a
    digit is the mean of its recall and its specificity, and the overall figure is their mean
    over the digits (a digit without positives or negatives in the data is left out of it).
    """
    predicted = np.asarray(probabilities) >= threshold
    per_digit: dict[str, dict[str, float | int | None]] = {}
    balanced = []
    for k, digit in enumerate(digits):
        truth = np.asarray(presence)[:, digit] > 0.5
        pred = predicted[:, k]
        tp, fp = int(np.sum(pred & truth)), int(np.sum(pred & ~truth))
        fn, tn = int(np.sum(~pred & truth)), int(np.sum(~pred & ~truth))
        recall = tp / (tp + fn) if tp + fn else None
        specificity = tn / (tn + fp) if tn + fp else None
        precision = tp / (tp + fp) if tp + fp else None
        bal = (recall + specificity) / 2 if recall is not None and specificity is not None else None
        if bal is not None:
            balanced.append(bal)
        per_digit[str(digit)] = {
            "balanced_accuracy": bal,
            "precision": precision,
            "recall": recall,
            "specificity": specificity,
            "accuracy": (tp + tn) / len(truth) if len(truth) else None,
            "positives": tp + fn,
        }
    truth_all = np.asarray(presence)[:, list(digits)] > 0.5
    return {
        "balanced_accuracy": float(np.mean(balanced)) if balanced else None,
        "accuracy": float(np.mean(predicted == truth_all)) if len(truth_all) else None,
        "per_digit": per_digit,
    }
