"""Model passes shared by the pairs of a batch that explain the same image.

A dataset evaluation explains every digit present in a photo, so a batch of pairs holds each
photo about twice (once per digit), and a gradient-free method perturbs the copies
identically: the same masks, coalitions or windows, drawn from the same seed. Their perturbed
images are then equal bit for bit, and so are their logits; only the head read from them
differs. :class:`OncePerDistinctRow` runs each distinct image of a pass once and hands every
copy its logits, which halves the passes of the perturbation methods on a typical batch and
changes no estimate.
"""

from __future__ import annotations

import functools

import torch

_SAME_WIDTH = {2: torch.int16, 4: torch.int32, 8: torch.int64}


@functools.cache
def _probe(width: int, device: torch.device) -> torch.Tensor:
    """Fixed random integers (width,), int64, whose dot product with a row's bits keys it."""
    generator = torch.Generator().manual_seed(0)
    return torch.randint(-(2**31), 2**31, (width,), generator=generator).to(device)


def distinct_rows(batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The first row of each group of equal rows of ``batch`` (B, ...) and each row's group:
    ``(first (U,), group (B,))``, groups in order of appearance, with ``batch[first][group]``
    equal to ``batch`` bit for bit; None when every row is distinct.

    A row's key is the dot product of its bits (as integers) with fixed random integers: exact
    modular arithmetic, so equal rows get equal keys whatever order the sum runs in (a float
    product need not: a matrix-vector product rounds different rows differently). The grouping
    is then checked element by element; two different rows with one key (never seen on
    images) make it give up, None, rather than share a wrong answer."""
    flat = batch.detach().flatten(1).contiguous()
    bits = flat.view(_SAME_WIDTH[flat.element_size()]).long()
    key = (bits * _probe(flat.shape[1], flat.device)).sum(1)
    _, group = torch.unique(key, return_inverse=True)
    groups = int(group.max()) + 1 if len(group) else 0
    if groups == len(batch):
        return None
    order = torch.arange(len(batch), device=batch.device)
    first = torch.full((groups,), len(batch), device=batch.device)
    first = first.scatter_reduce(0, group, order, "amin")
    if not torch.equal(flat, flat[first[group]]):
        return None
    # groups numbered in the order the batch first shows them: the distinct rows keep it
    first, rank = first.sort()
    return first, torch.empty_like(rank).scatter_(0, rank, order[:groups])[group]


class OncePerDistinctRow(torch.nn.Module):
    """``net`` that runs each distinct row of a gradient-free batch once, its output copied to
    the row's equals: the same outputs as ``net(batch)`` (up to the float rounding of a
    smaller batch). Under autograd it runs the batch whole, since a copied output would carry
    no gradient to the copies' inputs."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        shared = None if torch.is_grad_enabled() else distinct_rows(batch)
        if shared is None:
            return self.net(batch)
        first, group = shared
        return self.net(batch[first])[group]
