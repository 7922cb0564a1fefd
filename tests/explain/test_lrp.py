import copy

import numpy as np
import pytest
import torch

from svhn_xai.explain import count_hooks, explain
from svhn_xai.explain.copies import folded
from svhn_xai.explain.lrp import RULES, canonized
from svhn_xai.explain.zennit_rules import epsilon_relevance, one_pass_covers, relevance
from svhn_xai.model.network import Add, DigitResNet18
from tests.models import random_model


def onehot(head: int, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Output weights that select one head's logit."""
    return torch.nn.functional.one_hot(torch.tensor(head), 10).to(dtype)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_epsilon_relevance_sums_to_the_logit_without_biases(seed, image_tensor):
    """Conservation: with no biases to absorb relevance, every layer passes it all on."""
    model = random_model(seed, biases=False).double()
    x = image_tensor.double()
    head = seed % 10
    with torch.no_grad():
        logit = float(model(x)[0, head])
    private = canonized(model)
    rel = relevance(private, x, onehot(head), "epsilon", epsilon=1e-12, gamma=0.25)
    assert float(rel.sum()) == pytest.approx(logit, rel=1e-6, abs=1e-9)
    assert count_hooks(private) == 0


@pytest.mark.parametrize(
    ("epsilon", "stem"), [(1e-9, "imagenet"), (0.1, "small"), (1.0, "imagenet")]
)
def test_one_pass_epsilon_equals_zennits(epsilon, stem, image_tensor):
    """The default rule's one-backward-pass form gives zennit's numbers, biases and all."""
    model = random_model(0).double()
    if stem == "small":
        model = DigitResNet18(stem="small").double().eval()
    private = canonized(model)
    assert one_pass_covers(private)
    x = torch.cat([image_tensor, torch.rand(1, *image_tensor.shape[1:])]).double()
    expected = relevance(private, x, onehot(3), "epsilon", epsilon, gamma=0.25)
    got = epsilon_relevance(private, x, onehot(3), epsilon)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12 * float(expected.abs().max()))
    assert count_hooks(private) == 0


def test_one_pass_epsilon_on_the_folded_copy_equals_zennits(image_tensor):
    """explain() runs the default rule on the methods' folded copy, whose residual sums are
    plain Adds (no canonizer's stack): the same numbers as zennit's Sum with its Norm rule."""
    model = random_model(1).double()
    net = folded(model)
    assert one_pass_covers(net) and any(isinstance(m, Add) for m in net.modules())
    x = torch.cat([image_tensor, torch.rand(1, *image_tensor.shape[1:])]).double()
    expected = relevance(canonized(model), x, onehot(5), "epsilon", 0.1, gamma=0.25)
    got = epsilon_relevance(net, x, onehot(5), 0.1)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12 * float(expected.abs().max()))
    assert count_hooks(net) == 0


def test_the_canonized_copy_computes_the_models_function(image_tensor):
    """Merged BatchNorms become exact identities (zennit's merge leaves eps behind: 2.5e-5
    off; an eps of 0 is refused by some torch versions)."""
    model = random_model(0).double()
    x = image_tensor.double()
    with torch.no_grad():
        torch.testing.assert_close(canonized(model)(x), model(x), rtol=1e-12, atol=1e-12)


def test_a_layer_the_one_pass_form_does_not_know_goes_through_zennit(house):
    model = random_model(0)
    model.layer1[0].relu1 = torch.nn.LeakyReLU(0.1)  # not a ReLU: Pass is no longer its gradient
    assert not one_pass_covers(canonized(model))
    merged = canonized(random_model(0))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in merged.modules())
    unmerged = copy.deepcopy(merged)
    unmerged.bn1 = torch.nn.BatchNorm2d(64).eval()  # not merged: Pass is not its gradient
    assert one_pass_covers(merged) and not one_pass_covers(unmerged)
    got = explain(model, house[0], house[1], "lrp").attribution
    x = torch.from_numpy(house[0].copy()).permute(2, 0, 1).float().div(255)[None]
    expected = relevance(
        canonized(model), x, onehot(model.head(house[1]), torch.float32), "epsilon", 0.1, 0.25
    )
    np.testing.assert_allclose(got, expected[0].numpy(), rtol=1e-5, atol=1e-8)


def test_canonizing_leaves_the_weights_as_they_were(image_tensor):
    model = random_model(0).double()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    relevance(canonized(model), image_tensor.double(), onehot(3), "epsilon_plus", 1e-6, 0.25)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert count_hooks(model) == 0


def test_the_private_copy_follows_new_weights(house):
    """The cached LRP copy is rebuilt when the shared model's weights change in place."""
    model, other = random_model(0), random_model(1)
    assert canonized(model) is canonized(model)
    first = explain(model, house[0], house[1], "lrp").relevance
    model.load_state_dict(other.state_dict())
    after = explain(model, house[0], house[1], "lrp").relevance
    expected = explain(other, house[0], house[1], "lrp").relevance
    np.testing.assert_allclose(after, expected, rtol=1e-5, atol=1e-7)
    assert not np.allclose(first, after)
    assert count_hooks(canonized(model)) == 0


def test_explain_never_touches_the_shared_model(model, house):
    before = {k: v.clone() for k, v in model.state_dict().items()}
    explain(model, house[0], house[1], "lrp")
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_rules_give_different_maps(model, house):
    maps = {rule: explain(model, house[0], house[1], "lrp", rule=rule).relevance for rule in RULES}
    # Z+ is alpha1-beta0 when every layer's input is non-negative (ReLU outputs, pixels in [0, 1])
    np.testing.assert_allclose(maps["zplus"], maps["alpha1beta0"], rtol=1e-5, atol=1e-9)
    for i, a in enumerate(RULES):
        for b in RULES[i + 1 :]:
            if {a, b} != {"zplus", "alpha1beta0"}:
                assert not np.allclose(maps[a], maps[b]), (a, b)
    # alpha1beta0 and Z+ only pass positive contributions: no negative relevance reaches a pixel
    # through the convolutions, but the linear head (epsilon) can flip the sign of the whole map
    for rule in ("zplus", "alpha1beta0"):
        r = maps[rule]
        assert (r >= -1e-6).all() or (r <= 1e-6).all(), rule


def test_epsilon_near_zero_is_input_times_gradient(model, house):
    """On a ReLU network LRP-0 is Input x Gradient exactly (Ancona et al. 2018), biases and
    residual sums included: a known answer for the whole propagation, canonizers and all."""
    image, digit, _ = house
    exact = copy.deepcopy(model).double()  # float64, so that the tolerance can be tight
    lrp0 = explain(exact, image, digit, "lrp", rule="epsilon", epsilon=1e-9).attribution
    ixg = explain(exact, image, digit, "input_x_gradient").attribution
    np.testing.assert_allclose(lrp0, ixg, rtol=1e-4, atol=1e-5 * np.abs(ixg).max())
    ixg = explain(model, image, digit, "input_x_gradient").attribution
    default = explain(model, image, digit, "lrp").attribution  # epsilon 0.1: its own map
    assert not np.allclose(default, ixg, rtol=1e-2, atol=1e-3 * np.abs(ixg).max())
