"""The features of the perturbation methods: superpixels (a square grid or SLIC segments), the
game they define on an image, and the model passes that evaluate it.

A superpixel *game* maps coalitions (B, d) of 0/1 (1 = the feature keeps the image's values,
0 = the baseline's) to the explained output of each image of a batch (B, N); the Shapley
estimators of :mod:`svhn_xai.explain.shapley` play it. Features are square superpixels of
``superpixel`` pixels (64 at the defaults: 8 x 8 cells on a 64 x 64 input), or with
``segments="slic"`` about as many SLIC segments, evaluated ``perturbations_per_eval`` images at
a time in one batched model pass.

Captum gives every input value of a feature the feature's whole attribution; we spread it
evenly over the feature's values instead (:func:`spread`), so that a map's sum is the
features' sum (Shapley values then add up to f(image) - f(baseline), as they should) and
relevance mass is fair to the smaller superpixels at the image's edge.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch

from svhn_xai.explain.context import CleanFirst, Context
from svhn_xai.explain.params import Param
from svhn_xai.explain.precision import in_precision
from svhn_xai.explain.references import baseline, grid_mask, slic_mask
from svhn_xai.explain.sharing import OncePerDistinctRow

SUPERPIXEL = Param(
    "superpixel",
    "int",
    8,
    "Side of the square superpixels that are removed or kept together, in pixels.",
    low=1,
    high=32,
    cost=True,
)
SEGMENTS = Param(
    "segments",
    "choice",
    "grid",
    "The features: a square grid of superpixel-sized cells, or SLIC segments that follow the "
    "photo's edges, as many as the grid has cells (the grid itself where SLIC finds fewer "
    "than half that many, as on a flat or noisy image).",
    choices=("grid", "slic"),
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


def feature_mask(image: torch.Tensor, p: dict[str, Any]) -> torch.Tensor:
    """The feature mask (1, 1, S, S) of ``image`` (3, S, S) in [0, 1] under the method's
    validated parameters ``p``: the grid's cells, or with ``segments="slic"`` the image's SLIC
    segments, as many as the grid has cells (the grid itself where SLIC finds fewer than half
    that many: a flat or noisy image can leave it one segment, no game to play)."""
    size = image.shape[-1]
    if p.get("segments", "grid") == "slic":
        mask = slic_mask(image, cells(p, size))
        if 2 * (int(mask.max()) + 1) >= cells(p, size):
            return mask
    return grid_mask(size, p["superpixel"]).to(image.device)


def features(ctx: Context) -> tuple[torch.Tensor, int]:
    """The feature mask (1, 1, S, S) shared by ``ctx``'s images and its number of features
    (SLIC segments follow one image: :func:`one_by_one` explains a batch with them)."""
    mask = feature_mask(ctx.x[0], ctx.params)
    return mask, int(mask.max()) + 1


def per_eval(ctx: Context) -> int:
    """Perturbations per model pass for each image of the batch: the parameter counts images
    per pass, so the batch's distinct images share it (the pass size, and so memory, stay the
    same; the copies of an image explained for several digits share its passes, see
    :func:`forward`)."""
    return max(1, ctx.params["perturbations_per_eval"] // ctx.distinct_images)


def spread(attribution: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Divide each feature's attribution among its input values (channels x pixels)."""
    sizes = torch.bincount(mask.flatten()).to(attribution.dtype) * attribution.shape[1]
    return attribution / sizes[mask.expand_as(attribution)]


