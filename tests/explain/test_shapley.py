"""The Shapley estimators against Shapley values computed exhaustively on small games."""

import itertools
import math

import numpy as np
import pytest
import torch

from svhn_xai.explain import shapley
from svhn_xai.explain.shapley import (
    antithetic_permutation_shapley,
    antithetic_shapley_passes,
    constrained_least_squares,
    paired_coalitions,
    paired_kernel_shap,
    paired_kernel_shap_passes,
    shapley_kernel_sizes,
)

D = 5
GEN = torch.Generator().manual_seed(0)
LINEAR = torch.randn(D, generator=GEN, dtype=torch.float64)
PAIRWISE = torch.randn(D, D, generator=GEN, dtype=torch.float64).triu(1)


def quadratic(z: torch.Tensor) -> torch.Tensor:
    """A game with pairwise interactions: sum_i a_i z_i + sum_{i<j} w_ij z_i z_j."""
    return z @ LINEAR + ((z @ PAIRWISE) * z).sum(1)


def cubic(z: torch.Tensor) -> torch.Tensor:
    """The quadratic game plus a three-way interaction and a saturating term."""
    return quadratic(z) + 2.0 * z[:, 0] * z[:, 1] * z[:, 2] - torch.tanh(z.sum(1))


def exact_shapley(game, d: int) -> torch.Tensor:
    """φ_i = sum over S not holding i of |S|! (d - |S| - 1)! / d! (v(S ∪ i) - v(S))."""
    phi = torch.zeros(d, dtype=torch.float64)
    for i in range(d):
        others = [j for j in range(d) if j != i]
        for size in range(d):
            weight = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
            for subset in itertools.combinations(others, size):
                z = torch.zeros(2, d, dtype=torch.float64)
                z[:, list(subset)] = 1
                z[1, i] = 1
                v = game(z)
                phi[i] += weight * (v[1] - v[0])
    return phi


def test_exact_shapley_of_the_quadratic_game_by_hand():
    """Each pairwise interaction is split evenly between its two features."""
    expected = LINEAR + 0.5 * (PAIRWISE.sum(0) + PAIRWISE.sum(1))
    assert torch.allclose(exact_shapley(quadratic, D), expected)


def test_the_kernel_sizes_are_the_shapley_kernel():
    p = shapley_kernel_sizes(4)  # 1/(1*3), 1/(2*2), 1/(3*1), normalised
    assert torch.allclose(p, torch.tensor([1 / 3, 1 / 4, 1 / 3], dtype=torch.float64) / (11 / 12))


def test_paired_coalitions_come_with_their_complements():
    z = paired_coalitions(6, 10, torch.Generator().manual_seed(1))
    assert z.shape == (10, 6)
    assert torch.equal(z[0::2] + z[1::2], torch.ones(5, 6, dtype=torch.float64))
    assert ((z.sum(1) > 0) & (z.sum(1) < 6)).all()  # never the empty or the full coalition


def test_the_constrained_solution_over_every_coalition_is_the_shapley_values():
    """KernelSHAP's problem over all 2^d - 2 coalitions, each repeated in proportion to its
    kernel weight, is solved exactly by the Shapley values (Lundberg & Lee 2017)."""
    rows, weights = [], []
    probs = shapley_kernel_sizes(D)
    for size in range(1, D):
        for subset in itertools.combinations(range(D), size):
            z = torch.zeros(D, dtype=torch.float64)
            z[list(subset)] = 1
            rows.append(z)
            weights.append(float(probs[size - 1]) / math.comb(D, size))
    z = torch.stack(rows)
    # each row scaled by sqrt(n w): the solver's means become the kernel's expectations
    root = (torch.tensor(weights, dtype=torch.float64) * len(z)).sqrt()
    v0, v1 = (float(cubic(torch.full((1, D), c, dtype=torch.float64))) for c in (0.0, 1.0))
    phi = constrained_least_squares(z * root[:, None], (cubic(z) - v0) * root, 0.0, v1 - v0)
    assert torch.allclose(phi, exact_shapley(cubic, D), atol=1e-9)


