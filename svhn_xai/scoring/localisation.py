"""Score an explanation against the target digit's boxes, beside the trivial baselines.

This is the one place where an :class:`~svhn_xai.explain.Explanation` meets the metrics; the
CLI, the app and the dataset evaluation all report what :func:`localise` returns. A method's map
and every baseline map go through the same :func:`score_map`: same smoothing, normalisation,
mask rule and metrics. Which baseline a method must beat is the strongest one on each score
(:func:`strongest_baselines`), never a fixed one; on one image, the strongest of those that do
not draw at random (the random map's one draw is luck there, its mean over photos chance).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from svhn_xai.explain import Explanation
from svhn_xai.scoring.heatmap import normalise, reduce_channels, smooth, threshold
from svhn_xai.scoring.metrics import (
    BASELINES,
    BOX_ACC_GRID,
    DRAWN_BASELINES,
    baseline_heatmap,
    box_mask,
    iou_curves,
)
from svhn_xai.scoring.protocol import DEFAULT_PROTOCOL, Protocol
from svhn_xai.scoring.registry import METRICS, directions, score

if TYPE_CHECKING:  # only a type here: calibration itself scores with this module's maps
    from svhn_xai.scoring.calibration import Calibration


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
    their areas and their maxima (the oracle columns), and IoU_2 on :data:`BOX_ACC_GRID`
    (``curve["iou_2_by_threshold"]``, what MaxBoxAccV2 chooses its threshold from over a data
    set), on the same smoothed map.
    """
    return score_maps([relevance], boxes, [protocol], clip_percentile, curve)[0]


def score_maps(
    relevances: Sequence[np.ndarray],
    boxes: np.ndarray,
    protocols: Sequence[Protocol],
    clip_percentile: float = 100.0,
    curve: bool = False,
    masks: list[np.ndarray] | None = None,
) -> list[dict[str, Any]]:
    """:func:`score_map` of several maps (H, W) of one image, each under its own protocol: the
    smoothing, normalisation and curves of all of them computed together (a dataset evaluation
    scores 26 maps per pair), each result the same as :func:`score_map` gives alone. Each map's
    cut mask (H, W) is appended to ``masks`` when a list is given, and each result says where
    on the normalised map its mask was cut (``cut_at``: the highest heat left out, so that
    ``heat > cut_at`` is the mask when no pixel ties across the cut; for a top-k rule the value
    threshold that keeps the same pixels, which the IoU-vs-threshold curve marks)."""
    raw = np.stack([np.asarray(r, dtype=np.float64) for r in relevances])
    heats = np.empty_like(raw)
    for sigma in {p.sigma for p in protocols}:
        group = [i for i, p in enumerate(protocols) if p.sigma == sigma]
        heats[group] = normalise(smooth(raw[group], sigma), clip_percentile)
    out = []
    for heat, relevance, p in zip(heats, relevances, protocols):
        scores = score(heat, boxes, p.mode, p.value, relevance)
        left_out = heat[~scores.mask]
        cut_at = float(left_out.max()) if left_out.size else 0.0
        out.append({**scores.to_dict(), "protocol": p.to_dict(), "cut_at": cut_at})
        if masks is not None:
            masks.append(scores.mask)
    if curve:
        fine = iou_curves(heats, boxes, BOX_ACC_GRID)
        for scores, one, box in zip(out, iou_curves(heats, boxes), fine):
            scores["curve"] = {**one, "iou_2_by_threshold": [round(v, 4) for v in box["iou_2"]]}
    return out