def forward(
    ctx: Context, expected: int, clean: bool = False
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The no-grad logits of ``ctx.net``, its passes in the method's ``precision``, reporting
    progress as a fraction of ``expected`` images; ``clean`` for a method none of whose samples
    is the image itself (see ``Context.net_with_clean_pass``). Where the batch holds an image
    more than once (one copy per digit explained), each pass runs its distinct images once
    (:class:`~svhn_xai.explain.sharing.OncePerDistinctRow`)."""
    seen = [0]
    net = in_precision(ctx.net, ctx.params["precision"])
    net = net if ctx.distinct_images == len(ctx.x) else OncePerDistinctRow(net)
    net = CleanFirst(net, ctx.x) if clean else net

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            out = net(x)
        seen[0] += x.shape[0]
        if ctx.progress is not None:
            ctx.progress(min(seen[0] / max(expected, 1), 1.0))
        return out

    return run


def game(
    ctx: Context, mask: torch.Tensor, coalitions: int, clean: bool = False
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The superpixel game of ``ctx``'s images (N of them, one head each): coalitions (B, d) to
    the explained outputs (B, N), every image perturbed by the same coalitions. ``coalitions``:
    how many the estimator will evaluate, for the progress bar; ``clean`` as for
    :func:`forward`, for an estimator that never plays the full coalition."""
    run = forward(ctx, coalitions * len(ctx.x), clean)
    cells_of = mask[0, 0]
    reference = baseline(ctx.x, ctx.params["baseline"])
    target = ctx.target
    heads = torch.tensor(target, device=ctx.x.device) if isinstance(target, list) else None

    def play(batch: torch.Tensor) -> torch.Tensor:
        keep = batch.to(ctx.x.device)[:, cells_of].bool()[:, None, None]  # (B, 1, 1, S, S)
        images = torch.where(keep, ctx.x[None], reference[None]).flatten(0, 1)  # image-minor
        out = run(images).view(len(batch), len(ctx.x), -1)  # (B, N, outputs)
        if heads is None:
            return out[..., target]
        return out.gather(2, heads.view(1, -1, 1).expand(len(batch), -1, 1))[..., 0]

    return play


def per_feature(ctx: Context, phi: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Feature values φ (d, N) as attributions of ``ctx.x`` (N, 3, S, S), each feature's value
    spread over its pixels and channels."""
    values = phi.to(ctx.x).T[:, mask[0, 0]]  # (N, S, S)
    return spread(values[:, None].expand_as(ctx.x).clone(), mask)


def sharing_samples(
    ctx: Context, shared: bool, run: Callable[[Context], torch.Tensor]
) -> torch.Tensor:
    """``run`` on the whole batch where its estimator ``shared`` its samples across images and
    the features are the grid's; with SLIC segments, which follow one photo, on each photo
    with its copies (one per digit explained); else on each image alone."""
    if shared and ctx.params.get("segments", "grid") == "grid":
        return run(ctx)
    return one_by_one(ctx, run, copies_together=shared)


def one_by_one(
    ctx: Context, run: Callable[[Context], torch.Tensor], copies_together: bool = False
) -> torch.Tensor:
    """``run`` on each image of ``ctx`` alone, their attributions stacked (N, 3, S, S): for a
    batch that cannot share its samples (Captum's estimators draw them per image) or its
    features (SLIC's segments). ``copies_together``: an image the batch holds more than once
    goes with its copies, which then share its passes (see :func:`forward`)."""
    if len(ctx.x) == 1:
        return run(ctx)
    heads = ctx.heads or (ctx.head,) * len(ctx.x)
    shared = ctx.copies if copies_together else None
    first, group = shared or (torch.arange(len(ctx.x)),) * 2
    report = ctx.progress
    out = torch.empty_like(ctx.x)
    for i in range(len(first)):
        rows = (group == i).nonzero()[:, 0].tolist()
        share = None if report is None else _share(report, i, len(first))
        rows_heads = tuple(heads[r] for r in rows)
        one = dataclasses.replace(
            ctx,
            x=ctx.x[rows],
            head=rows_heads[0],
            heads=rows_heads if len(rows) > 1 else None,
            progress=share,
        )
        out[rows] = run(one)
    return out


def _share(report: Callable[[float], None], i: int, n: int) -> Callable[[float], None]:
    """Progress of the i-th of n images as a share of the whole batch's."""
    return lambda done: report((i + done) / n)
