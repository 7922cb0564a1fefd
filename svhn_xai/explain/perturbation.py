"""Perturbation-family explainers (Captum, and our own Feature Permutation): change parts of
the image, watch the logit.

Features are square superpixels of ``superpixel`` pixels (64 at the defaults: 8x8 cells on a
64x64 input), evaluated ``perturbations_per_eval`` at a time in one batched model pass.

Captum gives every input value of a feature the feature's whole attribution; we spread it
evenly over the feature's values instead, so that a map's sum is the features' sum (Shapley
values then add up to f(image) - f(baseline), as they should) and relevance mass is fair to
the smaller superpixels at the image's edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import captum.attr as ca
import torch
from captum._utils.models.linear_model import SkLearnLasso

from svhn_xai.errors import ParameterError
from svhn_xai.explain.context import Context
from svhn_xai.explain.gradient import BASELINE, SEED
from svhn_xai.explain.params import Param
from svhn_xai.explain.references import (
    baseline,
    dataset_images,
    grid_mask,
    seeded,
    slic_mask,
)
from svhn_xai.explain.registry import Cost, register
from svhn_xai.explain.shapley import antithetic_permutation_shapley, paired_kernel_shap

SUPERPIXEL = Param(
    "superpixel",
    "int",
    8,
    "Side of the square superpixels that are removed or kept together, in pixels.",
    low=1,
    high=32,
    cost=True,
)
PER_EVAL = Param(
    "perturbations_per_eval",
    "int",
    64,
    "Perturbed images per batched model pass (speed vs memory).",
    low=1,
    high=1024,
)


def cells(p: dict[str, Any], size: int) -> int:
    """The superpixel grid's cells on an input of side ``size``: the features a method varies."""
    return math.ceil(size / p["superpixel"]) ** 2


def _occlusion_window(p: dict[str, Any], size: int) -> int:
    """The window's side on a ``size``-pixel input; ParameterError when the stride exceeds it
    (a gap between windows would leave pixels never occluded)."""
    window = min(p["window"], size)
    if p["stride"] > window:
        raise ParameterError(f"stride ({p['stride']}) must not exceed window ({window})")
    return window


