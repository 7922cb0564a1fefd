"""Score an explanation against the target digit's boxes, beside the trivial baselines.

This is the one place where an :class:`~svhn_xai.explain.Explanation` meets the metrics; the
CLI, the app and the dataset evaluation all report what :func:`localise` returns.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from svhn_xai.explain import Explanation
from svhn_xai.metrics import baseline_scores, iou_curve, score


def localise(
    explanation: Explanation,
    boxes: np.ndarray,
    mode: str = "value",
    value: float = 0.5,
    reduction: str | None = None,
    clip_percentile: float = 100.0,
    curve: bool = False,
) -> dict[str, Any]:
    """Scores of ``explanation``'s heatmap and of the baselines, as a JSON-able dict.

    Args:
        boxes: (K, 4) boxes of the target digit in model-input pixels; K = 0 means the digit is
            absent, and then only the explanation itself is reported (``scored: false``).
        mode, value: threshold mode and value (see :func:`svhn_xai.heatmap.threshold`).
        reduction, clip_percentile: heatmap options (see :meth:`Explanation.heatmap`).
        curve: also return the IoU-vs-threshold curves.
    Keys: ``method, digit, probability, logit, iou_1, iou_2, pointing_game, relevance_mass,
    threshold, threshold_mode, heatmap_box, gt_boxes, empty_mask, seconds, params, baselines``.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    heat = explanation.heatmap(reduction, clip_percentile)
    out: dict[str, Any] = {
        "method": explanation.method,
        "digit": explanation.digit,
        "probability": explanation.probability,
        "logit": explanation.logit,
        "threshold_mode": mode,
        "gt_boxes": boxes.tolist(),
        "seconds": explanation.seconds,
        "model_passes": explanation.model_passes,
        "params": explanation.params,
        "reduction": reduction or explanation.reduction,
        "notes": list(explanation.notes),
        "scored": len(boxes) > 0,
    }
    if len(boxes) == 0:
        out["notes"].append(f"digit {explanation.digit} has no box in this image: no IoU")
        return out
    scores = score(heat, boxes, mode, value)
    out.update(scores.to_dict())
    if scores.empty_mask:
        out["notes"].append("empty mask: no pixel passes the threshold, IoUs are 0")
    # the random map is drawn afresh for every box set: one fixed noise map would put its
    # maximum on the same pixel for every image, a "pointing game" of that pixel, not of chance
    seed = zlib.crc32(np.ascontiguousarray(boxes, dtype=np.float64).tobytes())
    out["baselines"] = {
        name: s.to_dict()
        for name, s in baseline_scores(boxes, heat.shape, mode, value, seed).items()
    }
    if curve:
        out["curve"] = iou_curve(heat, boxes)
    return out
