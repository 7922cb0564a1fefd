import json

import numpy as np
import pytest
import torch

from svhn_xai.cli import run
from svhn_xai.errors import ParameterError
from svhn_xai.explain import REGISTRY, count_hooks, explain
from svhn_xai.explain.copies import folded
from svhn_xai.explain.cost import estimated_passes
from svhn_xai.explain.params import validate
from svhn_xai.explain.registry import ONE_PASS, register

KEYS = [
    "integrated_gradients",
    "saliency",
    "deep_lift",
    "deep_lift_shap",
    "gradient_shap",
    "input_x_gradient",
    "guided_backprop",
    "guided_gradcam",
    "deconvolution",
    "grad_cam",
    "grad_cam_plus_plus",
    "xgrad_cam",
    "layer_cam",
    "score_cam",
    "eigen_cam",
    "feature_ablation",
    "occlusion",
    "feature_permutation",
    "shapley_value_sampling",
    "lime",
    "kernel_shap",
    "rise",
    "lrp",
]
# cheap settings so that every method runs in the default test suite
FAST = {
    "integrated_gradients": {"n_steps": 8},
    "deep_lift_shap": {"n_baselines": 2},
    "gradient_shap": {"n_samples": 4, "n_baselines": 2},
    "feature_ablation": {"superpixel": 16},
    "occlusion": {"window": 16, "stride": 16},
    "feature_permutation": {"superpixel": 16, "batch_size": 3},
    # the grid: SLIC's segments, and so the passes, follow the photo (see test_references.py)
    "shapley_value_sampling": {"superpixel": 16, "n_samples": 1, "segments": "grid"},
    "lime": {"superpixel": 16, "n_samples": 20},
    "kernel_shap": {"superpixel": 16, "n_samples": 20, "segments": "grid"},
    "score_cam": {"layer": "layer2"},  # 129 passes: the default layer3 takes 257, layer4 513
    "rise": {"n_masks": 16},
}


def test_registry_holds_every_method_with_documented_params():
    assert list(REGISTRY) == KEYS
    for spec in REGISTRY.values():
        assert spec.name and spec.description and spec.family
        for p in spec.params:
            assert p.help, (spec.key, p.name)
            p.parse(p.default)  # every default lies in its own range


@pytest.mark.parametrize("key", KEYS)
def test_every_method_runs_leaves_no_hook_and_is_not_all_zero(model, house, key):
    image, digit, _ = house
    e = explain(model, image, digit, key, **FAST.get(key, {}))
    assert e.attribution.shape == (3, 64, 64) and e.relevance.shape == (64, 64)
    assert np.isfinite(e.attribution).all()
    if (key == "guided_gradcam" or REGISTRY[key].family == "cam") and not e.attribution.any():
        # Grad-CAM's ReLU may zero a random network's map: allowed, but never silently
        assert "zero everywhere" in e.notes[0]
    else:
        assert np.abs(e.attribution).sum() > 0, key
    assert e.model_passes == estimated_passes(key, FAST.get(key, {})), "pass count or estimate"
    assert count_hooks(model) == 0
    with torch.no_grad():  # read from the method's own pass, it is still the model's answer
        logits = model(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255)[0]
    head = model.head(digit)
    assert e.logit == pytest.approx(float(logits[head]), abs=1e-5)
    assert e.probability == pytest.approx(float(torch.sigmoid(logits[head])), abs=1e-6)


def test_one_pass_methods_make_no_second_pass_for_the_probability(model, house):
    image, digit, _ = house
    calls = []
    runner = folded(model)  # what the methods run (see test_copies)
    handle = runner.register_forward_hook(lambda _m, args, _o: calls.append(args[0].shape[0]))
    try:
        for key in ("saliency", "input_x_gradient", "guided_backprop", "deconvolution"):
            calls.clear()
            explain(model, image, digit, key)
            assert calls == [1], key
    finally:
        handle.remove()


def test_heads_differ(model, house):
    image = house[0]
    a = explain(model, image, 1, "saliency").attribution
    b = explain(model, image, 2, "saliency").attribution
    assert not np.allclose(a, b)


def test_hooks_are_removed_when_a_method_raises(model, house):
    @register("_raiser", "Raiser", "gradient", "adds a hook, then fails", cost=ONE_PASS)
    def _raiser(ctx):
        ctx.model.layer1.register_forward_hook(lambda *a: None)
        ctx.model.relu.register_full_backward_hook(lambda *a: None)
        raise RuntimeError("boom")

    try:
        with pytest.raises(RuntimeError, match="boom"):
            explain(model, house[0], 1, "_raiser")
        assert count_hooks(model) == 0
    finally:
        REGISTRY.pop("_raiser")


@pytest.mark.parametrize(
    "method, params, message",
    [
        ("integrated_gradients", {"n_steps": 0}, r"n_steps must be an integer in \[2, 512\]"),
        ("occlusion", {"window": 1000}, "window must be"),
        ("lrp", {"rule": "magic"}, "rule must be one of epsilon"),
        ("saliency", {"n_steps": 5}, "saliency has no parameter n_steps"),
        ("nonsense", {}, "unknown method 'nonsense'"),
        ("gradient_shap", {"stdevs": float("nan")}, "stdevs must be"),
    ],
)
def test_bad_parameters_are_refused_by_name(model, house, method, params, message):
    with pytest.raises(ParameterError, match=message):
        explain(model, house[0], 1, method, **params)


