"""LIME's batch-wise surrogate against Captum's Lime, which computes the same estimate one image
at a time: the same rows drawn, the same kernel weights, the same Lasso, the same map."""

import captum.attr as ca
import numpy as np
import pytest
import torch
from captum._utils.models.linear_model import SkLearnLasso
from captum.attr._core.lime import get_exp_kernel_similarity_function

from svhn_xai.explain import explain
from svhn_xai.explain.references import baseline, grid_mask, seeded
from svhn_xai.explain.superpixels import spread
from svhn_xai.explain.surrogate import feature_sums, kernel_weights, lime, lime_coalitions
from svhn_xai.model.checkpoint import load_model


def test_the_rows_are_the_ones_captums_sampler_draws_under_the_same_seed():
    with seeded(3):
        ours = lime_coalitions(16, 40)
    with seeded(3):
        theirs = torch.cat(
            [torch.bernoulli(torch.ones(1, 16) * 0.5) for _ in range(40)]  # Captum's, row by row
        )
    assert torch.equal(ours, theirs)
    assert set(ours.unique().tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("kind", ["black", "blur", "white"])
def test_kernel_weights_equal_the_cosine_kernel_of_each_perturbed_image(kind):
    """From per-feature sums, without building the images: equal to Captum's kernel applied to
    each perturbed image built in full."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 16, 16, generator=gen)
    reference = baseline(x, kind)
    mask = grid_mask(16, 8)  # 4 features
    z = torch.tensor([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0.0]])
    got = kernel_weights(z, feature_sums(x, reference, mask), kernel_width=0.5)
    kernel = get_exp_kernel_similarity_function("cosine", 0.5)
    for k, row in enumerate(z):
        keep = row[mask[0, 0]].bool()
        for i in range(2):
            perturbed = torch.where(keep, x[i], reference[i])
            assert float(got[k, i]) == pytest.approx(kernel(x[i], perturbed, None), rel=1e-5)
    assert got[2].tolist() == pytest.approx([1.0, 1.0])  # every feature kept: the image itself


@pytest.fixture(scope="module")
def shipped():
    """The shipped model: logits of a trained scale, which a Lasso's penalty is set for."""
    return load_model()[0]


def captum_lime(model, image: torch.Tensor, digit: int, params: dict) -> torch.Tensor:
    """The map as Captum's Lime computes it, spread over the features as ours are."""
    mask = grid_mask(image.shape[-1], params["superpixel"])
    explainer = ca.Lime(
        lambda x: model(x),
        interpretable_model=SkLearnLasso(alpha=params["alpha"]),
        similarity_func=get_exp_kernel_similarity_function("cosine", params["kernel_width"]),
    )
    with torch.no_grad(), seeded(params["seed"]):
        out = explainer.attribute(
            image,
            baselines=baseline(image, params["baseline"]),
            target=digit,
            feature_mask=mask,
            n_samples=params["n_samples"],
            perturbations_per_eval=64,
        )
    return spread(out, mask)


@pytest.mark.parametrize(
    "params",
    [
        {"superpixel": 16, "n_samples": 96, "alpha": 0.001, "kernel_width": 1.0, "seed": 0,
         "baseline": "black"},
        {"superpixel": 8, "n_samples": 150, "alpha": 0.01, "kernel_width": 0.3, "seed": 7,
         "baseline": "blur"},
    ],
)  # fmt: skip
def test_lime_is_captums_lime_given_the_same_seed(shipped, house, image_tensor, params):
    image, digit, _ = house
    ours = explain(shipped, image, digit, "lime", **params).attribution
    theirs = captum_lime(shipped.eval(), image_tensor, digit, params)[0].numpy()
    assert np.abs(theirs).max() > 0, "a map of zeros would agree with anything"
    scale = float(np.abs(theirs).max())
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-3 * scale)


def test_paired_subsets_come_with_their_complements_and_keep_each_feature_in_half_the_rows():
    with seeded(3):
        rows = lime_coalitions(6, 41, paired=True)
    assert rows.shape == (41, 6)
    assert torch.equal(rows[1::2], 1 - rows[0:40:2])
    assert torch.equal(rows[:40].sum(0), torch.full((6,), 20.0))  # exactly half, every feature


def test_paired_subsets_read_a_game_without_three_way_interactions_exactly():
    """A game of 5 superpixels with pairwise interactions, equal weights (a kernel too wide to
    tell rows apart) and no penalty to speak of: the fit to paired subsets is the game's
    Shapley values (each interaction split evenly between its two superpixels) whatever the
    draw; to independent subsets of the same number it is not."""
    from tests.explain.test_shapley import LINEAR, PAIRWISE, quadratic

    exact = LINEAR + 0.5 * (PAIRWISE.sum(0) + PAIRWISE.sum(1))
    sums = torch.ones(3, 1, 5, dtype=torch.float64)  # any image: the kernel is flat here
    errors = {}
    for paired in (True, False):
        for seed in range(3):
            with seeded(seed):
                rows = lime_coalitions(5, 64, paired=paired)
            phi = lime(lambda z: quadratic(z.double())[:, None], rows, sums, 1e-9, 1e6)[:, 0]
            errors.setdefault(paired, []).append(float((phi - exact).abs().max()))
    assert max(errors[True]) < 1e-3
    assert min(errors[False]) > 1e-2


def test_each_half_of_paired_subsets_reads_the_game_exactly_and_fits_only_its_rows():
    """Halves keep whole pairs, so each half of a paired draw is itself a foldover design:
    on the game without three-way interactions each half's fit is its Shapley values too. On
    the cubic game each half's fit is the fit to that half's rows alone."""
    from tests.explain.test_shapley import LINEAR, PAIRWISE, cubic, quadratic

    exact = LINEAR + 0.5 * (PAIRWISE.sum(0) + PAIRWISE.sum(1))
    sums = torch.ones(3, 1, 5, dtype=torch.float64)
    with seeded(0):
        rows = lime_coalitions(5, 64, paired=True)
    halves = []
    lime(
        lambda z: quadratic(z.double())[:, None], rows, sums, 1e-9, 1e6, halves=halves, paired=True
    )
    for half in halves[0]:
        assert float((half[:, 0] - exact).abs().max()) < 1e-3
    halves = []
    play = lambda z: cubic(z.double())[:, None]  # noqa: E731
    lime(play, rows, sums, 1e-9, 1e6, halves=halves, paired=True)
    first_pairs = torch.arange(64) // 2 % 2 == 0
    alone = lime(play, rows[first_pairs], sums, 1e-9, 1e6)
    assert torch.allclose(halves[0][0], alone)
    assert not torch.allclose(*halves[0])
