"""Gradient-family explainers (Captum), each with its real parameters."""

from __future__ import annotations

import captum.attr as ca
import torch

from svhn_xai.explain.base import Context, register
from svhn_xai.explain.params import Param
from svhn_xai.explain.references import BASELINES, DISTRIBUTIONS, baseline, distribution
from svhn_xai.model import STAGES

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
SEED = Param("seed", "int", 0, "Seed for random references and samples.", low=0, high=2**31 - 1)


@register(
    "integrated_gradients",
    "Integrated Gradients",
    "gradient",
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
)
def integrated_gradients(ctx: Context) -> torch.Tensor:
    p = ctx.params
    return ca.IntegratedGradients(ctx.model).attribute(
        ctx.x,
        baselines=baseline(ctx.x, p["baseline"]),
        target=ctx.head,
        n_steps=p["n_steps"],
        method=p["integration"],
        internal_batch_size=p["internal_batch_size"],
    )


@register(
    "saliency",
    "Saliency",
    "gradient",
    "Gradient of the digit's logit with respect to each input pixel (Simonyan et al. 2014).",
    (Param("abs", "bool", True, "Take the gradient's magnitude (the classic saliency map)."),),
    reduction="abs",
)
def saliency(ctx: Context) -> torch.Tensor:
    return ca.Saliency(ctx.model).attribute(ctx.x, target=ctx.head, abs=ctx.params["abs"])


@register(
    "deep_lift",
    "DeepLift",
    "gradient",
    "Difference from a baseline propagated with DeepLift's rescale rule (Shrikumar et al. 2017).",
    (BASELINE,),
)
def deep_lift(ctx: Context) -> torch.Tensor:
    base = baseline(ctx.x, ctx.params["baseline"])
    return ca.DeepLift(ctx.model).attribute(ctx.x, baselines=base, target=ctx.head)


@register(
    "deep_lift_shap",
    "DeepLiftShap",
    "gradient",
    "DeepLift averaged over a distribution of baselines: approximate SHAP values.",
    (DISTRIBUTION, N_BASELINES, SEED),
)
def deep_lift_shap(ctx: Context) -> torch.Tensor:
    p = ctx.params
    refs = distribution(ctx.x, p["baselines"], p["n_baselines"], p["seed"])
    return ca.DeepLiftShap(ctx.model).attribute(ctx.x, baselines=refs, target=ctx.head)


@register(
    "gradient_shap",
    "GradientShap",
    "gradient",
    "Expected gradients x (input - baseline) over noisy points between baselines and image.",
    (
        DISTRIBUTION,
        N_BASELINES,
        Param(
            "n_samples", "int", 32, "Random points sampled per image.", low=1, high=512, cost=True
        ),
        Param(
            "stdevs",
            "float",
            0.09,
            "Std. dev. of the Gaussian noise added to each sample.",
            low=0.0,
            high=1.0,
        ),
        SEED,
    ),
)
def gradient_shap(ctx: Context) -> torch.Tensor:
    p = ctx.params
    refs = distribution(ctx.x, p["baselines"], p["n_baselines"], p["seed"])
    torch.manual_seed(p["seed"])  # Captum draws its samples from the global generator
    return ca.GradientShap(ctx.model).attribute(
        ctx.x, baselines=refs, target=ctx.head, n_samples=p["n_samples"], stdevs=p["stdevs"]
    )


@register(
    "input_x_gradient",
    "Input × Gradient",
    "gradient",
    "The input times the gradient of the logit: first-order contribution of each pixel.",
)
def input_x_gradient(ctx: Context) -> torch.Tensor:
    return ca.InputXGradient(ctx.model).attribute(ctx.x, target=ctx.head)


@register(
    "guided_backprop",
    "Guided Backprop",
    "gradient",
    "Gradient where every ReLU also blocks negative gradients (Springenberg et al. 2015).",
    reduction="abs",
)
def guided_backprop(ctx: Context) -> torch.Tensor:
    return ca.GuidedBackprop(ctx.model).attribute(ctx.x, target=ctx.head)


GRADCAM_LAYER = "layer3"


@register(
    "guided_gradcam",
    "Guided GradCAM",
    "gradient",
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
)
def guided_gradcam(ctx: Context) -> torch.Tensor:
    layer = getattr(ctx.model, ctx.params["layer"])
    return ca.GuidedGradCam(ctx.model, layer).attribute(
        ctx.x, target=ctx.head, interpolate_mode=ctx.params["interpolate_mode"]
    )


@register(
    "deconvolution",
    "Deconvolution",
    "gradient",
    "Backward pass where ReLUs pass only positive gradients (Zeiler & Fergus 2014).",
    reduction="abs",
)
def deconvolution(ctx: Context) -> torch.Tensor:
    return ca.Deconvolution(ctx.model).attribute(ctx.x, target=ctx.head)
