"""RISE: Randomized Input Sampling for Explanation (Petsiuk et al. 2018).

Random binary grids, each cell kept with probability ``p``, are upsampled bilinearly and
shifted by a random sub-cell offset into soft masks M_i (N, 1, S, S). The image times each mask
goes through the model; the saliency of pixel λ is the score-weighted mean of the masks,

    S(λ) = 1 / (N p) * sum_i f(I ⊙ M_i) M_i(λ),

the Monte-Carlo estimate of E[f(I ⊙ M) | M(λ)] (E[M(λ)] = p). Neither Captum nor
pytorch-grad-cam provides it.

Where the scores barely change from mask to mask (a confident model's probability saturates),
the plain estimate is mostly sum_i M_i(λ) / (N p): the masks' own noise. Two options take it
out without moving the expectation:

- ``centre`` (a control variate): S(λ) = 1 / (N p) * sum_i (f_i - c_i) M_i(λ) + mean_i f_i,
  with c_i the mean score of the *other* masks. E[(f - c) M(λ)] / p + E[c] = E[f M(λ)] / p for
  any c independent of the mask, so the estimate stays unbiased; a constant model gets a flat
  map from any masks.
- ``sampling="balanced"``: every grid cell kept in exactly round(p N) of the N masks (a
  random arrangement per cell, the cells independent), so each mask is still drawn as before
  while sum_i M_i(λ) hardly varies over λ.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from svhn_xai.explain.context import Context
from svhn_xai.explain.gradient import SEED
from svhn_xai.explain.halves import can_split, second_half
from svhn_xai.explain.params import Param
from svhn_xai.explain.precision import PRECISION
from svhn_xai.explain.registry import Cost, register
from svhn_xai.explain.superpixels import PER_EVAL, forward, per_eval

TARGET_SCORES = ("probability", "logit")


def sample_grids(
    count: int, size: int, cell: int, p: float, generator: torch.Generator, balanced: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random binary grids (count, 1, G, G), G = ceil(size / cell) + 1, each cell 1 with
    probability ``p`` (``balanced``: each cell 1 in exactly round(p count) grids, arranged at
    random), and crop offsets (count, 2) uniform in 0 .. cell - 1 pixels."""
    grid = math.ceil(size / cell) + 1
    if balanced:
        places = torch.rand(count, grid * grid, generator=generator).argsort(0).argsort(0)
        binary = (places < round(p * count)).float().view(count, 1, grid, grid)
    else:
        binary = (torch.rand(count, 1, grid, grid, generator=generator) < p).float()
    return binary, torch.randint(0, cell, (count, 2), generator=generator)


def rise_masks(binary: torch.Tensor, offsets: torch.Tensor, size: int, cell: int) -> torch.Tensor:
    """Soft masks (count, 1, size, size) in [0, 1]: each grid of ``binary`` upsampled
    bilinearly by ``cell`` and cropped at its offset (dy, dx), so that mask edges fall
    anywhere, not only on cell borders."""
    grid = binary.shape[-1]
    up = F.interpolate(
        binary, size=(grid * cell, grid * cell), mode="bilinear", align_corners=False
    )
    rows = (offsets[:, 0, None] + torch.arange(size))[:, :, None]  # (count, size, 1)
    cols = (offsets[:, 1, None] + torch.arange(size))[:, None, :]  # (count, 1, size)
    return up[torch.arange(len(binary))[:, None, None], 0, rows, cols][:, None]


