"""Split-half: a sampling method's map as two maps, each from half of the samples it drew.

A method whose estimate is built from independent samples (RISE's masks, GradientShap's
points, Shapley Value Sampling's orders, LIME's and KernelShap's coalitions) can compute, from
the very samples it drew, the estimate each half of them gives. How much the two halves agree
says how much a second draw would, at no model pass more
(:func:`svhn_xai.explain.stability.split_half`). Samples drawn in pairs (an order and its
reverse, a coalition and its complement) stay together: a pair is one sample of the paired
estimator.
"""

from __future__ import annotations

import torch


def second_half(count: int, paired: bool = False) -> torch.Tensor:
    """Which of ``count`` samples fall in the second half (count,) bool: every other sample,
    or every other pair of consecutive samples where they were drawn in ``paired`` pairs
    (an odd count's last, unpaired sample goes with its pair's half)."""
    index = torch.arange(count)
    return ((index // 2 if paired else index) % 2).bool()


def can_split(count: int, paired: bool = False) -> bool:
    """Whether ``count`` samples (in pairs where ``paired``) leave each half at least one."""
    return count >= (3 if paired else 2)
