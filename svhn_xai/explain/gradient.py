"""Gradient-family explainers (Captum), each with its real parameters.

Each is written for a batch ``x`` (N, 3, S, S) so that SmoothGrad can push all its noisy copies
through it at once (:mod:`svhn_xai.explain.smoothing`); reference inputs drawn from a
distribution come from the clean image ``ctx.x``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import captum.attr as ca
import torch

from svhn_xai.explain import deeplift, integrated
from svhn_xai.explain.context import Context
from svhn_xai.explain.halves import can_split, second_half
from svhn_xai.explain.modified_relu import modified_gradient
from svhn_xai.explain.params import Param
from svhn_xai.explain.references import (
    BASELINES,
    DISTRIBUTIONS,
    baseline,
    distribution,
    seeded,
)
from svhn_xai.explain.registry import ONE_PASS, Cost, register
from svhn_xai.explain.smoothing import SMOOTH_PARAMS, BatchRun, smoothable
from svhn_xai.model.network import STAGES

BASELINE = Param(
    "baseline",
    "choice",
    "black",
    "Reference input meaning 'no digit': black, white, the image blurred (sigma = side/8), "
    "its mean colour, or uniform noise.",
    choices=BASELINES,
)
DISTRIBUTION = Param(
    "baselines",
    "choice",
    "blur",
    "Distribution of reference inputs: the image blurred at several strengths, uniform "
    "noise, synthetic house numbers of a split nothing is scored on, or black and white.",
    choices=DISTRIBUTIONS,
)
N_BASELINES = Param(
    "n_baselines",
    "int",
    4,
    "How many reference inputs to draw from the distribution.",
    low=2,
    high=64,
    cost=True,
)
SEED = Param(
    "seed",
    "int",
    0,
    "Seed of the random draws (samples, orders or masks, and references where they are drawn).",
    low=0,
    high=2**31 - 1,
)


def register_gradient(
    key: str,
    name: str,
    description: str,
    params: tuple[Param, ...] = (),
    reduction: str = "positive",
    batched: bool = True,
    *,
    cost: Cost,
    splits: Callable[[dict[str, Any]], bool] | None = None,
) -> Callable[[BatchRun], BatchRun]:
    """Register ``run(ctx, x)`` in family ``gradient``, with the smoothing parameters;
    ``batched`` unless it draws random samples of its own (see ``explain_batch``); ``splits``
    as :func:`~svhn_xai.explain.registry.register` takes it."""

    def decorate(run: BatchRun) -> BatchRun:
        params_all = (*params, *SMOOTH_PARAMS)
        register(key, name, "gradient", description, params_all, reduction, batched, cost, splits)(
            smoothable(run, cost.passes)
        )
        return run

    return decorate


@register_gradient(
    "integrated_gradients",
    "Integrated Gradients",
    "Path integral of gradients from a baseline to the image (Sundararajan et al. 2017).",
    (
        Param(
            "n_steps",
            "int",
            16,
            "Points on the straight path from baseline to image (16 Gauss-Legendre points rank "
            "pixels as 256 do: Spearman 0.993; completeness gap 1 %).",
            low=2,
            high=512,
            cost=True,
        ),
        Param(
            "integration",
            "choice",
            "gausslegendre",
            "Quadrature rule for the path integral.",
            choices=(
                "gausslegendre",
                "riemann_trapezoid",
                "riemann_left",
                "riemann_right",
                "riemann_middle",
            ),
        ),
        BASELINE,
        Param(
            "internal_batch_size",
            "int",
            64,
            "Path points evaluated per model pass (memory vs speed).",
            low=1,
            high=512,
        ),
    ),
    cost=Cost(
        lambda p, size: p["n_steps"], clean_first=True, budgets=({"n_steps": 4}, {"n_steps": 16})
    ),
)
def integrated_gradients(ctx: Context, x: torch.Tensor) -> torch.Tensor:
    p = ctx.params
    attribution, logits = integrated.integrated_gradients(
        ctx.network,
        x,
        baseline(x, p["baseline"]),
        ctx.output_weights(len(ctx.model.digits)),
        p["n_steps"],
        p["integration"],
        p["internal_batch_size"],
        clean=ctx.x,
        progress=ctx.progress,
    )
    # its passes start after the first layer, past the hook where explain() counts passes and
    # finds the image's logits: the image's row is handed over, the path points counted
    ctx.saw(ctx.x, logits)
    ctx.model_passes += p["n_steps"] * len(x)
    return attribution


@register_gradient(
    "saliency",
    "Saliency",
    "Gradient of the digit's logit with respect to each input pixel (Simonyan et al. 2014).",
    (Param("abs", "bool", True, "Take the gradient's magnitude (the classic saliency map)."),),
    reduction="abs",
    cost=ONE_PASS,
)
def saliency(ctx: Context, x: torch.Tensor) -> torch.Tensor:
    return ca.Saliency(ctx.net).attribute(x, target=ctx.target, abs=ctx.params["abs"])


@register_gradient(
    "deep_lift",
    "DeepLift",
    "Difference from a baseline propagated with DeepLift's rescale rule (Shrikumar et al. 2017).",
    (BASELINE,),
    cost=Cost(lambda p, size: 2),
)
def deep_lift(ctx: Context, x: torch.Tensor) -> torch.Tensor:
    return _rescale(ctx, x, baseline(x, ctx.params["baseline"]), ctx.target)


def _rescale(
    ctx: Context, x: torch.Tensor, references: torch.Tensor, target: int | list[int]
) -> torch.Tensor:
    """Captum's DeepLift, by :mod:`svhn_xai.explain.deeplift` where it handles the network."""
    if deeplift.supported(ctx.network):
        return deeplift.deep_lift(ctx.net, ctx.network, x, references, target)
    return ca.DeepLift(ctx.net).attribute(x, baselines=references, target=target)


