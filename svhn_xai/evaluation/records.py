"""What one evaluation measures on each (photo, digit) pair: every method's and every baseline's
scores, IoU curves, faithfulness curves and box densities, by the same computation."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from svhn_xai.data.item import HouseNumber
from svhn_xai.explain import explain_batch
from svhn_xai.model.network import DigitResNet18
from svhn_xai.scoring.class_sensitivity import box_density
from svhn_xai.scoring.faithfulness import faithfulness_groups
from svhn_xai.scoring.heatmap import normalise, reduce_channels
from svhn_xai.scoring.localisation import baseline_maps, score_maps
from svhn_xai.scoring.protocol import Protocol
from svhn_xai.scoring.registry import PER_PAIR, family

# what a pair's record keeps of each map: the per-map scores and the curves' summaries
RECORDED = (*(m.key for m in PER_PAIR), *(m.key for m in family("curve")))


def _x(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.copy()).permute(2, 0, 1).float().div(255)[None]


def _row(scores: dict[str, Any], faith: dict[str, Any]) -> dict[str, Any]:
    """One method's or baseline's record: scores, IoU curves and faithfulness, the same keys
    for both (the curves are summarised, not stored per pair, apart from the IoU ones)."""
    curve = scores["curve"]
    return {
        **{k: scores[k] for k in RECORDED if k in scores},
        **{k: curve[k] for k in ("auc_iou_1", "auc_iou_2", "oracle_iou_1", "oracle_iou_2")},
        "empty_mask": scores["empty_mask"],
        "iou_2_by_threshold": curve["iou_2_by_threshold"],
        "oracle_threshold": curve["oracle_threshold"],
        "curve_iou_1": curve["iou_1"],
        "curve_iou_2": curve["iou_2"],
        **{k: v for k, v in faith.items() if k != "curves"},
        "faithfulness_curves": faith["curves"],
    }


def pair_records(
    model: DigitResNet18,
    pairs: Sequence[tuple[int, HouseNumber, int]],
    methods: Sequence[str],
    protocol: Protocol,
    params: dict[str, dict[str, Any]] | None = None,
    road_too: bool = False,
    calibrated: dict[str, float] | None = None,
    steps: int = 16,
    curves: bool = True,
) -> list[dict[str, Any]]:
    """Everything measured on each (index, item, digit) of ``pairs``: per method and per
    baseline, by the same computation. A method whose map is not finite is recorded as
    ``{"non_finite": true}``. ``calibrated`` maps a method or baseline to its threshold value
    chosen elsewhere (:func:`svhn_xai.scoring.calibration.calibrate`); the others use
    ``protocol`` as it is.

    Each method explains all the pairs in one :func:`~svhn_xai.explain.explain_batch` call, and
    the faithfulness curves of every map of every pair share model passes
    (:func:`faithfulness_groups`); ``curves=False`` leaves the curves out (localisation only).
    A record does not depend on which other pairs share its batch, up to float rounding.
    """
    params = params or {}
    calibrated = calibrated or {}

    def rule(name: str) -> Protocol:
        return protocol.replace(value=calibrated[name]) if name in calibrated else protocol

    records = [
        {"index": index, "digit": digit, "methods": {}, "baselines": {}}
        for index, _, digit in pairs
    ]
    maps: list[list[tuple[str, str, np.ndarray, dict[str, Any]]]] = [[] for _ in pairs]
    images = [item.image for _, item, _ in pairs]
    digits = [digit for _, _, digit in pairs]
    for key in methods:
        explanations = explain_batch(model, images, digits, key, **params.get(key, {}))
        for record, pair_maps, (_, item, _), e in zip(records, maps, pairs, explanations):
            record["probability"] = e.probability
            if not e.finite:
                record["methods"][key] = {"non_finite": True, "seconds": e.seconds}
                continue
            extra = {"seconds": e.seconds, "box_density": _densities(e.heatmap(), item)}
            pair_maps.append(("methods", key, reduce_channels(e.attribution, e.reduction), extra))
    for pair_maps, (_, item, digit) in zip(maps, pairs):
        for name, relevance in baseline_maps(item.boxes_of(digit), item.image.shape[:2]).items():
            density = _densities(normalise(relevance), item)
            pair_maps.append(("baselines", name, relevance, {"box_density": density}))
    if curves:
        groups = [
            (_x(item.image), [m[2] for m in pair_maps], digit)
            for pair_maps, (_, item, digit) in zip(maps, pairs)
        ]
        faith = faithfulness_groups(model, groups, road_too, steps=steps)
    else:
        faith = [[{"curves": {}} for _ in pair_maps] for pair_maps in maps]
    for record, pair_maps, pair_faith, (_, item, digit) in zip(records, maps, faith, pairs):
        relevances, rules = [m[2] for m in pair_maps], [rule(m[1]) for m in pair_maps]
        every = score_maps(relevances, item.boxes_of(digit), rules, curve=True)
        for (section, key, _, extra), scores, f in zip(pair_maps, every, pair_faith):
            record[section][key] = {**_row(scores, f), **extra}
    return records


def _densities(heat: np.ndarray, item: HouseNumber) -> dict[str, float]:
    """For class sensitivity: the mean heat of one digit's map inside the boxes of every digit
    of the photo, ``{"D": density}``."""
    return {str(d): box_density(heat, item.boxes_of(d)) for d in sorted(set(item.labels))}
