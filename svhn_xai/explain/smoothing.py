"""SmoothGrad and its variants on any method that explains a batch, via Captum's NoiseTunnel.

``smooth`` picks the variant (Smilkov et al. 2017; Adebayo et al. 2018): ``smoothgrad`` averages
the attributions of ``smooth_samples`` noisy copies of the image (Gaussian, standard deviation
``smooth_stdev`` in the image's [0, 1] units), ``smoothgrad_sq`` averages their squares,
``vargrad`` takes their variance. The noisy copies go through the method together, as many at a
time as keep a batch under :data:`BATCH_IMAGES` images (a copy counts the passes the method
makes of it): a one-pass method takes all of them in one batch, while GradientShap's 32 samples
a copy are not multiplied into a batch of thousands of images, whose activations would take
gigabytes and run slower per image than a few smaller batches. The cost is ``smooth_samples``
times the method's own.

A method joins by being written as ``run(ctx, x)`` for a batch ``x`` (N, 3, S, S) and wrapped
with :func:`smoothable`, which also adds the three parameters to its registry entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import captum.attr as ca
import torch

from svhn_xai.explain.context import Context
from svhn_xai.explain.params import Param
from svhn_xai.explain.references import seeded

SMOOTHINGS = ("none", "smoothgrad", "smoothgrad_sq", "vargrad")
BATCH_IMAGES = 256  # images per batch of noisy copies, counting each copy's own passes

SMOOTH_PARAMS = (
    Param(
        "smooth",
        "choice",
        "none",
        "Average the attribution over noisy copies of the image: SmoothGrad (mean), "
        "SmoothGrad² (mean of squares) or VarGrad (variance); none explains the image once.",
        choices=SMOOTHINGS,
    ),
    Param(
        "smooth_samples",
        "int",
        16,
        "Noisy copies averaged when smoothing (all in one batch).",
        low=1,
        high=256,
        cost=True,
    ),
    Param(
        "smooth_stdev",
        "float",
        0.15,
        "Standard deviation of the Gaussian noise, in the image's [0, 1] units (SmoothGrad's "
        "paper finds 10-20 % of the input range best).",
        low=0.0,
        high=1.0,
    ),
)

BatchRun = Callable[[Context, torch.Tensor], torch.Tensor]


class _Batched(ca.GradientAttribution):
    """A registry method as a Captum attribution, so that NoiseTunnel can wrap it."""

    def __init__(self, ctx: Context, run: BatchRun) -> None:
        super().__init__(ctx.net)
        self.ctx = ctx
        self.run = run

    def attribute(self, inputs: torch.Tensor, **_: object) -> torch.Tensor:
        with torch.enable_grad():  # NoiseTunnel calls it under no_grad; LRP needs autograd
            return self.run(self.ctx, inputs.detach())

    # NoiseTunnel calls the method undecorated, through Captum's logging wrapper's __wrapped__
    attribute.__wrapped__ = attribute  # type: ignore[attr-defined]


def smoothable(
    run: BatchRun, passes: Callable[[dict[str, Any], int], int] | None = None
) -> Callable[[Context], torch.Tensor]:
    """``run(ctx, x)`` as a registry method ``run(ctx)`` that honours the smoothing params.
    ``passes(params, side)``: images the method pushes through the model per image of ``x``
    (its ``Cost.passes``; None: one), which sizes the batches of noisy copies."""

    def smoothed(ctx: Context) -> torch.Tensor:
        p = ctx.params
        if p["smooth"] == "none":
            return run(ctx, ctx.x)
        per_copy = len(ctx.x) * (passes(p, ctx.x.shape[-1]) if passes else 1)
        together = max(1, min(p["smooth_samples"], BATCH_IMAGES // max(per_copy, 1)))
        with seeded(p.get("seed", 0)):  # NoiseTunnel draws its noise from torch's generator
            return ca.NoiseTunnel(_Batched(ctx, run)).attribute(
                ctx.x,
                nt_type=p["smooth"],
                nt_samples=p["smooth_samples"],
                nt_samples_batch_size=together,
                stdevs=float(p["smooth_stdev"]),
            )

    smoothed.__doc__ = run.__doc__
    return smoothed
