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

Both spend one model pass per evaluated coalition; the empty and the full coalition are
evaluated once and shared.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Game = Callable[[torch.Tensor], torch.Tensor]


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
    coalitions: torch.Tensor, values: torch.Tensor, empty: float, full: float
) -> torch.Tensor:
    """φ (d,) minimising the mean of (values - empty - coalitions @ φ)² subject to
    φ.sum() = full - empty (KernelSHAP's problem with kernel-drawn coalitions; Covert & Lee
    2021, eq. 7). A coalition matrix of rank < d is solved in the least-norm sense."""
    z = coalitions.to(torch.float64)
    a = z.T @ z / len(z)
    b = z.T @ (values.to(torch.float64) - empty) / len(z)
    a_inv = torch.linalg.pinv(a)
    ones = torch.ones(len(a), dtype=torch.float64)
    a_inv_b, a_inv_1 = a_inv @ b, a_inv @ ones
    return a_inv_b - a_inv_1 * (a_inv_b.sum() - (full - empty)) / a_inv_1.sum()


def paired_kernel_shap(
    game: Game, d: int, count: int, generator: torch.Generator, batch: int = 64
) -> torch.Tensor:
    """KernelSHAP with paired sampling: φ (d,) float64 from ``count`` evaluated coalitions (and
    the empty and full ones), ``batch`` coalitions per call of ``game``."""
    coalitions = paired_coalitions(d, count, generator)
    ends = _evaluate(game, torch.stack([torch.zeros(d), torch.ones(d)]).double(), batch)
    values = _evaluate(game, coalitions, batch)
    return constrained_least_squares(coalitions, values, float(ends[0]), float(ends[1]))


def antithetic_permutation_shapley(
    game: Game, d: int, orders: int, generator: torch.Generator, batch: int = 64
) -> torch.Tensor:
    """Permutation-sampling Shapley values φ (d,) float64 from ``orders`` random orders, each
    odd one the reverse of the one before; d - 1 coalitions evaluated per order, the empty and
    the full one once."""
    drawn = (orders + 1) // 2
    forward = torch.stack([torch.randperm(d, generator=generator) for _ in range(drawn)])
    perms = torch.stack([forward, forward.flip(1)], 1).reshape(-1, d)[:orders]
    # the coalition after the first j features of each order, j = 1 .. d - 1
    ranks = perms.argsort(1)  # ranks[o, i]: the place of feature i in order o
    steps = torch.arange(1, d)
    inner = (ranks[:, None, :] < steps[None, :, None]).to(torch.float64)  # (orders, d-1, d)
    ends = _evaluate(game, torch.stack([torch.zeros(d), torch.ones(d)]).double(), batch)
    values = _evaluate(game, inner.reshape(-1, d), batch).view(orders, d - 1)
    chain = torch.cat([ends[:1].expand(orders, 1), values, ends[1:].expand(orders, 1)], 1)
    gains = chain[:, 1:] - chain[:, :-1]  # (orders, d): the gain of the j-th feature placed
    return gains.gather(1, ranks).mean(0)  # feature i's gain, at its place in each order


def _evaluate(game: Game, coalitions: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat(
        [game(coalitions[i : i + batch]).double() for i in range(0, len(coalitions), batch)]
    )
