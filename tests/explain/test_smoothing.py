"""SmoothGrad, SmoothGrad² and VarGrad through NoiseTunnel, against their definitions."""

import json

import numpy as np
import pytest
import torch

from svhn_xai.cli import run
from svhn_xai.explain import REGISTRY, count_hooks, explain
from svhn_xai.explain.copies import folded

SAMPLES, STDEV = 6, 0.2


def noisy_gradients(model, x: torch.Tensor, head: int) -> torch.Tensor:
    """Gradients of the head's logit at the noisy copies NoiseTunnel draws with seed 0."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        noise = torch.normal(0, torch.tensor(STDEV).repeat(SAMPLES, *x.shape[1:]))
    noisy = (x.repeat_interleave(SAMPLES, 0) + noise).requires_grad_(True)
    (grad,) = torch.autograd.grad(model(noisy)[:, head].sum(), noisy)
    return grad


@pytest.mark.parametrize(
    ("smooth", "reduce"),
    [
        ("smoothgrad", lambda g: g.mean(0)),
        ("smoothgrad_sq", lambda g: (g**2).mean(0)),
        ("vargrad", lambda g: (g**2).mean(0) - g.mean(0) ** 2),
    ],
)
def test_smoothing_is_its_definition(model, image_tensor, smooth, reduce):
    e = explain(model, image_tensor, 3, "saliency", abs=False, smooth=smooth,
                smooth_samples=SAMPLES, smooth_stdev=STDEV)  # fmt: skip
    expected = reduce(noisy_gradients(model, image_tensor, 3)).numpy()
    np.testing.assert_allclose(
        e.attribution, expected, rtol=1e-4, atol=1e-6 * np.abs(expected).max()
    )
    assert e.model_passes == SAMPLES + 1  # the noisy copies, and the image for the probability
    assert count_hooks(model) == 0


def test_all_noisy_copies_go_through_in_one_batch(model, house):
    batches = []
    runner = folded(model)  # what the methods run (see test_copies)
    handle = runner.register_forward_hook(lambda _m, _a, out: batches.append(len(out)))
    try:
        explain(
            model, house[0], house[1], "input_x_gradient", smooth="smoothgrad", smooth_samples=8
        )
    finally:
        handle.remove()
    assert batches == [8, 1]  # one batch of the noisy copies, then the image for its logit


def test_zero_noise_smoothgrad_is_the_plain_method(model, house):
    plain = explain(model, house[0], house[1], "lrp").attribution
    smooth = explain(model, house[0], house[1], "lrp", smooth="smoothgrad", smooth_stdev=0.0,
                     smooth_samples=3).attribution  # fmt: skip
    np.testing.assert_allclose(smooth, plain, rtol=1e-3, atol=1e-5 * np.abs(plain).max())


def test_smoothing_is_seeded(model, house):
    a = explain(model, house[0], house[1], "deconvolution", smooth="smoothgrad", smooth_samples=3)
    b = explain(model, house[0], house[1], "deconvolution", smooth="smoothgrad", smooth_samples=3)
    np.testing.assert_array_equal(a.attribution, b.attribution)


def test_every_gradient_method_and_lrp_list_the_smoothing_params(capsys):
    assert run(["methods", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    smoothable = [k for k, s in REGISTRY.items() if s.family == "gradient"] + ["lrp"]
    assert len(smoothable) == 10
    for key in smoothable:
        params = listed[key]["params"]
        assert params["smooth"]["choices"] == ["none", "smoothgrad", "smoothgrad_sq", "vargrad"]
        assert params["smooth"]["default"] == "none"
        assert {"smooth_samples", "smooth_stdev"} <= set(params)
    for key in ("occlusion", "rise", "grad_cam"):
        assert "smooth" not in listed[key]["params"]


def test_copies_of_a_many_pass_method_go_through_in_bounded_batches(model, house):
    """GradientShap makes 32 passes of each copy: 16 copies are two batches of 8 copies (256
    images each, and the clean image GradientShap's first batch carries), not one of 512."""
    from svhn_xai.explain.smoothing import BATCH_IMAGES

    batches = []
    runner = folded(model)
    handle = runner.register_forward_hook(lambda _m, _a, out: batches.append(len(out)))
    try:
        e = explain(model, house[0], house[1], "gradient_shap", n_samples=32,
                    smooth="smoothgrad", smooth_samples=16)  # fmt: skip
    finally:
        handle.remove()
    assert batches == [BATCH_IMAGES + 1] * 2 and BATCH_IMAGES == 256
    assert sum(batches) == e.model_passes
    assert np.isfinite(e.attribution).all()