@register_gradient(
    "deep_lift_shap",
    "DeepLiftShap",
    "DeepLift averaged over a distribution of baselines: approximate SHAP values.",
    (DISTRIBUTION, N_BASELINES, SEED),
    cost=Cost(
        lambda p, size: 2 * p["n_baselines"], budgets=({"n_baselines": 2}, {"n_baselines": 8})
    ),
)
def deep_lift_shap(ctx: Context, x: torch.Tensor) -> torch.Tensor:
    # Captum's DeepLiftShap, written out so that each image gets references of its own: every
    # image repeated once per reference, DeepLift against that reference, the mean over them
    p = ctx.params
    n = p["n_baselines"]
    clean = ctx.x.expand(len(x), -1, -1, -1) if len(ctx.x) == 1 else ctx.x  # noisy x: its image's
    refs = torch.cat(
        [distribution(clean[i : i + 1], p["baselines"], n, p["seed"]) for i in range(len(x))]
    )
    target = ctx.target
    targets = [t for t in target for _ in range(n)] if isinstance(target, list) else target
    out = _rescale(ctx, x.repeat_interleave(n, 0), refs, targets)
    return out.view(len(x), n, *x.shape[1:]).mean(1)


@register_gradient(
    "gradient_shap",
    "GradientShap",
    "Expected gradients x (input - baseline) over points between baselines and image "
    "(optionally noisy).",
    (
        DISTRIBUTION,
        N_BASELINES,
        Param(
            "n_samples", "int", 32, "Random points sampled per image.", low=1, high=512, cost=True
        ),
        Param(
            "stdevs",
            "float",
            0.0,
            "Std. dev. of the Gaussian noise added to each point (0: expected gradients as "
            "published; noise smooths the map like SmoothGrad and makes it vary from seed to "
            "seed).",
            low=0.0,
            high=1.0,
        ),
        Param(
            "points",
            "choice",
            "stratified",
            "How the points are drawn: independently (Captum's), or stratified, one point in "
            "each 1/n_samples of the path and the references taken in turn (the same "
            "expectation, less variance; exact for a linear model without noise).",
            choices=("independent", "stratified"),
        ),
        SEED,
    ),
    batched=False,  # Captum draws the samples of a batch together: per image, one at a time
    cost=Cost(
        lambda p, size: p["n_samples"],
        clean_first=True,
        budgets=({"n_samples": 4}, {"n_samples": 16}),
    ),
    splits=lambda p: p["points"] == "stratified" and can_split(p["n_samples"]),
)
def gradient_shap(ctx: Context, x: torch.Tensor) -> torch.Tensor:
    p = ctx.params
    refs = distribution(ctx.x, p["baselines"], p["n_baselines"], p["seed"])
    if p["points"] == "stratified":
        return _stratified_gradient_shap(ctx, x, refs)
    with seeded(p["seed"]):
        return ca.GradientShap(ctx.net_with_clean_pass()).attribute(
            x, baselines=refs, target=ctx.target, n_samples=p["n_samples"], stdevs=p["stdevs"]
        )


