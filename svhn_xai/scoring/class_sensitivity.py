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

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from svhn_xai.scoring.metrics import box_mask

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
            out.append(outcome(d, e, own, box_density(heatmaps[d], boxes[e])))
    return out


def outcome(digit: int, other: int, own: float, other_box: float) -> dict[str, Any]:
    """One ordered pair's record: the map of ``digit``'s densities on its own and the other box."""
    win = 1.0 if own > other_box else 0.5 if own == other_box else 0.0
    return {"digit": digit, "other": other, "own": own, "other_box": other_box, "win": win}


def class_sensitivity(outcomes: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"score", "pairs", "direction"}``: the mean win over ``outcomes`` (None if none)."""
    wins = [o["win"] for o in outcomes]
    return {
        "score": float(np.mean(wins)) if wins else None,
        "pairs": len(wins),
        "direction": DIRECTION,
    }


def from_records(
    records: Sequence[Mapping[str, Any]],
    methods: Sequence[str],
    baselines: Sequence[str] = (),
) -> dict[str, Any]:
    """Class sensitivity of each method (and baseline) from the per-pair records of an evaluation.

    Each record is one (photo ``index``, ``digit``) pair whose method entries carry
    ``box_density``: the mean heat of that digit's map inside the boxes of every digit in the
    photo (``{"D": density}``, see :func:`svhn_xai.evaluation.run.pair_records`). The photos
    that count are those with >= 2 different evaluated digits, so the maps made for localisation
    are reused rather than explained again. The baselines' maps do not depend on the digit, so
    they score 0.5 by construction; they are computed the same way all the same.

    Returns ``{"photos": n, "direction": ..., "methods": {key: {"score", "pairs", "direction"}},
    "baselines": {…}}``.
    """
    by_photo: dict[Any, list[Mapping[str, Any]]] = {}
    for r in records:
        by_photo.setdefault(r["index"], []).append(r)
    photos = [rows for rows in by_photo.values() if len({r["digit"] for r in rows}) >= 2]
    outcomes = {
        (section, key): []
        for section, keys in (("methods", methods), ("baselines", baselines))
        for key in keys
    }
    for rows in photos:
        digits = sorted({r["digit"] for r in rows})
        for r in rows:
            d = r["digit"]
            for (section, key), found in outcomes.items():
                density = r[section].get(key, {}).get("box_density")
                if density is None:  # a non-finite map: no outcome, as no map
                    continue
                found.extend(
                    outcome(d, e, density[str(d)], density[str(e)]) for e in digits if e != d
                )
    out: dict[str, Any] = {"photos": len(photos), "direction": DIRECTION}
    for section in ("methods", "baselines"):
        out[section] = {k: class_sensitivity(o) for (s, k), o in outcomes.items() if s == section}
    return out