@pytest.mark.parametrize("game", [quadratic, cubic])
def test_paired_kernel_shap_is_efficient_and_unbiased(game):
    exact = exact_shapley(game, D)
    full_gain = float(game(torch.ones(1, D).double()) - game(torch.zeros(1, D).double()))
    gen = torch.Generator().manual_seed(2)
    draws = torch.stack([paired_kernel_shap(game, D, 64, gen) for _ in range(200)])
    assert torch.allclose(draws.sum(1), torch.full((200,), full_gain, dtype=torch.float64))
    spread = draws.std(0) / math.sqrt(len(draws))
    assert (draws.mean(0) - exact).abs().max() < 4 * spread.max() + 1e-3


def test_paired_sampling_has_less_variance_than_independent_sampling():
    """The same solver, the same budget: complements halve what independent draws leave."""
    gen = torch.Generator().manual_seed(3)

    def independent(count: int) -> torch.Tensor:
        z = paired_coalitions(D, 2 * count, gen)[0::2]  # the drawn halves only
        ends = cubic(torch.stack([torch.zeros(D), torch.ones(D)]).double())
        return constrained_least_squares(z, cubic(z), float(ends[0]), float(ends[1]))

    paired = torch.stack([paired_kernel_shap(cubic, D, 32, gen) for _ in range(300)])
    plain = torch.stack([independent(32) for _ in range(300)])
    exact = exact_shapley(cubic, D)
    assert ((paired - exact) ** 2).mean() < 0.5 * ((plain - exact) ** 2).mean()


def test_one_antithetic_pair_of_orders_is_exact_without_three_way_interactions():
    gen = torch.Generator().manual_seed(4)
    phi = antithetic_permutation_shapley(quadratic, D, 2, gen)
    assert torch.allclose(phi, exact_shapley(quadratic, D))
    single = antithetic_permutation_shapley(quadratic, D, 1, gen)  # one order alone is not
    assert not torch.allclose(single, exact_shapley(quadratic, D))


def test_antithetic_orders_are_unbiased_and_efficient_on_a_game_with_higher_interactions():
    exact = exact_shapley(cubic, D)
    gen = torch.Generator().manual_seed(5)
    draws = torch.stack([antithetic_permutation_shapley(cubic, D, 4, gen) for _ in range(400)])
    full_gain = float(cubic(torch.ones(1, D).double()) - cubic(torch.zeros(1, D).double()))
    assert torch.allclose(draws.sum(1), torch.full((400,), full_gain, dtype=torch.float64))
    spread = draws.std(0) / math.sqrt(len(draws))
    assert (draws.mean(0) - exact).abs().max() < 4 * spread.max() + 1e-9


@pytest.mark.parametrize(
    "estimator, count, passes",
    [
        (paired_kernel_shap, 200, paired_kernel_shap_passes),
        (antithetic_permutation_shapley, 40, antithetic_shapley_passes),
    ],
)
def test_a_coalition_drawn_twice_is_played_once_and_the_estimate_is_unchanged(
    monkeypatch, estimator, count, passes
):
    """On 5 features, 200 kernel-drawn coalitions or 40 orders' prefixes repeat: each distinct
    one is played once (as many as the cost counts), and the estimate is bit for bit the one
    that plays every draw."""
    played = []

    def game(z: torch.Tensor) -> torch.Tensor:
        played.append(len(z))
        return cubic(z)

    phi = estimator(game, D, count, torch.Generator().manual_seed(7))
    distinct = sum(played)
    assert distinct == passes(D, count, 7)
    monkeypatch.setattr(shapley, "play_distinct", shapley.play_in_batches)
    played.clear()
    every = estimator(game, D, count, torch.Generator().manual_seed(7))
    assert sum(played) > 1.5 * distinct  # the repeats are many: 2 + 200, or 2 + 40 x 4 rows
    assert torch.equal(phi, every)


