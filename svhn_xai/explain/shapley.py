"""Shapley values of superpixels, estimated with less variance than the anchors' estimators.

A game is ``value(coalitions)``: coalitions (B, d) of 0/1 (1 = the feature keeps the image's
values, 0 = the baseline's) to the explained output (B,). Its Shapley values φ (d,) satisfy
``φ.sum() == value(all) - value(none)`` (efficiency). Two estimators, each an option of the
method that uses it, with the plain one (Captum's) left as it was:

- :func:`paired_kernel_shap`: KernelSHAP as a constrained least-squares problem (Lundberg & Lee
  2017, in the form of Covert & Lee 2021, "Improving KernelSHAP"), coalitions drawn from the
  Shapley kernel *with their complements* (paired sampling), efficiency imposed exactly.
  Captum's KernelShap draws coalitions independently and solves an unconstrained regression.
- :func:`antithetic_permutation_shapley`: permutation sampling (Castro et al. 2009) where every
  random order is followed by its reverse. Each order gives an unbiased estimate, so the pair's
  mean is unbiased; it is exact for games without interactions of three or more features
  (a pair's marginal contributions average to half of each pairwise interaction).

Both spend one model pass per *distinct* coalition (:func:`play_distinct`; on up to
:data:`MAX_DEDUPLICATED` features, beyond which repeats are rare): a game is a
function of its coalition, so a coalition drawn twice is played once and its value used twice,
and the estimate is the one every draw played would give. Kernel-drawn coalitions repeat often
(a third of them have one feature or all but one: on 16 features, 1,024 paired coalitions are
about 660 distinct ones), and so do the short and long prefixes of random orders. The empty and
the full coalition are evaluated once and shared.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from svhn_xai.explain.halves import can_split, second_half

Game = Callable[[torch.Tensor], torch.Tensor]
# features up to which repeated coalitions are found and played once: on more, a coalition
# rarely repeats (a draw has too many to choose from), and finding the repeats of d-feature
# coalitions costs memory that grows as d² per order (a 1 px grid has 4,096 features)
MAX_DEDUPLICATED = 64


def shapley_kernel_sizes(d: int) -> torch.Tensor:
    """P(|S| = k) for k = 1 .. d - 1 (d - 1,) under the Shapley kernel, ∝ 1 / (k (d - k))."""
    k = torch.arange(1, d, dtype=torch.float64)
    weights = 1.0 / (k * (d - k))
    return weights / weights.sum()


def paired_coalitions(d: int, count: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` coalitions (count, d) as float 0/1: ``count // 2`` drawn from the Shapley
    kernel (a size, then a uniform subset of it), each followed by its complement; an odd
    ``count`` ends with one more drawn coalition."""
    if d < 2:
        raise ValueError("a game of fewer than two features has no coalitions to sample")
    drawn = (count + 1) // 2
    sizes = torch.multinomial(shapley_kernel_sizes(d), drawn, True, generator=generator) + 1
    ranks = torch.rand(drawn, d, generator=generator).argsort(1).argsort(1)  # a random order
    first = (ranks < sizes[:, None]).to(torch.float64)  # the first |S| features of that order
    both = torch.stack([first, 1 - first], 1).reshape(-1, d)
    return both[:count]


def constrained_least_squares(
    coalitions: torch.Tensor,
    values: torch.Tensor,
    empty: float | torch.Tensor,
    full: float | torch.Tensor,
) -> torch.Tensor:
    """φ (d,) minimising the mean of (values - empty - coalitions @ φ)² subject to
    φ.sum() = full - empty (KernelSHAP's problem with kernel-drawn coalitions; Covert & Lee
    2021, eq. 7). A coalition matrix of rank < d is solved in the least-norm sense. ``values``
    (n, N) with ``empty`` and ``full`` (N,) solve N games on the same coalitions at once:
    φ (d, N)."""
    z = coalitions.to(torch.float64)
    v = values.to(torch.float64).reshape(len(z), -1)
    low = torch.as_tensor(empty, dtype=torch.float64).reshape(-1)
    gain = torch.as_tensor(full, dtype=torch.float64).reshape(-1) - low
    # with A = zᵀz / n and b = zᵀ(v - empty) / n: A⁺ = n z⁺ z⁺ᵀ and A⁺b = z⁺(v - empty), from
    # the pseudo-inverse of z (d x n), not of the d x d A: fewer coalitions than features
    # (thousands of 1 px features) then cost n² d, not d³
    z_inv = torch.linalg.pinv(z)
    a_inv_b = z_inv @ (v - low)  # (d, N)
    a_inv_1 = len(z) * z_inv @ (z_inv.T @ torch.ones(z.shape[1], dtype=torch.float64))
    phi = a_inv_b - a_inv_1[:, None] * (a_inv_b.sum(0) - gain) / a_inv_1.sum()
    return phi if values.dim() > 1 else phi[:, 0]


