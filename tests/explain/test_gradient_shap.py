"""GradientShap's stratified points against Captum's independent ones: the same expectation,
exact on a linear model, and less seed-to-seed variance."""

import pytest
import torch

from svhn_xai.explain.context import Context
from svhn_xai.explain.params import validate
from svhn_xai.explain.references import distribution
from svhn_xai.explain.registry import get_spec
from tests.models import Linear

SIZE = 8


class Curved(Linear):
    """f(x) = tanh(sum(w * x)) + sum(v * x^2): gradients that change along the path."""

    def __init__(self, w: torch.Tensor, v: torch.Tensor) -> None:
        super().__init__(w)
        self.v = torch.nn.Parameter(v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(super().forward(x)) + (self.v * x * x).sum((1, 2, 3))[:, None]


def _shap(model, x, seed: int, **given) -> torch.Tensor:
    spec = get_spec("gradient_shap")
    params = validate(spec.params, {"seed": seed, **given}, "gradient_shap")
    return spec.run(Context(model, x, 0, params)).detach()


GEN = torch.Generator().manual_seed(0)
X = torch.rand(1, 3, SIZE, SIZE, generator=GEN, dtype=torch.float64)
W = torch.randn(1, 3, SIZE, SIZE, generator=GEN, dtype=torch.float64)
V = torch.randn(1, 3, SIZE, SIZE, generator=GEN, dtype=torch.float64)


def test_stratified_points_are_exact_on_a_linear_model_without_noise():
    model = Linear(W).double()
    refs = distribution(X, "blur", 4)
    expected = W * (X - refs.mean(0, keepdim=True))
    for seed in (0, 1):
        got = _shap(model, X, seed, points="stratified", n_samples=8, stdevs=0.0)
        torch.testing.assert_close(got, expected)
    plain = _shap(model, X, 0, points="independent", n_samples=8, stdevs=0.0)  # Captum's draws
    assert not torch.allclose(plain, expected)


@pytest.mark.parametrize("stdevs, ratio", [(0.0, 0.3), (0.09, 0.8)])
def test_stratified_and_independent_points_have_the_same_mean_and_less_spread(stdevs, ratio):
    """Stratifying takes out the path's and the references' share of the variance; the
    noise's share (``stdevs``) stays."""
    model = Curved(W * 0.1, V).double()
    given = {"n_samples": 8, "stdevs": stdevs}
    plain = torch.stack([_shap(model, X, s, points="independent", **given) for s in range(150)])
    strat = torch.stack([_shap(model, X, s, points="stratified", **given) for s in range(150)])
    gap = (plain.mean(0) - strat.mean(0)).abs()
    error = (plain.var(0) / len(plain) + strat.var(0) / len(strat)).sqrt()
    assert float((gap / error).max()) < 4.5  # within Monte-Carlo error everywhere
    assert float(strat.var(0).mean()) < ratio * float(plain.var(0).mean())


@pytest.mark.parametrize("points", ["independent", "stratified"])
def test_both_take_one_pass_per_point_and_the_clean_one(model, house, points):
    from svhn_xai.explain import explain
    from svhn_xai.explain.cost import estimated_passes

    image, digit, _ = house
    given = {"n_samples": 6, "points": points}
    e = explain(model, image, digit, "gradient_shap", **given)
    assert e.model_passes == estimated_passes("gradient_shap", given)