@pytest.mark.parametrize(
    "method, options",
    [
        ("kernel_shap", {"coalitions": "paired", "n_samples": 40}),
        ("kernel_shap", {"coalitions": "paired", "n_samples": 40, "draws": 3}),
        ("shapley_value_sampling", {"orders": "antithetic", "n_samples": 2}),
    ],
)
def test_the_options_on_a_model_add_up_to_the_images_gain_in_the_passes_estimated(
    model, house, image_tensor, method, options
):
    """Efficiency on the real network: the map sums to logit(image) - logit(black), and the
    method spends exactly the passes the cost estimate counts."""
    from svhn_xai.explain import explain
    from svhn_xai.explain.cost import estimated_passes

    image, digit, _ = house
    options = {**options, "superpixel": 16, "segments": "grid"}  # 16 features, whatever the photo
    e = explain(model, image, digit, method, **options)
    head = model.head(digit)
    with torch.no_grad():
        gain = model(image_tensor)[0, head] - model(torch.zeros_like(image_tensor))[0, head]
    assert e.attribution.sum() == pytest.approx(float(gain), abs=1e-3)
    assert e.model_passes == estimated_passes(method, options)
    again = explain(model, image, digit, method, **options)
    assert np.array_equal(again.attribution, e.attribution)  # the seed selects the draw
    other = explain(model, image, digit, method, **options, seed=1)
    assert not np.array_equal(other.attribution, e.attribution)


@pytest.mark.parametrize(
    "method, params, expected",
    [
        ("shapley_value_sampling", {"superpixel": 1}, 64 * 4095 + 2),
        ("kernel_shap", {"superpixel": 1}, 768 + 2),
    ],
)
def test_a_fine_grids_passes_are_counted_without_drawing_its_coalitions(
    monkeypatch, method, params, expected
):
    """On a 1 px grid (4,096 features) every draw is played: the estimate is arithmetic, since
    drawing 64 orders' prefixes to find repeats would take 8 GB (the app estimates every
    setting a user picks before running it)."""
    from svhn_xai.explain.cost import estimated_passes

    def refuse(*_args, **_kwargs):
        raise AssertionError("coalitions drawn to count passes")

    monkeypatch.setattr(shapley, "antithetic_orders", refuse)
    monkeypatch.setattr(shapley, "paired_coalitions", refuse)
    params = {**params, "segments": "grid"}
    assert estimated_passes(method, params) == expected


def test_each_half_of_the_antithetic_orders_is_exact_without_three_way_interactions():
    """Each half keeps whole pairs of orders, so on the quadratic game each half alone is exact;
    on the cubic game the halves differ, and with equal halves their mean is the estimate."""
    gen = torch.Generator().manual_seed(6)
    halves = []
    phi = antithetic_permutation_shapley(quadratic, D, 8, gen, halves=halves)
    (first, second), exact = halves[0], exact_shapley(quadratic, D)
    assert torch.allclose(first, exact) and torch.allclose(second, exact)
    assert torch.allclose(phi, exact)
    halves = []
    phi = antithetic_permutation_shapley(cubic, D, 8, gen, halves=halves)
    first, second = halves[0]
    assert not torch.allclose(first, second)
    assert torch.allclose((first + second) / 2, phi)


def test_each_half_of_the_paired_coalitions_solves_the_additive_game_exactly():
    """A game without interactions is solved exactly by any paired draw, so by each half of
    one; on the cubic game the two halves' estimates differ (their samples do)."""
    gen = torch.Generator().manual_seed(7)
    additive = lambda z: z @ LINEAR  # noqa: E731
    halves = []
    paired_kernel_shap(additive, D, 16, gen, halves=halves)
    for half in halves[0]:
        assert torch.allclose(half, LINEAR)
    halves = []
    paired_kernel_shap(cubic, D, 16, gen, halves=halves)
    assert not torch.allclose(*halves[0])
    # every half's estimate stays efficient: its values sum to v(all) - v(none)
    gain = float(cubic(torch.ones(1, D).double()) - cubic(torch.zeros(1, D).double()))
    assert all(float(h.sum()) == pytest.approx(gain) for h in halves[0])


def test_no_halves_are_recorded_where_a_half_would_be_empty():
    halves = []
    antithetic_permutation_shapley(quadratic, D, 2, torch.Generator(), halves=halves)
    assert halves == []  # one pair of orders: the second half would hold none