def baseline_maps(boxes: np.ndarray, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    """Every baseline map for an image with these ``boxes``.

    The random map is drawn afresh for every box set: one fixed noise map would put its maximum
    on the same pixel for every image, a "pointing game" of that pixel, not of chance.
    """
    seed = zlib.crc32(np.ascontiguousarray(boxes, dtype=np.float64).tobytes())
    return {name: baseline_heatmap(name, shape, seed) for name in BASELINES}


def strongest_baselines(
    scores: dict[str, Any], baselines: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """For each scored metric with a direction, the baseline that does best on it on this one
    image and how the method compares: ``{key: {"baseline", "value", "difference"}}``
    (difference = method minus that baseline; its sign reads with the metric's direction).
    Baselines that draw at random (:data:`DRAWN_BASELINES`) are left out: on one image their
    score is one draw's luck (a random peak lands on a large digit as often as not)."""
    out = {}
    for key, metric in METRICS.items():
        if metric.direction == "neither" or key not in scores:
            continue
        values = {
            name: b[key]
            for name, b in baselines.items()
            if key in b and name not in DRAWN_BASELINES
        }
        if not values:
            continue
        name = metric.best(values)
        out[key] = {
            "baseline": name,
            "value": values[name],
            "difference": scores[key] - values[name],
        }
    return out


PER_PHOTO_TIE = 0.05  # on one photo, a gap under this between a method and a baseline is a tie


def reading_notes(scores: dict[str, Any], box_share: float) -> list[str]:
    """Plain words for what one photo's scores can and cannot say: the IoU₁ a mask of this size
    can reach at most, and, when the map's heat lies on the digit but an image-blind baseline
    does as well, that this photo cannot separate the two (a large digit in the middle of the
    crop is found without looking). ``box_share``: the boxes' share of the image."""
    notes = []
    area = scores["active_fraction"]
    if area < box_share:
        notes.append(
            f"IoU₁ can reach at most {area / box_share:.2f} here: the mask holds "
            f"{area:.0%} of the crop and the digit's box {box_share:.0%}. Read PxAP and the "
            "mass in the box, which need no mask."
        )
    mass = scores["versus"].get("relevance_mass")
    on_digit = scores["relevance_mass"] >= 0.5 and scores["pointing_game"] == 1.0
    if on_digit and mass is not None and mass["difference"] < PER_PHOTO_TIE:
        name = mass["baseline"].replace("_", " ")
        heat = (
            f"The heat lies on the digit ({scores['relevance_mass']:.0%} of the positive "
            f"relevance inside its box, the peak on it). The {name} map, which never looks at "
            "the photo, "
        )
        if mass["difference"] <= -PER_PHOTO_TIE:  # a clear loss is no tie: say who won
            notes.append(
                heat + f"does better here ({mass['value']:.0%} in the box): a large or central "
                "digit is found without looking, and only the leaderboard over many photos can "
                "tell the method from it."
            )
        else:
            notes.append(
                heat + "does about as well here, so this photo cannot separate the method from "
                "it: the leaderboard over many photos can."
            )
    return notes


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
    calibration: Calibration | None = None,
) -> dict[str, Any]:
    """Scores of ``explanation``'s map and of the baselines, as a JSON-able dict.

    Args:
        boxes: (K, 4) boxes of the target digit in model-input pixels; K = 0 means the digit is
            absent, and then only the explanation itself is reported (``scored: false``).
        protocol: the mask rule (default :data:`~svhn_xai.scoring.protocol.DEFAULT_PROTOCOL`), or a
            threshold mode name; ``value`` and ``sigma`` override its parts.
        reduction, clip_percentile: heatmap options (see :meth:`Explanation.heatmap`), the same
            for the method's map and every baseline's; ``clip_percentile`` changes the mask
            and PxAP only, never relevance mass.
        curve: also return the IoU-vs-threshold curves (for the method and each baseline).
        calibration: per-name threshold values (:mod:`svhn_xai.scoring.calibration`); when
            given, the method and each baseline are cut at their own calibrated value in its mode
            and sigma (``threshold_source: "calibrated"``), and ``protocol`` serves only a name the
            calibration lacks. Otherwise one rule for all (``"fixed"``).
    Keys: ``method, digit, probability, logit, iou_1, iou_2, max_box_acc, pxap, pointing_game,
    pointing_game_tolerant, relevance_mass, rank_accuracy, threshold, threshold_mode,
    threshold_source, protocol, heatmap_box, gt_boxes, empty_mask, active_fraction, seconds,
    params, notes, scored, finite, baselines, versus`` (and ``curve``; ``contrast`` for a
    contrastive map). :func:`localise_with_mask` also returns the mask the scores read.
    A non-finite map is never scored (``scored: false``, ``finite: false``).
    """
    return localise_with_mask(
        explanation, boxes, protocol, value, reduction, clip_percentile, curve,
        sigma=sigma, calibration=calibration,
    )[0]  # fmt: skip


def localise_with_mask(
    explanation: Explanation,
    boxes: np.ndarray,
    protocol: Protocol | str | None = None,
    value: float | None = None,
    reduction: str | None = None,
    clip_percentile: float = 100.0,
    curve: bool = False,
    *,
    sigma: float | None = None,
    calibration: Calibration | None = None,
) -> tuple[dict[str, Any], np.ndarray | None]:
    """:func:`localise` and the method's mask (H, W) bool that its scores were read from, so
    that a page draws the very mask it reports. With no box to score against, the mask the rule
    cuts all the same; None where there is none: a non-finite map, or a rule sized by the box
    (``truth_area``) with no box."""
    fixed = resolve_protocol(protocol, value, sigma)
    rule = fixed if calibration is None else calibration.rule(explanation.method, fixed)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    out: dict[str, Any] = {
        "method": explanation.method,
        "digit": explanation.digit,
        **({} if explanation.contrast is None else {"contrast": explanation.contrast}),
        "probability": explanation.probability,
        "logit": explanation.logit,
        "threshold_mode": rule.mode,
        "threshold_source": "fixed" if calibration is None else "calibrated",
        "protocol": rule.to_dict(),
        "gt_boxes": boxes.tolist(),
        "seconds": explanation.seconds,
        "model_passes": explanation.model_passes,
        "params": explanation.params,
        "reduction": reduction or explanation.reduction,
        "clip_percentile": clip_percentile,
        "notes": list(explanation.notes),
        "finite": explanation.finite,
        "scored": len(boxes) > 0 and explanation.finite,
    }
    if len(boxes) == 0:
        out["notes"].append(f"digit {explanation.digit} has no box in this image: no IoU")
        if not explanation.finite or rule.mode == "truth_area":
            return out, None
        heat = explanation.heatmap(out["reduction"], clip_percentile, rule.sigma)
        return out, threshold(heat, rule.mode, rule.value).mask
    if not explanation.finite:
        return out, None  # explain() already noted why; a NaN map is no zero map
    relevance = reduce_channels(explanation.attribution, out["reduction"])
    names = list(BASELINES)
    maps = baseline_maps(boxes, relevance.shape)
    rules = [rule, *(fixed if calibration is None else calibration.rule(n, fixed) for n in names)]
    masks: list[np.ndarray] = []
    every = score_maps([relevance, *maps.values()], boxes, rules, clip_percentile, curve, masks)
    scores = every[0]
    out.update(scores)
    out["directions"] = directions(scores)
    if scores["empty_mask"]:
        out["notes"].append("empty mask: no pixel passes the threshold, IoUs are 0")
    out["baselines"] = dict(zip(names, every[1:]))
    out["versus"] = strongest_baselines(scores, out["baselines"])
    box_share = float(box_mask(boxes, relevance.shape).mean())
    out["notes"] += reading_notes(out, box_share)
    _mark_capped(out, box_share)
    return out, masks[0]


def _mark_capped(out: dict[str, Any], box_share: float) -> None:
    """A mask smaller than the box cannot reach IoU₁ 1: where the method's IoU₁ is within 10 %
    of the most its mask size allows (``active fraction / box share``) and a baseline with a
    larger mask does better, the comparison says so (``versus["iou_1"]["capped"]``: that
    ceiling) instead of reading as a miss; the page shows it as a tie."""
    iou = out["versus"].get("iou_1")
    area = out["active_fraction"]
    if iou is None or area >= box_share or iou["difference"] >= 0:
        return
    ceiling = area / box_share
    if out["iou_1"] >= 0.9 * ceiling:
        iou["capped"] = ceiling
