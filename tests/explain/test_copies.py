"""The private copies the methods run: the model's function, never the model itself."""

import copy

import pytest
import torch

from svhn_xai.explain import count_hooks, explain
from svhn_xai.explain.copies import folded, submodules
from tests.models import random_model


def test_the_folded_copy_computes_the_models_function_and_gradients(image_tensor):
    # in float64 folding is exact up to rounding, so the tolerances can be tight
    model = random_model(3).double()
    x = image_tensor.double().repeat(2, 1, 1, 1)
    x[1] = x[1].flip(-1)
    private = folded(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in private.modules())
    torch.testing.assert_close(private(x), model(x), rtol=1e-12, atol=1e-12)
    grads = []
    for net in (model, private):
        xi = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(net(xi)[:, 4].sum(), xi)
        grads.append(g)
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-10, atol=1e-12)


def test_the_folded_copy_is_frozen_cached_and_remade_when_the_weights_change():
    model = random_model(4)
    private = folded(model)
    assert folded(model) is private
    assert not any(p.requires_grad for p in private.parameters())
    assert all(p.requires_grad for p in model.parameters()), "the shared model is untouched"
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        model.layer2[0].bn1.running_mean.add_(0.5)  # in place, as load_state_dict writes
    again = folded(model)
    assert again is not private
    torch.testing.assert_close(again(x), model(x), rtol=1e-4, atol=1e-5)
    assert not torch.allclose(private(x), model(x), rtol=1e-4, atol=1e-5)


def test_a_model_in_training_mode_is_not_folded():
    with pytest.raises(ValueError, match="eval"):
        folded(random_model(0).train())


def test_explain_never_runs_the_shared_model(model, house):
    image, digit, _ = house
    calls = []
    handle = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        for key in ("saliency", "deep_lift", "grad_cam", "occlusion"):
            explain(model, image, digit, key)
    finally:
        handle.remove()
    assert calls == []
    assert count_hooks(model) == 0 and count_hooks(folded(model)) == 0


def test_submodules_lists_what_modules_lists():
    model = random_model(0)
    assert submodules(model) == list(model.modules())
    shared = torch.nn.ReLU()
    twice = torch.nn.Sequential(shared, copy.deepcopy(model.layer1), shared)
    assert submodules(twice) == list(twice.modules())
