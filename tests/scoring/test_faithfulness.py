import numpy as np
import pytest
import torch

from svhn_xai.scoring.faithfulness import (
    DIRECTIONS,
    FAITHFULNESS,
    ROAD_FRACTIONS,
    deletion_insertion,
    faithfulness_many,
    noisy_linear_impute,
    relevance_order,
    road,
)
from tests.models import random_model


def test_linear_imputation_reproduces_a_linear_image_exactly():
    """Each imputed pixel is the weighted mean of its neighbours, so a linear ramp (every
    pixel already the mean of its symmetric neighbours) is filled in exactly."""
    ramp = np.tile(np.linspace(0, 1, 16), (3, 16, 1)) + np.linspace(0, 0.5, 16)[None, :, None]
    removed = np.zeros((16, 16), bool)
    removed[4:12, 3:9] = True
    out = noisy_linear_impute(ramp, removed, noise=0.0)
    assert np.allclose(out, ramp, atol=1e-12)


def test_imputation_by_hand_and_noise():
    # one removed pixel among constant neighbours 1 (direct) and 4 (diagonal):
    # (4 x 1/6 x 1 + 4 x 1/12 x 4) / 1 = 2
    image = np.ones((1, 3, 3))
    image[0, [0, 0, 2, 2], [0, 2, 0, 2]] = 4.0
    removed = np.zeros((3, 3), bool)
    removed[1, 1] = True
    assert noisy_linear_impute(image, removed, noise=0.0)[0, 1, 1] == pytest.approx(2.0)
    # at the corner only 3 neighbours exist: their weights are renormalised (1/6, 1/6, 1/12)
    corner = np.zeros((3, 3), bool)
    corner[0, 0] = True
    value = (1 / 6 * 1 + 1 / 6 * 1 + 1 / 12 * 1) / (5 / 12)
    assert noisy_linear_impute(np.ones((1, 3, 3)), corner, noise=0.0)[0, 0, 0] == pytest.approx(
        value
    )
    noisy = noisy_linear_impute(np.zeros((1, 32, 32)), np.ones((32, 32), bool) & False, 0.01)
    assert not noisy.any()  # nothing removed, nothing changed
    spread = noisy_linear_impute(np.zeros((1, 64, 64)), np.eye(64, dtype=bool), 0.01)
    assert np.std(spread[0][np.eye(64, dtype=bool)]) == pytest.approx(0.01, rel=0.3)


def test_ties_are_ordered_at_random_not_by_position():
    order = relevance_order(np.zeros((8, 8)), seed=0)
    assert sorted(order) == list(range(64)) and list(order[:8]) != list(range(8))
    heat = np.zeros((4, 4))
    heat[3, 3] = 1.0
    assert relevance_order(heat)[0] == 15


def test_road_curves_and_directions():
    model = random_model(0)
    x = torch.rand(1, 3, 64, 64)
    heat = np.random.default_rng(0).random((64, 64))
    r = road(model, x, heat, 3)
    assert len(r["road_morf_curve"]) == len(ROAD_FRACTIONS) == len(r["road_lerf_curve"])
    assert r["road_morf"] == pytest.approx(np.mean(r["road_morf_curve"]))
    assert DIRECTIONS["road_morf"] == "lower" and DIRECTIONS["road_lerf"] == "higher"
    assert FAITHFULNESS == ("none", "basic", "road", "all")


def test_curves_of_many_maps_in_shared_passes_equal_each_maps_own_curves():
    model = random_model(3)
    rng = np.random.default_rng(4)
    x = torch.from_numpy(rng.random((1, 3, 64, 64))).float()
    heats = [rng.random((64, 64)) for _ in range(3)] + [np.ones((64, 64))]
    together = faithfulness_many(model, x, heats, 5, road_too=True, steps=4)
    assert len(together) == 4
    for heat, got in zip(heats, together):
        for kind in ("black", "blur"):
            alone = deletion_insertion(model, x, heat, 5, kind, steps=4)
            assert got["curves"][kind]["deletion"] == pytest.approx(alone["deletion"], abs=1e-6)
            assert got[f"auc_insertion_{kind}"] == pytest.approx(alone["auc_insertion"], abs=1e-6)
        assert got["road_morf"] == pytest.approx(road(model, x, heat, 5)["road_morf"], abs=1e-6)
    # the maps differ, so their curves do: nothing was shared that should not be
    assert together[0]["curves"]["black"]["deletion"] != together[1]["curves"]["black"]["deletion"]