def test_wrong_image_size_and_missing_head_are_refused(model, house):
    with pytest.raises(ParameterError, match="3x64x64"):
        explain(model, np.zeros((32, 32, 3), np.uint8), 1, "saliency")
    from svhn_xai.model.network import DigitResNet18

    single = DigitResNet18(digits=(3,)).eval()
    with pytest.raises(ParameterError, match="no head for digit 5"):
        explain(single, house[0], 5, "saliency")


def test_integrated_gradients_completeness(model, house):
    """IG sums to f(x) - f(baseline) (Sundararajan et al., axiom of completeness)."""
    image, digit, _ = house
    e = explain(model, image, digit, "integrated_gradients", n_steps=256, baseline="black")
    with torch.no_grad():
        base = float(model(torch.zeros(1, 3, 64, 64))[0, model.head(digit)])
    assert e.relevance.sum() == pytest.approx(
        e.logit - base, abs=0.02 * max(1, abs(e.logit - base))
    )


def test_shapley_efficiency_is_exact(model, house):
    image, digit, _ = house
    e = explain(
        model, image, digit, "shapley_value_sampling", superpixel=32, n_samples=2, baseline="black"
    )
    with torch.no_grad():
        base = float(model(torch.zeros(1, 3, 64, 64))[0, model.head(digit)])
    assert e.relevance.sum() == pytest.approx(e.logit - base, rel=1e-3, abs=1e-4)


def test_feature_ablation_by_hand(model, house, image_tensor):
    image, digit, _ = house
    e = explain(model, image, digit, "feature_ablation", superpixel=32, baseline="black")
    ablated = image_tensor.clone()
    ablated[..., :32, :32] = 0
    with torch.no_grad():
        drop = e.logit - float(model(ablated)[0, model.head(digit)])
    # the cell's attribution is spread over its 3 x 32 x 32 values and sums to the drop
    assert e.attribution[:, :32, :32].sum() == pytest.approx(drop, rel=1e-3, abs=1e-5)
    assert np.allclose(e.attribution[:, :32, :32], drop / (3 * 32 * 32), rtol=1e-3, atol=1e-8)


def test_feature_permutation_by_hand(model, house, image_tensor):
    """Bottom-right cell: the mean drop over the batch's two donors, swapped in one at a time."""
    from svhn_xai.explain.references import dataset_images

    image, digit, _ = house
    e = explain(model, image, digit, "feature_permutation", superpixel=32, batch_size=3)
    drops = []
    for donor in dataset_images(2, 64):
        swapped = image_tensor.clone()
        swapped[..., 32:, 32:] = donor[:, 32:, 32:]
        with torch.no_grad():
            drops.append(e.logit - float(model(swapped)[0, model.head(digit)]))
    assert e.attribution[:, 32:, 32:].sum() == pytest.approx(np.mean(drops), rel=1e-3, abs=1e-5)
    assert e.model_passes == 4 * 2 + 1


def test_methods_command_lists_registry_as_json(capsys):
    assert run(["methods", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert list(listed) == KEYS
    assert listed["integrated_gradients"]["params"]["n_steps"]["range"] == [2, 512]
    assert "epsilon_plus" in listed["lrp"]["params"]["rule"]["choices"]


def test_reference_images_never_come_from_a_scored_split():
    """Feature Permutation's donors and the 'dataset' references: the synthetic extra split,
    disjoint from the synthetic test images that are explained (an image was its own donor)."""
    from svhn_xai.data.sources import open_source
    from svhn_xai.data.target import to_model_input
    from svhn_xai.explain.references import DONOR_SPLIT, dataset_images

    assert DONOR_SPLIT not in ("test", "train")
    donors = (dataset_images(4, 64) * 255).round().byte().permute(0, 2, 3, 1).numpy()
    test = open_source("synthetic", "test")
    explained = [to_model_input(test[i], 64).item.image for i in range(4)]
    assert not any(np.array_equal(d, e) for d in donors for e in explained)


def test_a_non_finite_attribution_is_kept_and_flagged_not_zeroed(model, house):
    @register("_inf", "Inf", "gradient", "an attribution with an infinity in it", cost=ONE_PASS)
    def _inf(ctx):
        out = torch.ones_like(ctx.x)
        out[..., 1, 1] = float("inf")
        return out

    image, digit, _ = house
    try:
        e = explain(model, image, digit, "_inf")
    finally:
        REGISTRY.pop("_inf")
    assert not e.finite and np.isinf(e.attribution[:, 1, 1]).all()
    assert "non-finite" in e.notes[0]
    assert np.isfinite(e.heatmap()).all()  # shown with the infinity at 0, never scored


def test_a_method_without_a_cost_is_refused_at_registration():
    """No estimate may count an undeclared method as one pass: registration refuses it."""
    with pytest.raises(ValueError, match="declares no cost"):
        register("_free", "Free", "gradient", "a method that says nothing of its cost")
    assert "_free" not in REGISTRY
    for key, spec in REGISTRY.items():
        assert spec.cost.passes(validate(spec.params, {}, key), 64) >= 1, key


def test_a_method_key_reads_as_its_name_and_an_unknown_key_stays_as_it_is():
    from svhn_xai.explain import method_name

    assert method_name("integrated_gradients") == "Integrated Gradients"
    assert method_name("an_older_method") == "an_older_method"
