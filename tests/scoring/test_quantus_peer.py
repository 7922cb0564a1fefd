"""A peer checks our numbers: Quantus (Hedström et al. 2023) on the same maps and boxes.

Conventions that differ, and how each comparison accounts for them:
- ties: Quantus's pointing game counts a hit when *any* maximal pixel is inside, its rank
  accuracy and top-k intersection break ties by NumPy's sort order; ours count ties at random
  in expectation. The maps below are continuous (no ties), where both conventions agree.
- relevance mass: Quantus sums whatever map it is given; Arras et al. (and we) use the
  positive relevance, so Quantus gets the positive part of the signed map.
- Quantus's own normalisation and absolute value are switched off: the metrics see our maps.
"""

import numpy as np
import pytest
import quantus

from svhn_xai.scoring.metrics import (
    box_mask,
    pointing_game,
    rank_accuracy,
    relevance_mass,
    topk_intersection,
)

SIZE = 32
OPTIONS = {"abs": False, "normalise": False, "disable_warnings": True}


def _cases(count: int = 24) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Signed random maps (N, 1, S, S), their box masks and the boxes; half of the maps get a
    bump inside the box so that hits and misses both occur."""
    rng = np.random.default_rng(0)
    maps, masks, boxes = [], [], []
    for i in range(count):
        x0, y0 = rng.integers(0, SIZE - 12, 2)
        w, h = rng.integers(4, 12, 2)
        box = np.array([[x0, y0, x0 + w, y0 + h]], dtype=float)
        relevance = rng.normal(size=(SIZE, SIZE))
        if i % 2:
            relevance[y0 : y0 + h, x0 : x0 + w] += 1.5
        maps.append(relevance[None])
        masks.append(box_mask(box, (SIZE, SIZE))[None])
        boxes.append(box)
    return np.stack(maps), np.stack(masks).astype(float), boxes


def _quantus(metric, a_batch: np.ndarray, s_batch: np.ndarray) -> np.ndarray:
    x_batch = np.zeros((len(a_batch), 3, SIZE, SIZE), dtype=np.float32)
    y_batch = np.zeros(len(a_batch), dtype=int)
    return np.asarray(
        metric(model=None, x_batch=x_batch, y_batch=y_batch, a_batch=a_batch, s_batch=s_batch),
        dtype=float,
    )


def test_pointing_game_equals_quantus():
    maps, masks, boxes = _cases()
    theirs = _quantus(quantus.PointingGame(**OPTIONS), maps, masks)
    ours = [pointing_game(m[0], b) for m, b in zip(maps, boxes)]
    assert 0 < np.mean(ours) < 1  # both hits and misses are compared
    assert np.array_equal(theirs, ours)


def test_relevance_mass_equals_quantus_on_the_positive_part():
    maps, masks, boxes = _cases()
    positive = np.clip(maps, 0, None)
    theirs = _quantus(quantus.RelevanceMassAccuracy(**OPTIONS), positive, masks)
    ours = [relevance_mass(m[0], b) for m, b in zip(maps, boxes)]
    assert np.allclose(theirs, ours, rtol=1e-12, atol=1e-12)


def test_rank_accuracy_equals_quantus():
    maps, masks, boxes = _cases()
    theirs = _quantus(quantus.RelevanceRankAccuracy(**OPTIONS), maps, masks)
    ours = [rank_accuracy(m[0], b) for m, b in zip(maps, boxes)]
    assert np.allclose(theirs, ours, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("k", [1, 10, 50, 200])
def test_topk_intersection_equals_quantus(k):
    maps, masks, boxes = _cases()
    theirs = _quantus(quantus.TopKIntersection(k=k, **OPTIONS), maps, masks)
    ours = [topk_intersection(m[0], b, k) for m, b in zip(maps, boxes)]
    assert np.allclose(theirs, ours, rtol=1e-12, atol=1e-12)


def test_ties_are_where_the_conventions_part():
    """Two tied maxima, one inside the box and one outside: Quantus's pointing game says hit
    (some maximum is inside), ours 0.5, the expected hit of breaking the tie at random."""
    tied = np.zeros((1, 1, SIZE, SIZE))
    tied[0, 0, 2, 2] = tied[0, 0, 20, 20] = 1.0
    box = np.array([[0.0, 0.0, 8.0, 8.0]])
    mask = box_mask(box, (SIZE, SIZE))[None, None].astype(float)
    assert _quantus(quantus.PointingGame(**OPTIONS), tied, mask)[0] == 1.0
    assert pointing_game(tied[0, 0], box) == 0.5
