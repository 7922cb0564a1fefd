import numpy as np

from svhn_xai.explain import Explanation
from svhn_xai.localisation import localise


def _explanation(attribution: np.ndarray) -> Explanation:
    return Explanation(
        method="saliency",
        digit=3,
        attribution=attribution.astype(np.float32),
        relevance=attribution.sum(0),
        probability=0.9,
        logit=2.2,
        params={},
        seconds=0.0,
        model_passes=1,
        reduction="positive",
    )


def test_random_baseline_points_at_chance_not_at_one_fixed_pixel():
    """The uniform-random map's pointing game is the box's share of the image, as chance should
    be. Every box here covers the same pixels, the left half (share 0.5; the right edges differ
    by less than half a pixel): one fixed noise map would score exactly 0 or 1 on all of them."""
    e = _explanation(np.random.default_rng(0).random((3, 64, 64)))
    hits = []
    for right in np.random.default_rng(1).uniform(32.0, 32.4, size=400):
        box = np.array([[0.0, 0.0, right, 64.0]])
        hits.append(localise(e, box)["baselines"]["uniform_random"]["pointing_game"])
    assert abs(np.mean(hits) - 0.5) < 0.1  # 4 standard errors of 400 draws


def test_the_same_boxes_get_the_same_baselines():
    e = _explanation(np.ones((3, 64, 64)))
    box = np.array([[10.0, 5.0, 30.0, 50.0]])
    assert localise(e, box)["baselines"] == localise(e, box.copy())["baselines"]
