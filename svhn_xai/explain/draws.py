"""Averaging a sampling method over independent draws: ``draws`` maps from seeds ``seed``,
``seed + 1``, ..., averaged. The map's sampling noise shrinks as 1 / sqrt(draws) at draws times
the cost; for the estimators whose samples are independent (Shapley Value Sampling's orders,
RISE's masks, GradientShap's points) it is the same as a budget draws times as large.

Every method with a ``seed`` parameter gets ``draws`` from :func:`with_draws`, called by the
registry.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from svhn_xai.explain.context import Context
from svhn_xai.explain.params import Param

DRAWS = Param(
    "draws",
    "int",
    1,
    "Independent draws averaged (seeds seed, seed + 1, ...): the map varies less between runs, "
    "at this many times the cost.",
    low=1,
    high=16,
    cost=True,
)


def with_draws(run: Callable[[Context], torch.Tensor]) -> Callable[[Context], torch.Tensor]:
    """``run`` as a method that averages ``ctx.params["draws"]`` runs with consecutive seeds."""

    def averaged(ctx: Context) -> torch.Tensor:
        given = ctx.params
        if given["draws"] == 1:
            return run(ctx)
        total = None
        try:
            for r in range(given["draws"]):
                ctx.params = {**given, "seed": given["seed"] + r}
                if ctx.progress is not None:
                    ctx.progress(r / given["draws"])
                out = run(ctx)
                total = out if total is None else total + out
        finally:
            ctx.params = given
        return total / given["draws"]

    averaged.__doc__ = run.__doc__
    return averaged
