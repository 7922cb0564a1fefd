"""Class sensitivity: does the map for digit D land on D's box rather than on the other digits'?

In a photo with several different digits, every ordered pair (D, E) of distinct present digits
asks one question of the map explaining D: is its mean heat per pixel inside D's boxes higher
than inside E's boxes? Per pixel, so that a narrow "1" is not at a disadvantage beside a wide
"8". A win counts 1, a tie (a flat or empty map) 1/2, a loss 0; class sensitivity is the mean
over pairs. Higher is better: 1 = every map picks out its own digit, 0.5 = chance. A method
that draws the same map whatever the target scores exactly 0.5, because each unordered pair is
counted both ways and the same map can win only one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from svhn_xai.data.item import HouseNumber
from svhn_xai.metrics import box_mask
from svhn_xai.model import DigitResNet18

DIRECTION = "higher is better; 0.5 = chance (the same map whatever the digit), 1 = always its own"


def box_density(heat: np.ndarray, boxes: np.ndarray) -> float:
    """Mean heat per pixel inside the union of ``boxes`` (K, 4) of an (H, W) map; 0 if none."""
    inside = box_mask(boxes, heat.shape)
    return float(heat[inside].mean()) if inside.any() else 0.0


def pair_outcomes(
    heatmaps: Mapping[int, np.ndarray], boxes: Mapping[int, np.ndarray]
) -> list[dict[str, Any]]:
    """One outcome per ordered pair (D, E) of distinct digits that have both a map and a box.

    Args:
        heatmaps: digit -> its (H, W) heatmap, non-negative (e.g. ``Explanation.heatmap()``).
        boxes: digit -> its (K, 4) boxes in the map's pixels; digits with K = 0 are skipped.
    Returns ``[{"digit": D, "other": E, "own": density, "other_box": density, "win": 1/0.5/0}]``.
    """
    present = sorted(d for d in heatmaps if d in boxes and len(np.reshape(boxes[d], (-1, 4))))
    out = []
    for d in present:
        for e in present:
            if e == d:
                continue
            own = box_density(heatmaps[d], boxes[d])
            other = box_density(heatmaps[d], boxes[e])
            win = 1.0 if own > other else 0.5 if own == other else 0.0
            out.append({"digit": d, "other": e, "own": own, "other_box": other, "win": win})
    return out


def class_sensitivity(outcomes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"score", "pairs", "direction"}``: the mean win over ``outcomes`` (None if none)."""
    wins = [o["win"] for o in outcomes]
    return {
        "score": float(np.mean(wins)) if wins else None,
        "pairs": len(wins),
        "direction": DIRECTION,
    }


def evaluate_class_sensitivity(
    model: DigitResNet18,
    items: Sequence[HouseNumber],
    methods: Sequence[str],
    digits: Sequence[int] | None = None,
    limit: int | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Class sensitivity of each method over the photos of ``items`` with >= 2 different digits.

    ``items`` are model inputs (boxes in model-input pixels); ``limit`` keeps the first images
    only, as ``evaluate_localisation`` does. Returns ``{"photos": n, "direction": ...,
    "methods": {key: {"score", "pairs"}}}``.
    """
    from svhn_xai.explain import explain

    params = params or {}
    digits = tuple(digits) if digits is not None else model.digits
    count = min(limit or len(items), len(items))
    photos = [i for i in range(count) if len(set(items[i].labels) & set(digits)) >= 2]
    outcomes: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for n, i in enumerate(photos):
        item = items[i]
        present = sorted(set(item.labels) & set(digits))
        boxes = {d: item.boxes_of(d) for d in present}
        for m in methods:
            maps = {
                d: explain(model, item.image, d, m, **params.get(m, {})).heatmap() for d in present
            }
            outcomes[m].extend(pair_outcomes(maps, boxes))
        if progress is not None:
            progress(n + 1, len(photos))
    return {
        "photos": len(photos),
        "direction": DIRECTION,
        "methods": {m: class_sensitivity(o) for m, o in outcomes.items()},
    }