@register(
    "rise",
    "RISE",
    "perturbation",
    "Score-weighted mean of random soft masks: the image is seen through each mask and the "
    "digit's score weighs it (Petsiuk et al. 2018).",
    (
        Param(
            "n_masks",
            "int",
            2048,
            "Random masks averaged (one masked image each).",
            low=8,
            high=8000,
            cost=True,
        ),
        Param(
            "cell",
            "int",
            16,
            "Side of a grid cell before upsampling, in pixels (16 px: a 4 x 4 grid on 64 px).",
            low=2,
            high=32,
        ),
        Param("p", "float", 0.5, "Probability that a grid cell is kept.", low=0.05, high=0.95),
        Param(
            "score",
            "choice",
            "probability",
            "What weighs a mask: the digit's sigmoid probability (the paper's class "
            "probability) or its logit.",
            choices=TARGET_SCORES,
        ),
        Param(
            "sampling",
            "choice",
            "independent",
            "How the grids are drawn: every cell independently (the paper's), or balanced, each "
            "cell kept in exactly p x n_masks of them.",
            choices=("independent", "balanced"),
        ),
        Param(
            "centre",
            "bool",
            True,
            "Weigh each mask by its score minus the other masks' mean score (a control "
            "variate: the same expectation, less of the masks' own noise).",
        ),
        SEED,
        PER_EVAL,
        PRECISION,
    ),
    batched=True,
    cost=Cost(
        lambda p, size: p["n_masks"],
        clean_first=True,
        gradient_free=True,
        # timed at two small budgets: its passes (64 masked images each, the masks made on
        # the way) cost less per image than the model's lone batch of 32 that estimates others
        budgets=({"n_masks": 32}, {"n_masks": 128}),
    ),
    splits=lambda p: can_split(p["n_masks"]),
)
def rise(ctx: Context) -> torch.Tensor:
    p = ctx.params
    n, size = len(ctx.x), ctx.x.shape[-1]
    # every grid drawn up front (a few kB), so that the batch size cannot change the masks
    generator = torch.Generator().manual_seed(p["seed"])
    balanced = p["sampling"] == "balanced"
    binary, offsets = sample_grids(p["n_masks"], size, p["cell"], p["p"], generator, balanced)
    run = forward(ctx, p["n_masks"] * n, clean=True)
    heads = torch.tensor(ctx.target, device=ctx.x.device).view(-1, 1).expand(n, 1)  # (N, 1)
    # the sums over the masks, kept apart for each half of them where the halves are asked for
    halves = ctx.halves is not None and can_split(p["n_masks"])
    parts = 2 if halves else 1
    saliency = torch.zeros(parts, n, 1, size, size, dtype=ctx.x.dtype, device=ctx.x.device)
    coverage = torch.zeros(parts, 1, size, size, dtype=ctx.x.dtype, device=ctx.x.device)
    total = torch.zeros(parts, n, dtype=ctx.x.dtype, device=ctx.x.device)  # sum_i f_i
    part = second_half(p["n_masks"]).long() if halves else torch.zeros(p["n_masks"]).long()
    per_pass = per_eval(ctx)  # masks per pass for each image
    for start in range(0, p["n_masks"], per_pass):
        batch = slice(start, start + per_pass)
        masks = rise_masks(binary[batch], offsets[batch], size, p["cell"]).to(ctx.x)
        seen = (ctx.x[:, None] * masks[None]).flatten(0, 1)  # (N x B, 3, S, S), image-major
        out = run(seen).view(n, len(masks), -1)
        score = out.gather(2, heads[:, None].expand(-1, len(masks), 1))[..., 0]  # (N, B)
        if p["score"] == "probability":
            score = torch.sigmoid(score)
        into = part[batch].to(ctx.x.device)
        saliency.index_add_(0, into, score.T[:, :, None, None, None] * masks[:, None])
        coverage.index_add_(0, into, masks)
        total.index_add_(0, into, score.T)
    counts = torch.bincount(part, minlength=parts).tolist()
    whole = _saliency(saliency.sum(0), coverage.sum(0), total.sum(0), p["n_masks"], p)
    if halves:
        ctx.split(*(_saliency(saliency[h], coverage[h], total[h], counts[h], p) for h in (0, 1)))
    return whole


def _saliency(
    saliency: torch.Tensor, coverage: torch.Tensor, total: torch.Tensor, count: int, p: dict
) -> torch.Tensor:
    """RISE's map (N, 3, S, S) from the sums over ``count`` masks of f_i M_i (N, 1, S, S), of
    M_i (1, S, S) and of f_i (N,), centred where ``p["centre"]`` asks; the channel sum is the
    saliency."""
    n, size = len(saliency), saliency.shape[-1]
    if p["centre"]:  # sum_i c_i M_i with c_i = (F - f_i) / (N - 1), F = sum_i f_i
        others = (total[:, None, None, None] * coverage - saliency) / max(count - 1, 1)
        saliency = saliency - others
    saliency = saliency / (count * p["p"])
    if p["centre"]:
        saliency = saliency + (total / count)[:, None, None, None]
    return (saliency / 3).expand(n, 3, size, size).clone()
