"""From per-pair records to a leaderboard: means with intervals that resample photos, and who
beats which baseline.

A pair is one (photo, digit present); a photo with two digits gives two pairs whose scores move
together, so every interval resamples photos (all of a photo's pairs together), never pairs:

- a mean: percentile bootstrap over photos (:func:`svhn_xai.scoring.bootstrap.mean_interval`);
- a share of hits (pointing game): Wilson's score interval over the photos, so 28 hits of 28
  never read as ±0;
- MaxBoxAccV2: its threshold is chosen over the set, and again inside every resample, and the
  interval is widened to at least Wilson's.

A method *beats* a baseline on a score when its whole interval lies on the better side of that
baseline's mean, and it is compared with the strongest baseline on each score.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from svhn_xai.scoring.bootstrap import (
    RESAMPLES,
    best_threshold_share_draws,
    mean_interval,
    photo_weights,
    wilson_interval,
)
from svhn_xai.scoring.metrics import BASELINES, BOX_ACC_DELTAS, BOX_ACC_GRID, max_box_accuracy
from svhn_xai.scoring.registry import METRICS, directions

INTERVAL = (
    f"95 % intervals over photos (all of a photo's pairs together): percentile bootstrap of "
    f"the mean ({RESAMPLES} resamples); Wilson score interval for shares of hits (pointing "
    f"game); MaxBoxAccV2's threshold re-chosen in every resample, and its interval never "
    f"narrower than the Wilson interval of its share of hits"
)
LEVEL = 0.95


def _max_box_acc(picked: list[dict[str, Any]], weights: np.ndarray) -> dict:
    """MaxBoxAccV2 of the picked records (each with ``iou_2_by_threshold`` on
    :data:`BOX_ACC_GRID`), its interval and the threshold chosen for each delta."""
    curves = np.asarray([p["iou_2_by_threshold"] for p in picked], dtype=np.float64)
    best = max_box_accuracy(curves, BOX_ACC_GRID)
    draws = np.mean(
        [best_threshold_share_draws(curves >= d, weights) for d in BOX_ACC_DELTAS], axis=0
    )
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(draws, [tail, 100 - tail])
    photos = len({p["_photo"] for p in picked})
    w_low, w_high = wilson_interval(best["max_box_acc"], photos, LEVEL)
    return {
        "max_box_acc": best["max_box_acc"],
        "max_box_acc_ci": [float(min(low, w_low)), float(max(high, w_high))],
        "max_box_acc_thresholds": best["thresholds"],
    }


def _means(picked: list[dict[str, Any]]) -> dict[str, Any]:
    """Every registered metric's mean over ``picked`` and its interval (``KEY_ci``)."""
    out: dict[str, Any] = {}
    photos = [p["_photo"] for p in picked]
    weights = photo_weights(photos)
    n_photos = len(set(photos))
    for key, metric in METRICS.items():
        have = [i for i, p in enumerate(picked) if key in p]
        if not have or metric.interval == "none":
            continue
        if metric.interval == "best_threshold" and all("iou_2_by_threshold" in p for p in picked):
            out.update(_max_box_acc(picked, weights))
            continue
        values = np.asarray([picked[i][key] for i in have], dtype=np.float64)
        out[key] = float(values.mean())
        if metric.interval == "wilson":
            out[f"{key}_ci"] = wilson_interval(out[key], n_photos, LEVEL)
        else:
            sub = weights if len(have) == len(picked) else photo_weights([photos[i] for i in have])
            out[f"{key}_ci"] = mean_interval(values, sub, LEVEL)
    return out


def _curves(picked: list[dict[str, Any]]) -> dict[str, Any]:
    """The mean IoU and faithfulness curves of the picked records (for the figures)."""
    out: dict[str, Any] = {
        "oracle_threshold_median": float(np.median([p["oracle_threshold"] for p in picked])),
        "curve_iou_1": np.mean([p["curve_iou_1"] for p in picked], 0).tolist(),
        "curve_iou_2": np.mean([p["curve_iou_2"] for p in picked], 0).tolist(),
    }
    curves: dict[str, dict[str, list[float]]] = {}
    for kind, first in picked[0]["faithfulness_curves"].items():
        curves[kind] = {
            k: np.mean([p["faithfulness_curves"][kind][k] for p in picked], 0).tolist()
            for k in first
        }
    out["faithfulness_curves"] = curves
    if curves:  # the figure's two curves: deletion to black, insertion into a blur
        out["deletion"] = curves["black"]["deletion"]
        out["insertion"] = curves["blur"]["insertion"]
    return out


def block(records: list[dict[str, Any]], name: str, source: str) -> dict[str, Any]:
    """One method's (``source`` "methods") or baseline's ("baselines") row over ``records``:
    the same columns for both. Non-finite maps are counted, never averaged in."""
    present = [{**r[source][name], "_photo": r["index"]} for r in records if name in r[source]]
    picked = [p for p in present if not p.get("non_finite")]
    out: dict[str, Any] = {}
    if picked:
        out.update(_means(picked))
        out.update(_curves(picked))
        if "seconds" in out:
            out["seconds_per_image"] = out["seconds"]
    out["n"] = len(picked)
    out["n_photos"] = len({p["_photo"] for p in picked})
    out["n_non_finite"] = len(present) - len(picked)
    return out


def versus_baselines(row: dict[str, Any], baselines: dict[str, dict[str, Any]]) -> dict:
    """For each score with a direction: the strongest baseline on it (best mean), the method's
    difference from it, and whether the method *beats* it (its whole interval on the better
    side of that baseline's mean)."""
    out = {}
    for key, metric in METRICS.items():
        means = {n: b[key] for n, b in baselines.items() if key in b}
        if metric.direction == "neither" or key not in row or not means:
            continue
        strongest = metric.best(means)
        low, high = row.get(f"{key}_ci", [row[key], row[key]])
        bar = means[strongest]
        out[key] = {
            "baseline": strongest,
            "baseline_mean": bar,
            "difference": row[key] - bar,
            "beats": bool(low > bar if metric.direction == "higher" else high < bar),
        }
    return out


def summarise(records: list[dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """Means with 95 % intervals over photos per method and baseline (the same columns for
    both), also split by correct/incorrect prediction, and each method's standing against the
    strongest baseline on every score (``versus``)."""
    correct = [r for r in records if r.get("probability", 0) >= 0.5]
    wrong = [r for r in records if r.get("probability", 0) < 0.5]
    summary: dict[str, Any] = {
        "n_images": len({r["index"] for r in records}),
        "n_pairs": len(records),
        "interval": INTERVAL,
        "methods": {},
        "baselines": {name: block(records, name, "baselines") for name in BASELINES},
    }
    for key in methods:
        row = block(records, key, "methods")
        row["correct"] = block(correct, key, "methods")
        row["incorrect"] = block(wrong, key, "methods")
        row["versus"] = versus_baselines(row, summary["baselines"])
        summary["methods"][key] = row
    present = {k for row in summary["baselines"].values() for k in row}
    summary["directions"] = directions(present)
    return summary
