"""Guided Backprop and Deconvolution by rule-carrying ReLUs equal Captum's hooked ones."""

import captum.attr as ca
import pytest
import torch
from torch import nn

from svhn_xai.explain import explain
from svhn_xai.explain.copies import folded
from svhn_xai.explain.modified_relu import modified_gradient
from svhn_xai.model.checkpoint import load_model
from tests.explain.agreement import assert_agrees, random_images
from tests.models import random_model

CAPTUM = {"guided_backprop": ca.GuidedBackprop, "deconvolution": ca.Deconvolution}


@pytest.mark.parametrize("rule", sorted(CAPTUM))
@pytest.mark.parametrize("stem", ["imagenet", "small"])
def test_equals_captum_per_row_targets(rule, stem):
    model = random_model(2, stem=stem)
    x = random_images(4)
    target = [3, 0, 7, 3]
    theirs = CAPTUM[rule](model).attribute(x, target=target)
    ours = modified_gradient(model, model, x, target, rule)
    assert_agrees(ours, theirs, 1e-5)
    # the rule lives only for the pass: the plain gradient afterwards
    plain = ca.Saliency(model).attribute(x, target=target, abs=False)
    assert not torch.allclose(plain, ours)
    assert all("forward" not in vars(m) for m in model.modules())


@pytest.mark.parametrize("rule", sorted(CAPTUM))
def test_equals_captum_on_the_folded_shipped_model(rule):
    net = folded(load_model(None)[0])
    x = random_images(3, seed=4)
    assert_agrees(
        modified_gradient(net, net, x, 6, rule), CAPTUM[rule](net).attribute(x, target=6), 1e-5
    )


def test_the_two_rules_differ_where_a_relu_input_was_negative():
    """One ReLU, input (-1, 2), upstream gradient (3, -4): Guided Backprop passes (0, 0) (the
    first input was negative, the second gradient is), Deconvolution (3, 0)."""
    weights = torch.tensor([[3.0, -4.0]])
    net = nn.Sequential(nn.ReLU(), nn.Linear(2, 1, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(weights)
    x = torch.tensor([[-1.0, 2.0]])
    assert modified_gradient(net, net, x, 0, "guided_backprop").tolist() == [[0.0, 0.0]]
    assert modified_gradient(net, net, x, 0, "deconvolution").tolist() == [[3.0, 0.0]]


def test_a_reused_relu_takes_the_rule_each_time():
    relu = nn.ReLU()
    net = nn.Sequential(nn.Linear(2, 2), relu, nn.Linear(2, 2), relu, nn.Linear(2, 1))
    x = torch.randn(5, 2, generator=torch.Generator().manual_seed(0))
    for rule, cls in CAPTUM.items():
        assert_agrees(
            modified_gradient(net, net, x, 0, rule), cls(net).attribute(x, target=0), 1e-5
        )


@pytest.mark.parametrize("rule", sorted(CAPTUM))
def test_explain_keeps_one_pass_and_leaves_the_model_alone(rule, model, house):
    image, digit, _ = house
    e = explain(model, image, digit, rule)
    assert e.model_passes == 1
    assert all("forward" not in vars(m) for m in model.modules())
    again = explain(model, image, digit, rule)  # the second run, as the app reruns
    assert (e.attribution == again.attribution).all()
