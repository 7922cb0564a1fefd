"""The randomisation sanity check (:func:`~svhn_xai.evaluation.sanity.randomisation_check`) on
answers known beforehand: a method that reads the model passes, one that ignores it is flagged,
and a pair with no rank correlation is counted apart instead of passing as a correlation of 0."""

from pathlib import Path

import numpy as np
import pytest
import torch

from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.evaluation import sanity as ev
from svhn_xai.explain import REGISTRY
from svhn_xai.explain.registry import ONE_PASS, register
from svhn_xai.model.checkpoint import load_model

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "svhn"
LAYERS = len(ev.RANDOMISATION_ORDER)


@pytest.fixture(scope="module")
def shipped():
    """The shipped model and two real photos as it sees them, each with its first digit."""
    model, card = load_model()
    source = open_source("svhn", "train", FIXTURES)
    items = [to_model_input(source[i], model.input_size, card["config"]["margin"]).item
             for i in range(2)]  # fmt: skip
    return model, [(item.image, item.labels[0]) for item in items]


@pytest.fixture
def temporary_methods():
    """Register methods for one test only; the registry is left as it was found."""
    added = []

    def add(key: str, run) -> None:
        register(key, key, "gradient", "a test's own map", cost=ONE_PASS)(run)
        added.append(key)

    yield add
    for key in added:
        REGISTRY.pop(key)


def test_saliency_of_the_shipped_model_changes_with_its_weights_and_the_image_does_not(
    shipped, temporary_methods
):
    model, pairs = shipped
    # the image's own brightness: a map that no weight of any model can change
    temporary_methods("_image", lambda ctx: ctx.x.clone())
    result = ev.randomisation_check(model, pairs, ["saliency", "_image"])
    assert result["layers"] == list(ev.RANDOMISATION_ORDER)
    saliency = result["methods"]["saliency"]
    assert saliency["correlation"][-1] < ev.FLAT_THRESHOLD
    assert not saliency["flagged"] and saliency["reason"] is None
    assert saliency["n_non_finite"] == saliency["n_constant"] == [0] * LAYERS
    assert [len(layer) for layer in saliency["pairs"]] == [2] * LAYERS
    assert saliency["correlation"] == pytest.approx([np.mean(p) for p in saliency["pairs"]])
    image = result["methods"]["_image"]
    assert image["correlation"] == pytest.approx([1.0] * LAYERS)
    assert image["flagged"] and image["reason"] == "flat"


def test_pairs_without_a_correlation_are_counted_apart_never_averaged_as_0(
    shipped, temporary_methods
):
    """Every map is the image itself, except on a randomised model for a dim image, where it
    turns flat (or NaN); so every pair that has a correlation has 1, and the dim one has none.
    As a 0 it made the mean 0.5 and passed the check; left out, the mean is 1: flagged."""
    model, pairs = shipped
    bright, digit = pairs[0]
    assert bright.max() >= 64  # above 1/4 of full brightness
    items = [(bright, digit), (bright // 4, digit)]  # the second at most 63 / 255: below

    def dim_becomes(value: float):
        def run(ctx):
            if ctx.model is model or ctx.x.amax() > 0.25:
                return ctx.x.clone()
            return torch.full_like(ctx.x, value)

        return run

    temporary_methods("_dim_goes_flat", dim_becomes(0.0))
    temporary_methods("_dim_goes_nan", dim_becomes(float("nan")))
    temporary_methods("_always_flat", lambda ctx: ctx.x.clone() if ctx.model is model
                      else torch.zeros_like(ctx.x))  # fmt: skip
    result = ev.randomisation_check(
        model, items, ["_dim_goes_flat", "_dim_goes_nan", "_always_flat"]
    )
    for key, constant, non_finite in (("_dim_goes_flat", 1, 0), ("_dim_goes_nan", 0, 1)):
        row = result["methods"][key]
        assert row["correlation"] == pytest.approx([1.0] * LAYERS), key
        assert (
            row["n_constant"] == [constant] * LAYERS
            and row["n_non_finite"] == [non_finite] * LAYERS
        )
        assert all(p[0] == pytest.approx(1.0) and np.isnan(p[1]) for p in row["pairs"]), key
        assert row["flagged"] and row["reason"] == "flat"
    # no pair has a correlation: undefined, which is no pass
    flat = result["methods"]["_always_flat"]
    assert np.isnan(flat["correlation"]).all() and flat["n_constant"] == [2] * LAYERS
    assert flat["flagged"] and flat["reason"] == "undefined"


def test_spearman_has_no_value_for_a_constant_or_non_finite_map():
    ramp = np.arange(10.0)
    assert np.isnan(ev.spearman(np.ones(10), ramp)) and np.isnan(ev.spearman(ramp, np.zeros(10)))
    assert np.isnan(ev.spearman(np.r_[ramp[:-1], np.nan], ramp))
    assert np.isnan(ev.spearman(ramp, np.r_[np.inf, ramp[1:]]))
    assert ev.spearman(ramp, ramp**3) == pytest.approx(1.0)


def test_explaining_the_pairs_together_gives_the_correlations_of_one_at_a_time(shipped):
    """The check explains its pairs in batches (``explain_batch``): the same maps as one pair at
    a time, so the same correlations, pair by pair and layer by layer, for a one-pass method
    and a sampling one (RISE's masks seeded per pair, not per batch)."""
    model, pairs = shipped
    methods, params = ["saliency", "rise"], {"rise": {"n_masks": 32}}
    together = ev.randomisation_check(model, pairs, methods, params=params, batch_size=2)
    alone = ev.randomisation_check(model, pairs, methods, params=params, batch_size=1)
    for m in methods:
        assert np.asarray(together["methods"][m]["pairs"]) == pytest.approx(
            np.asarray(alone["methods"][m]["pairs"]), abs=1e-4
        ), m


def test_a_method_that_draws_at_random_does_not_move_the_others_results(shipped, temporary_methods):
    """A method that draws from torch's global generator, checked before Saliency, leaves
    Saliency's correlations those of Saliency checked alone: the weights each layer is
    re-initialised with do not depend on which methods ran, so results can be kept per method
    (``evaluate --resume``)."""
    model, pairs = shipped

    def noisy(ctx):
        return torch.rand(ctx.x.shape)  # a draw from the global generator

    temporary_methods("_draws", noisy)
    both = ev.randomisation_check(model, pairs, ["_draws", "saliency"])
    alone = ev.randomisation_check(model, pairs, ["saliency"])
    assert both["methods"]["saliency"]["pairs"] == alone["methods"]["saliency"]["pairs"]