def _stratified_gradient_shap(ctx: Context, x: torch.Tensor, refs: torch.Tensor) -> torch.Tensor:
    """GradientShap's expectation, E[grad f(r + a (x + e - r)) * (x + e - r)] over a ~ U[0, 1],
    r among ``refs`` and Gaussian e, from ``n_samples`` points with a stratified (a in the k-th
    of n equal slices of [0, 1], the slices in random order) and r taken in turn from a random
    start: each point drawn as Captum's, so the mean is unchanged."""
    p = ctx.params
    n, generator = p["n_samples"], torch.Generator().manual_seed(p["seed"])
    strata = torch.randperm(n, generator=generator)  # the slice of [0, 1] of each point
    alpha = (strata + torch.rand(n, generator=generator)) / n
    which = (torch.arange(n) + torch.randint(len(refs), (1,), generator=generator)) % len(refs)
    noise = torch.randn((len(x), n, *x.shape[1:]), generator=generator, dtype=x.dtype)
    noisy = x[:, None] + p["stdevs"] * noise.to(x.device)  # (N, n, 3, S, S)
    step = noisy - refs[which.to(x.device)][None]
    points = (noisy - step * (1 - alpha.to(x).view(1, n, 1, 1, 1))).detach().requires_grad_()
    out = ctx.net_with_clean_pass()(points.flatten(0, 1))
    target = ctx.target
    heads = torch.tensor(target).repeat_interleave(n) if isinstance(target, list) else None
    chosen = out[:, target] if heads is None else out.gather(1, heads.to(x.device)[:, None])
    (grads,) = torch.autograd.grad(chosen.sum(), points)
    each = grads * step  # (N, n, 3, S, S): one estimate per point
    if can_split(n):  # every other slice: each half is spread over the whole path
        later = second_half(n)[strata].to(x.device)
        ctx.split(each[:, ~later].mean(1), each[:, later].mean(1))
    return each.mean(1)


@register_gradient(
    "input_x_gradient",
    "Input × Gradient",
    "The input times the gradient of the logit: first-order contribution of each pixel.",
    cost=ONE_PASS,
)
def input_x_gradient(ctx: Context, x: torch.Tensor) -> torch.Tensor:
    return ca.InputXGradient(ctx.net).attribute(x, target=ctx.target)


@register_gradient(
    "guided_backprop",
    "Guided Backprop",
    "Gradient where every ReLU also blocks negative gradients (Springenberg et al. 2015).",
    reduction="abs",
    cost=ONE_PASS,
)
def guided_backprop(ctx: Context, x: torch.Tensor) -> torch.Tensor:
    return modified_gradient(ctx.net, ctx.network, x, ctx.target, "guided_backprop")


GRADCAM_LAYER = "layer3"


@register_gradient(
    "guided_gradcam",
    "Guided GradCAM",
    "Grad-CAM of a stage, upsampled, times Guided Backprop (Selvaraju et al. 2017).",
    (
        Param(
            "layer",
            "choice",
            GRADCAM_LAYER,
            "Stage whose feature maps Grad-CAM weighs. With a 64 px input they are 16, 8, 4 "
            "and 2 px wide: a later stage knows more about digits, an earlier one localises "
            "more finely.",
            choices=STAGES,
        ),
        Param(
            "interpolate_mode",
            "choice",
            "bilinear",
            "How the coarse map is upsampled.",
            choices=("bilinear", "nearest", "bicubic"),
        ),
    ),
    reduction="abs",
    cost=Cost(lambda p, size: 2),
)
def guided_gradcam(ctx: Context, x: torch.Tensor) -> torch.Tensor:
    layer = getattr(ctx.network, ctx.params["layer"])
    return ca.GuidedGradCam(ctx.net, layer).attribute(
        x, target=ctx.target, interpolate_mode=ctx.params["interpolate_mode"]
    )


@register_gradient(
    "deconvolution",
    "Deconvolution",
    "Backward pass where ReLUs pass only positive gradients (Zeiler & Fergus 2014).",
    reduction="abs",
    cost=ONE_PASS,
)
def deconvolution(ctx: Context, x: torch.Tensor) -> torch.Tensor:
    return modified_gradient(ctx.net, ctx.network, x, ctx.target, "deconvolution")
