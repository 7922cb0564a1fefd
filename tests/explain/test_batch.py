"""explain_batch: the same Explanations as explain() one pair at a time, in fewer passes."""

import numpy as np
import pytest

from svhn_xai.data.synthetic import SyntheticHouseNumbers
from svhn_xai.data.target import to_model_input
from svhn_xai.errors import ParameterError
from svhn_xai.explain import REGISTRY, count_hooks, explain, explain_batch
from svhn_xai.explain.copies import folded
from svhn_xai.explain.cost import estimated_passes
from tests.explain.test_registry import FAST, KEYS

BATCHED = [k for k in KEYS if REGISTRY[k].batched]


@pytest.fixture(scope="module")
def pairs():
    """Three (image, digit) pairs from different photos, digits not all the same."""
    items = [to_model_input(SyntheticHouseNumbers(6, seed=5)[i], 64).item for i in (0, 2, 4)]
    return [item.image for item in items], [int(item.labels[-1]) for item in items]


@pytest.fixture(scope="module")
def photo_pairs(pairs):
    """Four pairs as a dataset evaluation makes them: the first photo for two of its digits
    (8 and 2), then two more photos."""
    images, digits = pairs
    return [images[0], *images], [8, *digits]


def test_every_method_explains_a_batch_but_the_one_that_draws_per_image():
    unbatched = {k for k in KEYS if not REGISTRY[k].batched}
    assert unbatched == {"gradient_shap"}


# the estimators that share their samples across a batch, beside each method's defaults
SHARED = [
    ("kernel_shap", {"superpixel": 16, "n_samples": 24, "segments": "grid"}),
    ("shapley_value_sampling", {"superpixel": 16, "n_samples": 2, "segments": "slic"}),
    ("kernel_shap", {"superpixel": 16, "n_samples": 24, "segments": "slic"}),
]


@pytest.mark.parametrize(
    "key, params", [(k, FAST.get(k, {})) for k in BATCHED] + SHARED
)  # the others go one at a time: equal by construction
def test_batch_equals_one_at_a_time(model, photo_pairs, key, params):
    images, digits = photo_pairs
    batch = explain_batch(model, images, digits, key, **params)
    assert count_hooks(model) == 0
    alones = [explain(model, image, digit, key, **params) for image, digit in zip(images, digits)]
    # a gradient-free method runs the photo explained for two digits (pairs 0 and 1) once, and
    # any image that two photos' perturbations share (an all-baseline one) once too
    shares = REGISTRY[key].cost.gradient_free
    paid = alones[1:] if shares else alones
    # the batch's passes, shared out (SLIC may cut one photo into fewer segments than another)
    passes = round(sum(alone.model_passes for alone in paid) / len(alones))
    for digit, got, alone in zip(digits, batch, alones):
        scale = max(float(np.abs(alone.attribution).max()), 1e-12)
        np.testing.assert_allclose(got.attribution, alone.attribution, rtol=1e-3, atol=1e-4 * scale)
        assert got.digit == digit and got.method == key
        assert got.probability == pytest.approx(alone.probability, abs=1e-6)
        assert got.logit == pytest.approx(alone.logit, abs=1e-4)
        assert (got.model_passes <= passes) if shares else (got.model_passes == passes)


def test_a_one_pass_method_explains_the_whole_batch_in_one_pass(model, pairs):
    images, digits = pairs
    calls = []
    # the methods run the model's folded copy (the same function, fewer passes over memory)
    runner = folded(model)
    handle = runner.register_forward_hook(lambda _m, args, _o: calls.append(args[0].shape[0]))
    try:
        explain_batch(model, images, digits, "saliency")
        assert calls == [3]
        calls.clear()
        explain_batch(model, images, digits, "gradient_shap", n_samples=2, n_baselines=2)
        assert len(calls) == 3, "a method that draws samples per image goes one at a time"
        calls.clear()
        paired = {"superpixel": 32, "n_samples": 10, "coalitions": "paired", "segments": "grid"}
        explain_batch(model, images, digits, "kernel_shap", **paired, perturbations_per_eval=64)
        distinct = estimated_passes("kernel_shap", paired) - 2  # of 10 coalitions of 4 cells
        assert distinct < 10, "a coalition drawn twice is played once"
        assert calls == [3 * 2, 3 * distinct], "the ends, then the coalitions: every image in each"
        calls.clear()
        explain_batch(model, images, digits, "lime", superpixel=32, n_samples=10)
        assert calls == [3 * 10 + 3], "every image in one pass, the clean images with them"
        calls.clear()
        twice = [images[0], *images], [8, *digits]  # the first photo for two of its digits
        explain_batch(model, *twice, "lime", superpixel=8, n_samples=10)  # 10 of 2^64 subsets
        assert calls == [3 * 10 + 3], "the copies of a photo share its passes"
        calls.clear()
        explain_batch(model, *twice, "rise", n_masks=8, perturbations_per_eval=24)
        assert calls == [8 * 3 + 3], "the pass size counts the distinct photos"
    finally:
        handle.remove()


def test_bad_batches_are_refused_with_a_clear_message(model, pairs):
    images, digits = pairs
    with pytest.raises(ParameterError, match="3 images but 2 digits"):
        explain_batch(model, images, digits[:2], "saliency")
    with pytest.raises(ParameterError, match="digit must be 0-9"):
        explain_batch(model, images, [1, 2, 12], "saliency")
    assert explain_batch(model, [], [], "saliency") == []