class KnownPixels(torch.nn.Module):
    """Head D's logit is ``BIAS`` plus, for each pixel of :data:`WEIGHTS`, its weight times the
    pixel's mean over the colour channels: the model looks at three pixels and nothing else."""

    digits = tuple(range(10))
    WEIGHTS = {(1, 1): 4.0, (3, 5): 2.0, (6, 2): 1.0}  # (row, column) of an 8 x 8 image
    BIAS = -3.0

    def __init__(self) -> None:
        super().__init__()
        weight = torch.zeros(8, 8)
        for (row, col), w in self.WEIGHTS.items():
            weight[row, col] = w
        self.weight = torch.nn.Parameter(weight)

    def head(self, digit: int) -> int:
        return digit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logit = (x.mean(1) * self.weight).sum((1, 2)) + self.BIAS
        return logit[:, None].repeat(1, 10)


def _known_pixels_case() -> tuple[KnownPixels, torch.Tensor, np.ndarray]:
    """The model, an image black but for its three pixels (white, and none of them next to
    another, so that ROAD fills each from black neighbours), and a map that ranks those three
    first, in the order of their weights, above a background of distinct smaller values."""
    model = KnownPixels().eval()
    x = torch.zeros(1, 3, 8, 8)
    heat = np.random.default_rng(0).random((8, 8)) * 0.5
    for (row, col), w in KnownPixels.WEIGHTS.items():
        x[..., row, col] = 1.0
        heat[row, col] = w
    return model, x, heat


def _p(logit: float) -> float:
    return 1 / (1 + np.exp(-logit))


def test_deletion_and_insertion_take_the_most_relevant_pixels_first():
    """One pixel a step: deletion (MoRF) removes the weight-4 pixel first, then 2, then 1;
    least relevant first (the negated map) removes only background until the last 3 steps.
    Insertion into black restores them in the same order."""
    model, x, heat = _known_pixels_case()
    morf = deletion_insertion(model, x, heat, 3, "black", steps=64)
    lerf = deletion_insertion(model, x, -heat, 3, "black", steps=64)
    full, empty = _p(4.0 + 2.0 + 1.0 - 3.0), _p(-3.0)
    assert morf["deletion"][:5] == pytest.approx([full, _p(0.0), _p(-2.0), empty, empty])
    assert lerf["deletion"][:62] == pytest.approx([full] * 62)  # 61 background pixels first
    assert morf["deletion"][1] < morf["deletion"][0]
    assert np.all(np.array(morf["deletion"]) <= np.array(lerf["deletion"]) + 1e-12)
    assert morf["auc_deletion"] < lerf["auc_deletion"]
    assert morf["insertion"][:4] == pytest.approx([empty, _p(1.0), _p(3.0), full])
    assert morf["insertion"][1] > morf["insertion"][0]
    assert morf["auc_insertion"] > lerf["auc_insertion"]


def test_road_imputes_the_most_relevant_pixels_first():
    """ROAD's first step (10 %: 6 of 64 pixels) imputes the three known pixels under MoRF,
    each from black neighbours (to within its noise), and only background under LeRF; at 90 %
    LeRF still keeps the three."""
    model, x, heat = _known_pixels_case()
    r = road(model, x, heat, 3)
    full, empty = _p(4.0), _p(-3.0)
    assert r["road_morf_curve"] == pytest.approx([empty] * len(ROAD_FRACTIONS), abs=0.01)
    assert r["road_lerf_curve"] == pytest.approx([full] * len(ROAD_FRACTIONS))
    assert r["road_morf"] < r["road_lerf"]
