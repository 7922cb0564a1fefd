"""DeepLift's rescale rule with the references' pass run without gradients equals Captum's."""

import captum.attr as ca
import pytest
import torch
from torch import nn

from svhn_xai.explain import deeplift, explain
from svhn_xai.explain.copies import folded
from svhn_xai.explain.references import baseline
from svhn_xai.model.checkpoint import load_model
from tests.explain.agreement import assert_agrees, random_images
from tests.models import random_model


@pytest.mark.parametrize("stem", ["imagenet", "small"])
@pytest.mark.parametrize("kind", ["black", "blur", "noise"])
def test_equals_captum_deeplift_per_row_targets(stem, kind):
    model = random_model(1, stem=stem)
    x = random_images(4)
    refs = baseline(x, kind)
    target = [3, 0, 7, 3]
    ours = deeplift.deep_lift(model, model, x, refs, target)
    theirs = ca.DeepLift(model).attribute(x, baselines=refs, target=target)
    assert_agrees(ours, theirs, 1e-4)


def test_equals_captum_on_the_folded_shipped_model_with_one_target():
    model, _ = load_model(None)
    net = folded(model)
    x = random_images(3, seed=5)
    refs = baseline(x, "blur")
    ours = deeplift.deep_lift(net, net, x, refs, 6)
    theirs = ca.DeepLift(net).attribute(x, baselines=refs, target=6)
    assert_agrees(ours, theirs, 1e-4)


def test_a_max_pool_fed_by_a_convolution_follows_captums_max_pool_rule():
    """The ResNet's max-pool always follows a ReLU; a max-pool right after a convolution takes
    Captum's cross-maximum rule, which these attributions must reproduce."""
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 2, 3), nn.MaxPool2d(3, 2, 1), nn.Flatten(), nn.Linear(2 * 7 * 7, 3)
    ).eval()
    x = random_images(2, seed=3)[:, :, :16, :16]
    refs = 0.5 * random_images(2, seed=4)[:, :, :16, :16]
    theirs = ca.DeepLift(net).attribute(x, baselines=refs, target=1)
    assert_agrees(deeplift.deep_lift(net, net, x, refs, 1), theirs, 1e-4)
    # the rule is what makes them equal: with no module hooked (a network holding none of
    # net's), the plain gradient times (x - reference) is far from Captum's
    unhooked = deeplift.deep_lift(net, nn.Sequential(nn.ReLU()), x, refs, 1)
    assert (unhooked - theirs).abs().max() > 0.01 * theirs.abs().max()


def test_a_nonlinearity_straight_after_a_rule_is_refused():
    net = nn.Sequential(
        nn.Conv2d(3, 2, 3), nn.MaxPool2d(3, 2, 1), nn.ReLU(), nn.Flatten(), nn.Linear(98, 3)
    ).eval()
    x = random_images(1)[:, :, :16, :16]
    with pytest.raises(NotImplementedError, match="straight after"):
        deeplift.deep_lift(net, net, x, torch.zeros_like(x), 0)


def test_relevance_sums_to_the_change_of_the_logit():
    """DeepLift's summation-to-delta: the attributions of an image add up to its logit minus
    the reference's (the rescale rule is exact for ReLU networks with max-pooling)."""
    model = random_model(2)
    x, refs = random_images(2, seed=7), torch.zeros(2, 3, 64, 64)
    attributions = deeplift.deep_lift(model, model, x, refs, 4)
    with torch.no_grad():
        delta = model(x)[:, 4] - model(refs)[:, 4]
    torch.testing.assert_close(attributions.sum(dim=(1, 2, 3)), delta, rtol=1e-3, atol=1e-3)


def test_explain_uses_it_and_keeps_the_pass_count_and_probability():
    model = random_model(3)
    x = random_images(1, seed=2)[0]
    e = explain(model, x, 5, "deep_lift")
    with torch.no_grad():
        probability = torch.sigmoid(model(x[None]))[0, 5]
    assert e.model_passes == 2  # the reference's pass and the image's
    assert e.probability == pytest.approx(float(probability), abs=1e-5)


def test_a_reused_or_inplace_nonlinearity_is_left_to_captum():
    shared = nn.ReLU()
    reused = nn.Sequential(nn.Conv2d(3, 4, 3), shared, nn.Conv2d(4, 4, 3), shared)
    assert deeplift.supported(reused)  # supported types, but used twice: refused when run
    with pytest.raises(RuntimeError, match="used once"):
        deeplift.deep_lift(
            nn.Sequential(reused, nn.Flatten()),
            reused,
            random_images(1),
            torch.zeros(1, 3, 64, 64),
            0,
        )
    assert not deeplift.supported(nn.Sequential(nn.ReLU(inplace=True)))
    assert not deeplift.supported(nn.Sequential(nn.Tanh()))
