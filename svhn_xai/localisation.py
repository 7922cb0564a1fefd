"""Score an explanation against the target digit's boxes, beside the trivial baselines.

This is the one place where an :class:`~svhn_xai.explain.Explanation` meets the metrics; the
CLI, the app and the dataset evaluation all report what :func:`localise` returns. A method's map
and every baseline map go through the same :func:`score_map`: same smoothing, normalisation,
mask rule and metrics.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from svhn_xai.explain import Explanation
from svhn_xai.heatmap import normalise, reduce_channels, smooth
from svhn_xai.metrics import BASELINES, DIRECTIONS, baseline_heatmap, iou_curves, score
from svhn_xai.protocol import DEFAULT_PROTOCOL, Protocol


def resolve_protocol(
    protocol: Protocol | str | None = None,
    value: float | None = None,
    sigma: float | None = None,
) -> Protocol:
    """:data:`DEFAULT_PROTOCOL` (or ``protocol``) with explicit overrides, checked.

    ``protocol`` may also be a mode name (``"topk"``), the form older callers pass.
    """
    if isinstance(protocol, Protocol):
        resolved = protocol.replace(value=value, sigma=sigma)
    else:
        resolved = DEFAULT_PROTOCOL.replace(mode=protocol, value=value, sigma=sigma)
    resolved.check()
    return resolved


def score_map(
    relevance: np.ndarray,
    boxes: np.ndarray,
    protocol: Protocol,
    clip_percentile: float = 100.0,
    curve: bool = False,
) -> dict[str, Any]:
    """Scores of one raw relevance map (H, W) under ``protocol``, as a JSON-able dict.

    The mask is cut from the map smoothed by ``protocol.sigma`` and divided by its largest
    magnitude (clipped at ``clip_percentile``); pointing game, relevance mass and rank accuracy
    are computed on ``relevance`` itself. With ``curve``: the IoU-vs-value-threshold curves,
    their areas and their maxima (the oracle columns), on the same smoothed map.
    """
    return score_maps([relevance], boxes, [protocol], clip_percentile, curve)[0]


def score_maps(
    relevances: Sequence[np.ndarray],
    boxes: np.ndarray,
    protocols: Sequence[Protocol],
    clip_percentile: float = 100.0,
    curve: bool = False,
) -> list[dict[str, Any]]:
    """:func:`score_map` of several maps (H, W) of one image, each under its own protocol: the
    smoothing, normalisation and curves of all of them computed together (a dataset evaluation
    scores seven maps per pair), each result the same as :func:`score_map` gives alone."""
    raw = np.stack([np.asarray(r, dtype=np.float64) for r in relevances])
    heats = np.empty_like(raw)
    for sigma in {p.sigma for p in protocols}:
        group = [i for i, p in enumerate(protocols) if p.sigma == sigma]
        heats[group] = normalise(smooth(raw[group], sigma), clip_percentile)
    out = [
        score(heat, boxes, p.mode, p.value, relevance).to_dict()
        for heat, relevance, p in zip(heats, relevances, protocols)
    ]
    if curve:
        for scores, one in zip(out, iou_curves(heats, boxes)):
            scores["curve"] = one
    return out


def baseline_maps(boxes: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Every baseline map for an image with these ``boxes``.

    The random map is drawn afresh for every box set: one fixed noise map would put its maximum
    on the same pixel for every image, a "pointing game" of that pixel, not of chance.
    """
    seed = zlib.crc32(np.ascontiguousarray(boxes, dtype=np.float64).tobytes())
    return {name: baseline_heatmap(name, shape, seed) for name in BASELINES}


def localise(
    explanation: Explanation,
    boxes: np.ndarray,
    protocol: Protocol | str | None = None,
    value: float | None = None,
    reduction: str | None = None,
    clip_percentile: float = 100.0,
    curve: bool = False,
    *,
    sigma: float | None = None,
) -> dict[str, Any]:
    """Scores of ``explanation``'s map and of the baselines, as a JSON-able dict.

    Args:
        boxes: (K, 4) boxes of the target digit in model-input pixels; K = 0 means the digit is
            absent, and then only the explanation itself is reported (``scored: false``).
        protocol: the mask rule (default :data:`~svhn_xai.protocol.DEFAULT_PROTOCOL`), or a
            threshold mode name; ``value`` and ``sigma`` override its parts.
        reduction, clip_percentile: heatmap options (see :meth:`Explanation.heatmap`);
            ``clip_percentile`` changes the mask only, never relevance mass.
        curve: also return the IoU-vs-threshold curves (for the method and each baseline).
    Keys: ``method, digit, probability, logit, iou_1, iou_2, pointing_game,
    pointing_game_tolerant, relevance_mass, rank_accuracy, threshold, threshold_mode,
    protocol, heatmap_box, gt_boxes, empty_mask, active_fraction, seconds, params, notes,
    scored, finite, baselines`` (and ``curve``; ``contrast`` for a contrastive map). A
    non-finite map is never scored (``scored: false``, ``finite: false``).
    """
    rule = resolve_protocol(protocol, value, sigma)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out: dict[str, Any] = {
        "method": explanation.method,
        "digit": explanation.digit,
        **({} if explanation.contrast is None else {"contrast": explanation.contrast}),
        "probability": explanation.probability,
        "logit": explanation.logit,
        "threshold_mode": rule.mode,
        "protocol": rule.to_dict(),
        "gt_boxes": boxes.tolist(),
        "seconds": explanation.seconds,
        "model_passes": explanation.model_passes,
        "params": explanation.params,
        "reduction": reduction or explanation.reduction,
        "notes": list(explanation.notes),
        "finite": explanation.finite,
        "scored": len(boxes) > 0 and explanation.finite,
    }
    if len(boxes) == 0:
        out["notes"].append(f"digit {explanation.digit} has no box in this image: no IoU")
        return out
    if not explanation.finite:
        return out  # explain() already noted why; a NaN map is no zero map
    relevance = reduce_channels(explanation.attribution, out["reduction"])
    scores = score_map(relevance, boxes, rule, clip_percentile, curve)
    out.update(scores)
    out["directions"] = {k: v for k, v in DIRECTIONS.items() if k in scores}
    if scores["empty_mask"]:
        out["notes"].append("empty mask: no pixel passes the threshold, IoUs are 0")
    out["baselines"] = {
        name: score_map(m, boxes, rule, 100.0, curve)
        for name, m in baseline_maps(boxes, relevance.shape).items()
    }
    return out
