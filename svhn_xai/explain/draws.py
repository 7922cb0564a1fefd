"""Averaging a sampling method over independent draws: ``draws`` maps from seeds ``seed``,
``seed + 1``, ..., averaged. The map's sampling noise shrinks as 1 / sqrt(draws) at draws times
the cost; for the estimators whose samples are independent (Shapley Value Sampling's orders,
RISE's masks, GradientShap's points) it is the same as a budget draws times as large.

Every method with a ``seed`` parameter gets ``draws`` from :func:`with_draws`, called by the
registry. An even number of draws is split in two halves (:mod:`svhn_xai.explain.halves`) where
the method does not split its own samples.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


def splits_draws(params: dict[str, Any]) -> bool:
    """Whether the draws of ``params`` split in two halves of whole draws (an even number)."""
    return params.get("draws", 1) % 2 == 0


def with_draws(run: Callable[[Context], torch.Tensor]) -> Callable[[Context], torch.Tensor]:
    """``run`` as a method that averages ``ctx.params["draws"]`` runs with consecutive seeds."""

    def averaged(ctx: Context) -> torch.Tensor:
        given = ctx.params
        if given["draws"] == 1:
            return run(ctx)
        outs = []
        split_before = None if ctx.halves is None else len(ctx.halves)
        try:
            for r in range(given["draws"]):
                ctx.params = {**given, "seed": given["seed"] + r}
                if ctx.progress is not None:
                    ctx.progress(r / given["draws"])
                outs.append(run(ctx))
        finally:
            ctx.params = given
        if split_before == len(ctx.halves or ()) and given["draws"] % 2 == 0:
            ctx.split(torch.stack(outs[0::2]).mean(0), torch.stack(outs[1::2]).mean(0))
        return torch.stack(outs).mean(0)

    averaged.__doc__ = run.__doc__
    return averaged
