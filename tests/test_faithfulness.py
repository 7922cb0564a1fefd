import numpy as np
import pytest
import torch

from svhn_xai.faithfulness import (
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
