"""Contrastive explanations: "why D and not E" explains logit D minus logit E."""

import numpy as np
import pytest
import torch

from svhn_xai.errors import ParameterError
from svhn_xai.explain import count_hooks, explain
from svhn_xai.model.network import DigitResNet18

# methods whose attribution is linear in the explained output: map(D - E) = map(D) - map(E)
LINEAR = {
    "saliency": {"abs": False},
    "integrated_gradients": {"n_steps": 8},
    "input_x_gradient": {},
    "lrp": {"rule": "epsilon"},
    "deep_lift": {},
    "gradient_shap": {"n_samples": 4, "n_baselines": 2},
    "feature_ablation": {"superpixel": 16},
    "occlusion": {"window": 16, "stride": 16},
}


@pytest.mark.parametrize("method", LINEAR)
def test_contrast_is_the_difference_of_the_two_maps(model, house, method):
    image, params = house[0], LINEAR[method]
    d = explain(model, image, 3, method, **params).attribution
    e = explain(model, image, 8, method, **params).attribution
    c = explain(model, image, 3, method, contrast=8, **params)
    assert c.contrast == 8 and c.digit == 3
    scale = float(np.abs(d).max() + np.abs(e).max())
    np.testing.assert_allclose(c.attribution, d - e, rtol=1e-3, atol=1e-4 * scale)
    assert count_hooks(model) == 0


def test_contrast_logit_and_probability(model, image_tensor):
    with torch.no_grad():
        logits = model(image_tensor)[0]
    c = explain(model, image_tensor, 3, "saliency", contrast=8)
    assert c.logit == pytest.approx(float(logits[3] - logits[8]), abs=1e-5)
    assert c.probability == pytest.approx(explain(model, image_tensor, 3, "saliency").probability)


@pytest.mark.parametrize("method", ["guided_backprop", "guided_gradcam", "deep_lift_shap", "lime"])
def test_contrast_runs_on_nonlinear_methods_and_differs_from_the_digit(model, house, method):
    image = house[0]
    fast = {"lime": {"superpixel": 16, "n_samples": 20}, "deep_lift_shap": {"n_baselines": 2}}
    c = explain(model, image, 3, method, contrast=8, **fast.get(method, {}))
    assert c.attribution.shape == (3, 64, 64) and np.isfinite(c.attribution).all()
    assert count_hooks(model) == 0


@pytest.mark.parametrize("contrast", [3, 10, -1, "8"])
def test_a_bad_contrast_is_refused(model, house, contrast):
    with pytest.raises(ParameterError, match="contrast"):
        explain(model, house[0], 3, "saliency", contrast=contrast)


def test_a_contrast_digit_without_a_head_is_refused(house):
    single = DigitResNet18(digits=(3,)).eval()
    with pytest.raises(ParameterError, match="no head for digit 8"):
        explain(single, house[0], 3, "saliency", contrast=8)