def _occlusion_passes(p: dict[str, Any], size: int) -> int:
    return ((size - _occlusion_window(p, size)) // p["stride"] + 1) ** 2 + 1


SEGMENTS = Param(
    "segments",
    "choice",
    "grid",
    "The features: a square grid of superpixel-sized cells, or SLIC segments that follow the "
    "photo's edges, as many as the grid has cells.",
    choices=("grid", "slic"),
)


def _features(ctx: Context) -> tuple[torch.Tensor, int]:
    """The feature mask (1, 1, S, S) of ``ctx``'s image and its number of features."""
    p, size = ctx.params, ctx.x.shape[-1]
    if p.get("segments", "grid") == "slic":
        mask = slic_mask(ctx.x[0], cells(p, size))
    else:
        mask = grid_mask(size, p["superpixel"]).to(ctx.x.device)
    return mask, int(mask.max()) + 1


def _per_eval(ctx: Context) -> int:
    """Perturbations per model pass for each image of the batch: the parameter counts images
    per pass, so a batch of N images shares it (the pass size, and so memory, stay the same)."""
    return max(1, ctx.params["perturbations_per_eval"] // len(ctx.x))


def _spread(attribution: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Divide each feature's attribution among its input values (channels x pixels)."""
    sizes = torch.bincount(mask.flatten()).to(attribution.dtype) * attribution.shape[1]
    return attribution / sizes[mask.expand_as(attribution)]


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
    return _spread(out, mask)


def _game(ctx: Context, mask: torch.Tensor, expected: int):
    """The superpixel game of ``ctx``'s single image: coalitions (B, d) of 0/1 to the explained
    output (B,), a kept feature with the image's values, the others the baseline's."""
    forward = _forward(ctx, expected)
    cells = mask[0, 0]
    reference = baseline(ctx.x, ctx.params["baseline"])

    def game(coalitions: torch.Tensor) -> torch.Tensor:
        keep = coalitions.to(ctx.x.device)[:, cells].bool()[:, None]  # (B, 1, S, S)
        return forward(torch.where(keep, ctx.x, reference))[:, ctx.target]

    return game


def _per_feature(ctx: Context, phi: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Feature values φ (d,) as an attribution of ``ctx.x``, spread over each feature's values."""
    return _spread(phi.to(ctx.x)[mask].expand_as(ctx.x).clone(), mask)


def _forward(
    ctx: Context, expected: int, clean: bool = False
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The no-grad logits of ``ctx.net``, reporting progress as a fraction of ``expected`` images;
    ``clean``
    for a method none of whose samples is the image itself (see ``Context.net_with_clean_pass``).
    """
    seen = [0]
    net = ctx.net_with_clean_pass() if clean else ctx.net

    def forward(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = net(x)
        seen[0] += x.shape[0]
        if ctx.progress is not None:
            ctx.progress(min(seen[0] / max(expected, 1), 1.0))
        return out

    return forward


@register(
    "feature_ablation",
    "Feature Ablation",
    "perturbation",
    "Replace each superpixel by the baseline, one at a time; attribution = drop in the logit.",
    (SUPERPIXEL, BASELINE, PER_EVAL),
    batched=True,
    cost=Cost(
        lambda p, size: cells(p, size) + 1,
        gradient_free=True,
        budgets=({"superpixel": 16}, {"superpixel": 8}),
    ),
)
def feature_ablation(ctx: Context) -> torch.Tensor:
    mask, n = _features(ctx)
    out = ca.FeatureAblation(_forward(ctx, (n + 1) * len(ctx.x))).attribute(
        ctx.x,
        baselines=baseline(ctx.x, ctx.params["baseline"]),
        target=ctx.target,
        feature_mask=mask,
        perturbations_per_eval=_per_eval(ctx),
    )
    return _spread(out, mask)


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
    return ca.Occlusion(_forward(ctx, (steps + 1) * len(ctx.x))).attribute(
        ctx.x,
        sliding_window_shapes=(3, window, window),
        strides=(3, p["stride"], p["stride"]),
        baselines=baseline(ctx.x, p["baseline"]),
        target=ctx.target,
        perturbations_per_eval=_per_eval(ctx),
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
    ),
    cost=Cost(
        lambda p, size: cells(p, size) * (p["batch_size"] - 1) + 1,
        gradient_free=True,
        budgets=({"batch_size": 2, "superpixel": 8}, {"batch_size": 4, "superpixel": 8}),
    ),
)
def feature_permutation(ctx: Context) -> torch.Tensor:
    # Captum's FeaturePermutation shuffles a feature across the whole batch and attributes
    # every batch image; we need the explained image only. Its expected drop over the random
    # permutations is the mean over donors, computed here exactly: (features x donors) images
    # instead of Captum's (features + 1) x batch, and no permutation that leaves the image its
    # own superpixel (a zero drop that says nothing).
    p = ctx.params
    donors = dataset_images(p["batch_size"] - 1, ctx.x.shape[-1]).to(ctx.x)
    mask, n = _features(ctx)
    cells = mask[0, 0]
    device = ctx.x.device
    pairs = torch.cartesian_prod(
        torch.arange(n, device=device), torch.arange(len(donors), device=device)
    )  # (feature, donor)
    forward = _forward(ctx, len(pairs) + 1)
    logit = forward(ctx.x)[0, ctx.target]
    drops = torch.empty(len(pairs), dtype=ctx.x.dtype, device=device)
    for start in range(0, len(pairs), p["perturbations_per_eval"]):
        feature, donor = pairs[start : start + p["perturbations_per_eval"]].T
        swapped = (cells[None] == feature[:, None, None])[:, None]  # (B, 1, S, S)
        batch = torch.where(swapped, donors[donor], ctx.x)
        drops[start : start + len(feature)] = logit - forward(batch)[:, ctx.target]
    per_feature = drops.view(n, len(donors)).mean(1)
    return _spread(per_feature[mask].expand_as(ctx.x).clone(), mask)


@register(
    "shapley_value_sampling",
    "Shapley Value Sampling",
    "perturbation",
    "Average marginal contribution of each superpixel over random orderings (Castro et al. 2009).",
    (
        Param(
            "n_samples", "int", 4, "Random feature orderings averaged.", low=1, high=200, cost=True
        ),
        SUPERPIXEL,
        SEGMENTS,
        BASELINE,
        Param(
            "orders",
            "choice",
            "independent",
            "How the orderings are drawn: independently (Captum's estimator), or antithetic, "
            "each random order followed by its reverse (exact when no three superpixels "
            "interact; see svhn_xai.explain.shapley).",
            choices=("independent", "antithetic"),
        ),
        SEED,
        PER_EVAL,
    ),
    cost=Cost(
        lambda p, size: _svs_passes(p, cells(p, size)),
        gradient_free=True,
        budgets=({"n_samples": 1, "superpixel": 8}, {"n_samples": 1, "superpixel": 4}),
    ),
)
def shapley_value_sampling(ctx: Context) -> torch.Tensor:
    p = ctx.params
    mask, n = _features(ctx)
    expected = _svs_passes(p, n)
    if p["orders"] == "independent":
        return _sampled(ca.ShapleyValueSampling(_forward(ctx, expected)), ctx, mask)
    game = _game(ctx, mask, expected)
    generator = torch.Generator().manual_seed(p["seed"])
    phi = antithetic_permutation_shapley(
        game, n, p["n_samples"], generator, p["perturbations_per_eval"]
    )
    return _per_feature(ctx, phi, mask)


def _svs_passes(p: dict[str, Any], features: int) -> int:
    """Captum's sampler evaluates every order's d coalitions and the baseline once; ours the
    d - 1 inner ones of each order, and the empty and the full coalition once."""
    if p["orders"] == "independent":
        return p["n_samples"] * features + 1
    return p["n_samples"] * (features - 1) + 2


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
            256,
            "Random superpixel subsets evaluated.",
            low=10,
            high=5000,
            cost=True,
        ),
        SUPERPIXEL,
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
        SEED,
        PER_EVAL,
    ),
    cost=Cost(
        lambda p, size: p["n_samples"],
        clean_first=True,
        gradient_free=True,
        budgets=({"n_samples": 32}, {"n_samples": 128}),
    ),
)
def lime(ctx: Context) -> torch.Tensor:
    from captum.attr._core.lime import get_exp_kernel_similarity_function

    p = ctx.params
    mask, _ = _features(ctx)
    explainer = ca.Lime(
        _forward(ctx, p["n_samples"], clean=True),
        interpretable_model=SkLearnLasso(alpha=p["alpha"]),
        similarity_func=get_exp_kernel_similarity_function("cosine", p["kernel_width"]),
    )
    return _sampled(explainer, ctx, mask)


@register(
    "kernel_shap",
    "KernelShap",
    "perturbation",
    "Shapley values estimated by LIME with the Shapley kernel (Lundberg & Lee 2017).",
    (
        Param(
            "n_samples",
            "int",
            256,
            "Random superpixel coalitions evaluated.",
            low=10,
            high=5000,
            cost=True,
        ),
        SUPERPIXEL,
        SEGMENTS,
        BASELINE,
        Param(
            "coalitions",
            "choice",
            "independent",
            "How coalitions are drawn and solved: independently with Captum's regression, or "
            "paired, each with its complement, solved with efficiency imposed (Covert & Lee "
            "2021; see svhn_xai.explain.shapley).",
            choices=("independent", "paired"),
        ),
        SEED,
        PER_EVAL,
    ),
    cost=Cost(
        lambda p, size: p["n_samples"] + (2 if p["coalitions"] == "paired" else 0),
        gradient_free=True,
        budgets=({"n_samples": 32}, {"n_samples": 128}),
    ),
)
def kernel_shap(ctx: Context) -> torch.Tensor:
    p = ctx.params
    mask, n = _features(ctx)
    if p["coalitions"] == "independent":
        return _sampled(ca.KernelShap(_forward(ctx, p["n_samples"])), ctx, mask)
    game = _game(ctx, mask, p["n_samples"] + 2)
    generator = torch.Generator().manual_seed(p["seed"])
    phi = paired_kernel_shap(game, n, p["n_samples"], generator, p["perturbations_per_eval"])
    return _per_feature(ctx, phi, mask)
