"""RISE against its definition: on a linear model the expected saliency has a closed form."""

import math

import pytest
import torch
import torch.nn.functional as F

from svhn_xai.explain import explain
from svhn_xai.explain.context import Context
from svhn_xai.explain.params import validate
from svhn_xai.explain.registry import get_spec
from svhn_xai.explain.rise import rise, rise_masks, sample_grids
from tests.models import Linear

SIZE, CELL = 16, 4


def expected_saliency(a: torch.Tensor, p: float) -> torch.Tensor:
    """E[f(I ⊙ M) M(λ)] / p for f(I ⊙ M) = sum_μ a_μ M_μ, exactly, by linearity.

    A mask is M = sum_k B_k φ_k with independent cells B_k ~ Bernoulli(p) and φ_k the upsampled,
    cropped k-th grid cell, so E[M_μ M_λ] = p² Φ_μ Φ_λ + (p - p²) sum_k φ_k(μ) φ_k(λ), with
    Φ = sum_k φ_k; averaged over the cell² equally likely crop offsets.
    """
    grid = math.ceil(SIZE / CELL) + 1
    basis = torch.eye(grid * grid, dtype=torch.float64).view(-1, 1, grid, grid)
    up = F.interpolate(basis, size=(grid * CELL,) * 2, mode="bilinear", align_corners=False)
    total = torch.zeros(SIZE, SIZE, dtype=torch.float64)
    for dy in range(CELL):
        for dx in range(CELL):
            phi = up[:, 0, dy : dy + SIZE, dx : dx + SIZE].reshape(grid * grid, -1)  # (K, S²)
            big_phi = phi.sum(0)
            second = p * p * torch.outer(big_phi, big_phi) + (p - p * p) * phi.T @ phi
            total += (a.reshape(-1) @ second).view(SIZE, SIZE)
    return total / CELL**2 / p


@pytest.mark.parametrize(
    "p, options",
    [
        (0.5, {}),
        (0.2, {}),
        (0.5, {"centre": True}),
        (0.2, {"sampling": "balanced"}),
        (0.2, {"sampling": "balanced", "centre": True}),
    ],
)
def test_rise_converges_to_its_closed_form_expectation(p, options):
    """Each variance-reduction option estimates the same expectation as the plain sampler."""
    gen = torch.Generator().manual_seed(1)
    x = torch.rand(1, 3, SIZE, SIZE, generator=gen, dtype=torch.float64)
    w = torch.randn(1, 3, SIZE, SIZE, generator=gen, dtype=torch.float64)
    model = Linear(w).double()
    given = {
        "n_masks": 8000,
        "cell": CELL,
        "p": p,
        "score": "logit",
        "perturbations_per_eval": 1000,
        **options,
    }
    ctx = Context(model, x, 0, validate(get_spec("rise").params, given, "rise"))
    got = rise(ctx).sum(1)[0]  # the channel sum is the saliency
    expected = expected_saliency((w * x).sum(1)[0], p)
    error = float((got - expected).norm() / expected.norm())
    # Monte-Carlo error at 8000 masks is about 0.02; dropping the random crop offsets alone
    # moves the expectation by 0.07 (p = 0.5) and 0.23 (p = 0.2), a missing 1/p by 1 or 4
    assert error < 0.035, error


def test_masks_are_soft_have_mean_p_and_edges_off_the_cell_grid():
    gen = torch.Generator().manual_seed(0)
    binary, offsets = sample_grids(4000, SIZE, CELL, 0.3, gen)
    masks = rise_masks(binary, offsets, SIZE, CELL)
    assert masks.shape == (4000, 1, SIZE, SIZE)
    assert masks.min() >= 0 and masks.max() <= 1
    assert float(masks.mean()) == pytest.approx(0.3, abs=0.01)
    assert ((masks > 0) & (masks < 1)).any()  # upsampled bilinearly, not blocky
    assert len(set(offsets.flatten().tolist())) == CELL  # every offset 0..cell-1 drawn


def test_rise_is_seeded_and_independent_of_the_batch_size(model, house):
    image, digit = house[0], house[1]
    a = explain(model, image, digit, "rise", n_masks=24, perturbations_per_eval=24).attribution
    b = explain(model, image, digit, "rise", n_masks=24, perturbations_per_eval=5).attribution
    c = explain(model, image, digit, "rise", n_masks=24, seed=1).attribution
    torch.testing.assert_close(torch.from_numpy(a), torch.from_numpy(b), rtol=1e-5, atol=1e-7)
    assert not (a == c).all()


class Offset(Linear):
    """f(x) = c + sum(w * x): a score that saturates at c, as a confident model's does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 10.0 + super().forward(x)


def _rise(model, x, seed: int, **options) -> torch.Tensor:
    plain = {"centre": False, "sampling": "independent"}  # the paper's sampler, then options
    given = {"n_masks": 200, "cell": CELL, "score": "logit", "seed": seed, **plain, **options}
    ctx = Context(model, x, 0, validate(get_spec("rise").params, given, "rise"))
    return rise(ctx).sum(1)[0]


def test_a_constant_model_gets_a_flat_map_from_centred_scores():
    x = torch.rand(1, 3, SIZE, SIZE, dtype=torch.float64)
    model = Offset(torch.zeros(1, 3, SIZE, SIZE, dtype=torch.float64)).double()
    plain, centred = _rise(model, x, 0), _rise(model, x, 0, centre=True)
    assert float(plain.std()) > 0.1  # the masks' own noise, times 10
    assert torch.allclose(centred, torch.full_like(centred, 10.0))


def test_balanced_grids_keep_every_cell_in_exactly_p_n_of_them():
    binary, _ = sample_grids(50, SIZE, CELL, 0.3, torch.Generator().manual_seed(2), True)
    assert (binary.sum(0) == 15).all()
    assert not (binary == binary[:1]).all(0).all()  # the arrangement differs from cell to cell


@pytest.mark.parametrize(
    "options",
    [{"centre": True}, {"sampling": "balanced"}, {"sampling": "balanced", "centre": True}],
)
def test_each_option_has_less_seed_to_seed_variance_than_the_plain_sampler(options):
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(1, 3, SIZE, SIZE, generator=gen, dtype=torch.float64)
    w = torch.randn(1, 3, SIZE, SIZE, generator=gen, dtype=torch.float64) * 0.05
    model = Offset(w).double()
    plain = torch.stack([_rise(model, x, seed) for seed in range(12)])
    better = torch.stack([_rise(model, x, seed, **options) for seed in range(12)])
    assert float(better.var(0).mean()) < 0.5 * float(plain.var(0).mean())