def paired_kernel_shap(
    game: Game,
    d: int,
    count: int,
    generator: torch.Generator,
    batch: int = 64,
    halves: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> torch.Tensor:
    """KernelSHAP with paired sampling: φ (d,) float64 from ``count`` evaluated coalitions (and
    the empty and full ones), ``batch`` coalitions per call of ``game``; a game of N images
    (values (B, N)) gets φ (d, N), every image from the same coalitions. Where ``halves`` is a
    list, the φ each half of the pairs gives alone is appended to it (no game played more)."""
    coalitions = paired_coalitions(d, count, generator)
    ends = play_in_batches(game, torch.stack([torch.zeros(d), torch.ones(d)]).double(), batch)
    values = play_distinct(game, coalitions, batch)
    if halves is not None and can_split(count, paired=True):
        later = second_half(count, paired=True)
        halves.append(
            tuple(
                constrained_least_squares(coalitions[rows], values[rows], ends[0], ends[1])
                for rows in (~later, later)
            )
        )
    return constrained_least_squares(coalitions, values, ends[0], ends[1])


def paired_kernel_shap_passes(d: int, count: int, seed: int) -> int:
    """Games played by :func:`paired_kernel_shap` with a generator seeded ``seed``: the
    distinct coalitions among its ``count`` (each one, beyond :data:`MAX_DEDUPLICATED`
    features), and the empty and the full one."""
    if d > MAX_DEDUPLICATED:
        return count + 2
    drawn = paired_coalitions(d, count, torch.Generator().manual_seed(seed))
    return len(torch.unique(drawn, dim=0)) + 2


def antithetic_permutation_shapley(
    game: Game,
    d: int,
    orders: int,
    generator: torch.Generator,
    batch: int = 64,
    halves: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
) -> torch.Tensor:
    """Permutation-sampling Shapley values φ (d,) float64 from ``orders`` random orders, each
    odd one the reverse of the one before; d - 1 coalitions evaluated per order, the empty and
    the full one once. A game of N images (values (B, N)) gets φ (d, N), the same orders. Where
    ``halves`` is a list, the φ each half of the pairs of orders gives alone is appended."""
    ranks, inner = antithetic_orders(d, orders, generator)
    ends = play_in_batches(game, torch.stack([torch.zeros(d), torch.ones(d)]).double(), batch)
    values = play_distinct(game, inner, batch)
    one = values.dim() == 1
    values, ends = values.reshape(orders, d - 1, -1), ends.reshape(2, 1, -1)
    chain = torch.cat([ends[:1].expand(orders, 1, -1), values, ends[1:].expand(orders, 1, -1)], 1)
    gains = chain[:, 1:] - chain[:, :-1]  # (orders, d, N): the gain of the j-th feature placed
    # feature i's gain, at its place in each order
    each = gains.gather(1, ranks[..., None].expand_as(gains))  # (orders, d, N)
    if halves is not None and can_split(orders, paired=True):
        later = second_half(orders, paired=True)
        halves.append(tuple(_one(each[rows].mean(0), one) for rows in (~later, later)))
    return _one(each.mean(0), one)


def _one(phi: torch.Tensor, one: bool) -> torch.Tensor:
    """φ (d, N) as the game gave it: (d,) for a game of one image's values (B,)."""
    return phi[:, 0] if one else phi


def antithetic_orders(
    d: int, orders: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """``orders`` random orders of d features, each odd one the reverse of the one before, as
    ranks (orders, d) (``ranks[o, i]``: the place of feature i in order o) and their inner
    coalitions (orders * (d - 1), d) float64: after the first j features of each order,
    j = 1 .. d - 1, order by order."""
    drawn = (orders + 1) // 2
    forward = torch.stack([torch.randperm(d, generator=generator) for _ in range(drawn)])
    perms = torch.stack([forward, forward.flip(1)], 1).reshape(-1, d)[:orders]
    ranks = perms.argsort(1)
    steps = torch.arange(1, d)
    inner = (ranks[:, None, :] < steps[None, :, None]).to(torch.float64)  # (orders, d-1, d)
    return ranks, inner.reshape(-1, d)


def antithetic_shapley_passes(d: int, orders: int, seed: int) -> int:
    """Games played by :func:`antithetic_permutation_shapley` with a generator seeded ``seed``:
    the distinct inner coalitions of its orders (each one, beyond :data:`MAX_DEDUPLICATED`
    features), and the empty and the full one."""
    if d > MAX_DEDUPLICATED:
        return orders * (d - 1) + 2
    _, inner = antithetic_orders(d, orders, torch.Generator().manual_seed(seed))
    return len(torch.unique(inner, dim=0)) + 2


def play_distinct(game: Game, coalitions: torch.Tensor, batch: int) -> torch.Tensor:
    """:func:`play_in_batches` of ``coalitions`` (n, d), each distinct coalition played once
    (up to :data:`MAX_DEDUPLICATED` features): the same values (n,) or (n, N), in fewer passes
    where coalitions repeat."""
    if coalitions.shape[1] > MAX_DEDUPLICATED:
        return play_in_batches(game, coalitions, batch)
    distinct, which = torch.unique(coalitions, dim=0, return_inverse=True)
    return play_in_batches(game, distinct, batch)[which]


def play_in_batches(game: Game, coalitions: torch.Tensor, batch: int) -> torch.Tensor:
    """``game``'s values of ``coalitions`` (n, d), ``batch`` coalitions per call: (n,) or, for a
    game of N images, (n, N), float64."""
    return torch.cat(
        [game(coalitions[i : i + batch]).double() for i in range(0, len(coalitions), batch)]
    )
