"""Integrated Gradients through the first convolution's linearity equals Captum's."""

import captum.attr as ca
import pytest
import torch

from svhn_xai.explain import explain
from svhn_xai.explain.copies import folded
from svhn_xai.explain.integrated import integrated_gradients
from svhn_xai.model.checkpoint import load_model
from tests.explain.agreement import assert_agrees, random_images
from tests.models import random_model

RULES = ["gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle"]


def one_hot(heads: list[int], outputs: int = 10) -> torch.Tensor:
    w = torch.zeros(len(heads), outputs, dtype=torch.float64)
    w[range(len(heads)), heads] = 1
    return w


@pytest.mark.parametrize(
    "method, stem", [(rule, "imagenet") for rule in RULES] + [("gausslegendre", "small")]
)
def test_equals_captum_per_row_targets_in_uneven_passes(method, stem):
    """Two images, a head each, 5 points in passes of 2 points (4 rows): 2 + 2 + 1."""
    model = random_model(3, stem=stem).double()
    x = random_images(2).double()
    baselines = random_images(2, seed=1).double()
    theirs = ca.IntegratedGradients(model).attribute(
        x, baselines=baselines, target=[4, 9], n_steps=5, method=method, internal_batch_size=4
    )
    ours, _ = integrated_gradients(model, x, baselines, one_hot([4, 9]), 5, method, 4)
    # Captum rounds its weights and positions to float32: agreement to that, not to float64
    assert_agrees(ours, theirs, 1e-7)


def test_a_contrast_equals_captum_on_the_difference_of_two_heads():
    model = random_model(5).double()
    x = random_images(1, seed=2).double()
    weights = torch.zeros(10, dtype=torch.float64)
    weights[2], weights[7] = 1, -1
    theirs = ca.IntegratedGradients(lambda v: model(v)[:, 2] - model(v)[:, 7]).attribute(
        x, baselines=torch.zeros_like(x), n_steps=16
    )
    ours, _ = integrated_gradients(model, x, torch.zeros_like(x), weights, 16)
    assert_agrees(ours, theirs, 1e-7)


def test_two_left_riemann_points_by_hand():
    """riemann_left with 2 points: (x - b) * (grad f(b) + grad f(b + (x - b) / 2)) / 2."""
    model = random_model(1).double()
    x, b = random_images(1, seed=3).double(), random_images(1, seed=4).double()
    points = torch.cat([b, b + (x - b) / 2]).requires_grad_()
    (grad,) = torch.autograd.grad(model(points)[:, 6].sum(), points)
    ours, _ = integrated_gradients(model, x, b, one_hot([6])[0], 2, "riemann_left")
    torch.testing.assert_close(ours, (x - b) * grad.sum(0) / 2, rtol=1e-10, atol=1e-12)


def test_the_clean_images_logits_come_from_the_first_pass():
    model = random_model(2)
    x, clean = random_images(3, seed=5), random_images(1, seed=6)  # SmoothGrad: noisy x
    seen = []
    _, logits = integrated_gradients(
        model,
        x,
        torch.zeros_like(x),
        one_hot([1, 1, 1]).float(),
        4,
        clean=clean,
        internal_batch_size=6,
        progress=seen.append,
    )
    with torch.no_grad():
        torch.testing.assert_close(logits, model(clean), rtol=0, atol=1e-5)
    assert seen == [0.5, 1.0]  # 2 points of 3 images a pass


def test_explain_on_the_shipped_model_equals_captum_and_counts_its_passes():
    model, _ = load_model(None)
    x = random_images(1, seed=7)
    e = explain(model, x[0], 4, "integrated_gradients", n_steps=8, internal_batch_size=4)
    theirs = ca.IntegratedGradients(model).attribute(
        x, target=model.head(4), n_steps=8, internal_batch_size=4
    )
    assert_agrees(torch.from_numpy(e.attribution)[None], theirs, 1e-4)  # float32, folded
    assert e.model_passes == 9  # 8 path points, and the image for its probability
    with torch.no_grad():
        logit = float(model(x)[0, model.head(4)])
    assert e.logit == pytest.approx(logit, abs=1e-4)
    # the first layer runs on the image and the baseline alone, the rest on every point
    convs, rest = [], []
    net = folded(model)
    hooks = [
        net.conv1.register_forward_hook(lambda _m, a, _o: convs.append(len(a[0]))),
        net.layer1.register_forward_hook(lambda _m, a, _o: rest.append(len(a[0]))),
    ]
    try:
        explain(model, x[0], 4, "integrated_gradients", n_steps=8, internal_batch_size=4)
    finally:
        for h in hooks:
            h.remove()
    assert sorted(convs) == [1, 1] and rest == [5, 4]
