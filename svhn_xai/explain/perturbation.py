"""Perturbation-family explainers (Captum, our own Feature Permutation and Shapley
estimators): change parts of the image, watch the logit. Their features, the superpixel game
and the model passes are :mod:`svhn_xai.explain.superpixels`'.

LIME (:mod:`svhn_xai.explain.surrogate`, Captum's estimator computed batch-wise), and Shapley
Value Sampling and KernelShap with their own estimators (``orders="antithetic"``,
``coalitions="paired"``) explain a batch of images with the same samples in shared passes;
with Captum's, or with SLIC segments (each image its own), a batch goes one image at a time.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import captum.attr as ca
import torch

from svhn_xai.errors import ParameterError
from svhn_xai.explain import surrogate
from svhn_xai.explain.context import Context
from svhn_xai.explain.gradient import BASELINE, SEED
from svhn_xai.explain.halves import can_split
from svhn_xai.explain.params import Param
from svhn_xai.explain.precision import PRECISION
from svhn_xai.explain.references import baseline, dataset_images, seeded
from svhn_xai.explain.registry import Cost, register
from svhn_xai.explain.shapley import (
    antithetic_permutation_shapley,
    antithetic_shapley_passes,
    paired_kernel_shap,
    paired_kernel_shap_passes,
)
from svhn_xai.explain.superpixels import (
    PER_EVAL,
    SEGMENTS,
    SUPERPIXEL,
    cells,
    features,
    forward,
    game,
    one_by_one,
    per_eval,
    per_feature,
    sharing_samples,
    spread,
)


def _occlusion_window(p: dict[str, Any], size: int) -> int:
    """The window's side on a ``size``-pixel input; ParameterError when the stride exceeds it
    (a gap between windows would leave pixels never occluded)."""
    window = min(p["window"], size)
    if p["stride"] > window:
        raise ParameterError(f"stride ({p['stride']}) must not exceed window ({window})")
    return window


def _occlusion_passes(p: dict[str, Any], size: int) -> int:
    return ((size - _occlusion_window(p, size)) // p["stride"] + 1) ** 2 + 1


def _sampled(
    explainer: ca.Lime | ca.ShapleyValueSampling, ctx: Context, mask: torch.Tensor
) -> torch.Tensor:
    """``attribute`` of a sampling explainer (random superpixel subsets or orderings against
    the baseline, ``n_samples`` of them, seeded), spread over each superpixel's values."""
    p = ctx.params
    with seeded(p["seed"]):  # Captum draws the subsets from the global generators
        out = explainer.attribute(
            ctx.x,
            baselines=baseline(ctx.x, p["baseline"]),
            target=ctx.target,
            feature_mask=mask,
            n_samples=p["n_samples"],
            perturbations_per_eval=p["perturbations_per_eval"],
        )
    return spread(out, mask)


# The sampling estimators vary a 4 x 4 grid's worth of features (16 px cells, or as many SLIC
# segments): few enough that their maps hold from draw to draw at an interactive budget. The
# defaults of Shapley Value Sampling, LIME and KernelShap are benchmarks.sampling_stability's
# choice, as tests/benchmarks/test_sampling_stability.py checks.
COARSE = replace(SUPERPIXEL, default=16)


@register(
    "feature_ablation",
    "Feature Ablation",
    "perturbation",
    "Replace each superpixel by the baseline, one at a time; attribution = drop in the logit.",
    (SUPERPIXEL, BASELINE, PER_EVAL, PRECISION),
    batched=True,
    cost=Cost(
        lambda p, size: cells(p, size) + 1,
        gradient_free=True,
        budgets=({"superpixel": 16}, {"superpixel": 8}),
    ),
)
def feature_ablation(ctx: Context) -> torch.Tensor:
    mask, n = features(ctx)
    out = ca.FeatureAblation(forward(ctx, (n + 1) * len(ctx.x))).attribute(
        ctx.x,
        baselines=baseline(ctx.x, ctx.params["baseline"]),
        target=ctx.target,
        feature_mask=mask,
        perturbations_per_eval=per_eval(ctx),
    )
    return spread(out, mask)


@register(
    "occlusion",
    "Occlusion",
    "perturbation",
    "Slide a baseline-filled window over the image; attribution = mean drop in the logit "
    "(Zeiler & Fergus 2014).",
    (
        Param(
            "window",
            "int",
            12,
            "Side of the square occluding window, pixels (Captum's sliding_window_shapes).",
            low=2,
            high=64,
            cost=True,
        ),
        Param(
            "stride",
            "int",
            4,
            "Step of the window, pixels (Captum's strides).",
            low=1,
            high=32,
            cost=True,
        ),
        BASELINE,
        PER_EVAL,
        PRECISION,
    ),
    batched=True,
    cost=Cost(
        _occlusion_passes,
        gradient_free=True,
        budgets=({"window": 16, "stride": 16}, {"window": 16, "stride": 8}),
    ),
)
def occlusion(ctx: Context) -> torch.Tensor:
    p = ctx.params
    side = ctx.x.shape[-1]
    window = _occlusion_window(p, side)
    steps = ((side - window) // p["stride"] + 1) ** 2
    return ca.Occlusion(forward(ctx, (steps + 1) * len(ctx.x))).attribute(
        ctx.x,
        sliding_window_shapes=(3, window, window),
        strides=(3, p["stride"], p["stride"]),
        baselines=baseline(ctx.x, p["baseline"]),
        target=ctx.target,
        perturbations_per_eval=per_eval(ctx),
    )


@register(
    "feature_permutation",
    "Feature Permutation",
    "perturbation",
    "Permutation importance across a batch (the image plus held-out house numbers): each "
    "superpixel of the image is swapped for the same superpixel of every other batch image; "
    "attribution = mean drop in the logit.",
    (
        SUPERPIXEL,
        Param(
            "batch_size",
            "int",
            5,
            "Images in the batch whose superpixels are swapped into the explained image: "
            "the image plus this many minus one synthetic images of a split nothing is scored on.",
            low=2,
            high=64,
            cost=True,
        ),
        PER_EVAL,
        PRECISION,
    ),
    batched=True,
    cost=Cost(
        lambda p, size: cells(p, size) * (p["batch_size"] - 1) + 1,
        gradient_free=True,
        budgets=({"batch_size": 2, "superpixel": 8}, {"batch_size": 4, "superpixel": 8}),
    ),
)
def feature_permutation(ctx: Context) -> torch.Tensor:
    # a batch goes photo by photo, the copies of a photo (one per digit) in the same passes
    return one_by_one(ctx, _feature_permutation, copies_together=True)


def _feature_permutation(ctx: Context) -> torch.Tensor:
    # Captum's FeaturePermutation shuffles a feature across the whole batch and attributes
    # every batch image; we need the explained image only. Its expected drop over the random
    # permutations is the mean over donors, computed here exactly: (features x donors) images
    # instead of Captum's (features + 1) x batch, and no permutation that leaves the image its
    # own superpixel (a zero drop that says nothing).
    p = ctx.params
    donors = dataset_images(p["batch_size"] - 1, ctx.x.shape[-1]).to(ctx.x)
    mask, n = features(ctx)
    cells = mask[0, 0]
    device = ctx.x.device
    image = ctx.x[:1]  # ctx holds one photo, once per head explained in it
    columns = ctx.target if isinstance(ctx.target, list) else [ctx.target]
    pairs = torch.cartesian_prod(
        torch.arange(n, device=device), torch.arange(len(donors), device=device)
    )  # (feature, donor)
    run = forward(ctx, len(pairs) + 1)
    logits = run(image)[0, columns]  # (N,)
    drops = torch.empty(len(pairs), len(columns), dtype=ctx.x.dtype, device=device)
    for start in range(0, len(pairs), p["perturbations_per_eval"]):
        feature, donor = pairs[start : start + p["perturbations_per_eval"]].T
        swapped = (cells[None] == feature[:, None, None])[:, None]  # (B, 1, S, S)
        batch = torch.where(swapped, donors[donor], image)
        drops[start : start + len(feature)] = logits - run(batch)[:, columns]
    return per_feature(ctx, drops.view(n, len(donors), -1).mean(1), mask)


@register(
    "shapley_value_sampling",
    "Shapley Value Sampling",
    "perturbation",
    "Average marginal contribution of each superpixel over random orderings (Castro et al. 2009).",
    (
        Param(
            "n_samples", "int", 64, "Random feature orderings averaged.", low=1, high=200, cost=True
        ),
        COARSE,
        SEGMENTS,
        BASELINE,
        Param(
            "orders",
            "choice",
            "antithetic",
            "How the orderings are drawn: independently (Captum's estimator), or antithetic, "
            "each random order followed by its reverse (exact when no three superpixels "
            "interact; see svhn_xai.explain.shapley).",
            choices=("independent", "antithetic"),
        ),
        SEED,
        PER_EVAL,
        PRECISION,
    ),
    batched=True,
    cost=Cost(
        lambda p, size: _svs_passes(p, cells(p, size)),
        gradient_free=True,
        budgets=({"n_samples": 1, "superpixel": 8}, {"n_samples": 1, "superpixel": 4}),
        per_feature_count=lambda p, n: _svs_passes(p, n),
    ),
    splits=lambda p: p["orders"] == "antithetic" and can_split(p["n_samples"], paired=True),
)
def shapley_value_sampling(ctx: Context) -> torch.Tensor:
    antithetic = ctx.params["orders"] == "antithetic"
    return sharing_samples(ctx, antithetic, _shapley_value_sampling)


def _shapley_value_sampling(ctx: Context) -> torch.Tensor:
    p = ctx.params
    mask, n = features(ctx)
    if p["orders"] == "independent":
        return _sampled(ca.ShapleyValueSampling(forward(ctx, _svs_passes(p, n))), ctx, mask)
    return _own_estimate(ctx, mask, n, _svs_passes(p, n), antithetic_permutation_shapley)


def _own_estimate(ctx: Context, mask: torch.Tensor, n: int, passes: int, estimator) -> torch.Tensor:
    """``estimator`` (:mod:`svhn_xai.explain.shapley`) on the superpixel game of ``ctx``'s
    images, ``n_samples`` of its samples drawn from ``seed``, spread over the features."""
    play = game(ctx, mask, passes)
    generator = torch.Generator().manual_seed(ctx.params["seed"])
    halves = None if ctx.halves is None else []
    phi = estimator(play, n, ctx.params["n_samples"], generator, per_eval(ctx), halves)
    _split_features(ctx, halves, mask)
    return per_feature(ctx, phi, mask)


def _split_features(ctx: Context, halves: list | None, mask: torch.Tensor) -> None:
    """Record each pair of half-sample feature values (d, N) in ``halves`` as maps."""
    for first, second in halves or ():
        ctx.split(per_feature(ctx, first, mask), per_feature(ctx, second, mask))


def _players(p: dict[str, Any], features: int) -> None:
    """Refuse a Shapley game of fewer than two players (a superpixel as large as a small input
    leaves it one), before its cost is estimated or a pass is run."""
    if features < 2:
        raise ParameterError(
            f"superpixel={p['superpixel']} leaves the input one feature: Shapley values need two "
            "at least; use a smaller superpixel"
        )


def _svs_passes(p: dict[str, Any], features: int) -> int:
    """Captum's sampler evaluates every order's d coalitions and the baseline once; ours the
    distinct ones among the d - 1 inner coalitions of its orders, and the empty and the full
    coalition once."""
    _players(p, features)
    if p["orders"] == "independent":
        return p["n_samples"] * features + 1
    return antithetic_shapley_passes(features, p["n_samples"], p["seed"])


@register(
    "lime",
    "LIME",
    "perturbation",
    "A sparse linear model fitted to the logit of random superpixel subsets, weighted by "
    "closeness to the image (Ribeiro et al. 2016).",
    (
        Param(
            "n_samples",
            "int",
            1024,
            "Random superpixel subsets evaluated.",
            low=10,
            high=5000,
            cost=True,
        ),
        COARSE,
        SEGMENTS,
        BASELINE,
        Param("alpha", "float", 0.001, "L1 strength of the Lasso surrogate.", low=0.0, high=1.0),
        Param(
            "kernel_width",
            "float",
            1.0,
            "Width of the cosine-distance similarity kernel.",
            low=0.01,
            high=10.0,
        ),
        Param(
            "subsets",
            "choice",
            "independent",
            "How the random subsets are drawn: independently (Captum's sampler), or paired, "
            "each followed by its complement, so that no two superpixels' interaction reads as "
            "either one's effect (see svhn_xai.explain.surrogate).",
            choices=("independent", "paired"),
        ),
        SEED,
        PER_EVAL,
        PRECISION,
    ),
    batched=True,
    cost=Cost(
        lambda p, size: p["n_samples"],
        clean_first=True,
        gradient_free=True,
        budgets=({"n_samples": 32}, {"n_samples": 128}),
    ),
    splits=lambda p: can_split(p["n_samples"], paired=p["subsets"] == "paired"),
)
def lime(ctx: Context) -> torch.Tensor:
    return sharing_samples(ctx, True, _lime)


def _lime(ctx: Context) -> torch.Tensor:
    p = ctx.params
    mask, n = features(ctx)
    play = game(ctx, mask, p["n_samples"], clean=True)
    sums = surrogate.feature_sums(ctx.x, baseline(ctx.x, p["baseline"]), mask)
    paired = p["subsets"] == "paired"
    with seeded(p["seed"]):  # the rows Captum's Lime draws, from the same global generator
        coalitions = surrogate.lime_coalitions(n, p["n_samples"], paired)
    halves = None if ctx.halves is None else []
    phi = surrogate.lime(
        play, coalitions, sums, p["alpha"], p["kernel_width"], per_eval(ctx), halves, paired
    )
    _split_features(ctx, halves, mask)
    return per_feature(ctx, phi, mask)


@register(
    "kernel_shap",
    "KernelShap",
    "perturbation",
    "Shapley values estimated by LIME with the Shapley kernel (Lundberg & Lee 2017).",
    (
        Param(
            "n_samples",
            "int",
            768,
            "Random superpixel coalitions evaluated.",
            low=10,
            high=5000,
            cost=True,
        ),
        COARSE,
        replace(SEGMENTS, default="slic"),
        BASELINE,
        Param(
            "coalitions",
            "choice",
            "paired",
            "How coalitions are drawn and solved: independently with Captum's regression, or "
            "paired, each with its complement, solved with efficiency imposed (Covert & Lee "
            "2021; see svhn_xai.explain.shapley).",
            choices=("independent", "paired"),
        ),
        SEED,
        PER_EVAL,
        PRECISION,
    ),
    batched=True,
    cost=Cost(
        lambda p, size: _kernel_shap_passes(p, cells(p, size)),
        gradient_free=True,
        budgets=({"n_samples": 32}, {"n_samples": 128}),
        per_feature_count=lambda p, n: _kernel_shap_passes(p, n),
    ),
    splits=lambda p: p["coalitions"] == "paired" and can_split(p["n_samples"], paired=True),
)
def kernel_shap(ctx: Context) -> torch.Tensor:
    return sharing_samples(ctx, ctx.params["coalitions"] == "paired", _kernel_shap)


def _kernel_shap(ctx: Context) -> torch.Tensor:
    p = ctx.params
    mask, n = features(ctx)
    if p["coalitions"] == "independent":
        return _sampled(ca.KernelShap(forward(ctx, p["n_samples"])), ctx, mask)
    return _own_estimate(ctx, mask, n, _kernel_shap_passes(p, n), paired_kernel_shap)


def _kernel_shap_passes(p: dict[str, Any], features: int) -> int:
    """Captum's KernelShap evaluates each of its coalitions; the paired estimator the distinct
    ones among its coalitions, and the empty and the full coalition once."""
    _players(p, features)
    if p["coalitions"] == "independent":
        return p["n_samples"]
    return paired_kernel_shap_passes(features, p["n_samples"], p["seed"])
