"""LIME's surrogate (Ribeiro et al. 2016) on a superpixel game, for a batch of images at once.

LIME draws random coalitions of superpixels (each kept with probability ½, the rest set to the
baseline), weights each perturbed image by its closeness to the image (an exponential kernel
on the cosine distance between the two, as vectors of pixel values) and fits a Lasso to the
explained output; the coefficients are the features' attributions.

Captum's ``Lime`` computes this one image at a time, one Python step per sample. Here the
coalitions are drawn once and played by every image of a batch in shared model passes
(:func:`svhn_xai.explain.superpixels.game`); each image keeps its own weights (its cosine
distances) and its own Lasso. The rows are drawn as Captum draws them — one Bernoulli(½) row
at a time from torch's global generator — and the weights follow Captum's kernel, so under the
same seed the estimate is Captum's (``tests/explain/test_surrogate.py`` holds them together).
``subsets="paired"`` draws half the rows and follows each by its complement instead
(:func:`lime_coalitions`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from svhn_xai.explain.halves import can_split, second_half
from svhn_xai.explain.shapley import play_in_batches

COSINE_EPS = 1e-8  # torch's CosineSimilarity: a zero vector has similarity 0 to any other


def lime_coalitions(d: int, count: int, paired: bool = False) -> torch.Tensor:
    """``count`` coalitions (count, d) of 0/1 as float, each feature kept with probability ½,
    drawn row by row from torch's global generator (Captum's default perturbation). ``paired``:
    half as many drawn, each followed by its complement (an odd ``count`` ends on a drawn row).

    Pairing is a foldover design: every feature is kept in exactly half the rows, and each
    feature's column is orthogonal to the product of any two (a pair's rows agree on it and
    disagree on the feature). A fit with equal weights then reads no pairwise interaction as
    a main effect: on a game without interactions of three or more superpixels, the least-
    squares coefficients are its Shapley values, whatever the draw."""
    half = torch.full((1, d), 0.5)
    if not paired:
        return torch.cat([torch.bernoulli(half) for _ in range(count)])
    first = torch.cat([torch.bernoulli(half) for _ in range((count + 1) // 2)])
    return torch.stack([first, 1 - first], 1).reshape(-1, d)[:count]


def feature_sums(x: torch.Tensor, reference: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image and feature, the sums over the feature's values of x², x·r and r², for images
    ``x`` and references ``r`` (N, C, S, S) and a feature mask (1, 1, S, S) of d features:
    (3, N, d) float64. A perturbed image's dot product with its image and its norm are sums
    of these, kept or replaced feature by feature."""
    cells = mask.flatten().expand(x.shape[1], -1).flatten()  # each channel's pixels in order
    x64, r64 = x.flatten(1).double(), reference.flatten(1).double()
    d = int(mask.max()) + 1
    out = torch.zeros(3, len(x), d, dtype=torch.float64, device=x.device)
    for row, values in enumerate((x64 * x64, x64 * r64, r64 * r64)):
        out[row].index_add_(1, cells.to(x.device), values)
    return out


def kernel_weights(
    coalitions: torch.Tensor, sums: torch.Tensor, kernel_width: float
) -> torch.Tensor:
    """exp(-(1 - cos)² / (2 w²)) of each coalition's perturbed image against its image
    (Captum's ``get_exp_kernel_similarity_function("cosine", w)``): (n, N) float64 from
    coalitions (n, d) and :func:`feature_sums` (3, N, d)."""
    z = coalitions.to(sums)
    own, cross, other = sums
    dot = z @ own.T + (1 - z) @ cross.T  # (n, N): perturbed · image
    norm = torch.sqrt((z @ own.T + (1 - z) @ other.T) * own.sum(1))
    distance = 1 - dot / norm.clamp_min(COSINE_EPS)
    return torch.exp(-(distance**2) / (2 * kernel_width**2))


def lasso_per_image(
    coalitions: torch.Tensor, values: torch.Tensor, weights: torch.Tensor, alpha: float
) -> torch.Tensor:
    """Each image's weighted Lasso (scikit-learn's, with an intercept, as Captum's
    ``SkLearnLasso`` fits it, in float32): coefficients (d, N) float64 from coalitions (n, d),
    outputs (n, N) and weights (n, N)."""
    from sklearn.linear_model import Lasso

    z = coalitions.float().cpu().numpy()
    y, w = values.float().cpu().numpy(), weights.float().cpu().numpy()
    fits = [Lasso(alpha=alpha).fit(z, y[:, i], sample_weight=w[:, i]) for i in range(y.shape[1])]
    return torch.from_numpy(np.stack([f.coef_ for f in fits], 1).astype(np.float64))


def lime(
    play: Callable[[torch.Tensor], torch.Tensor],
    coalitions: torch.Tensor,
    sums: torch.Tensor,
    alpha: float,
    kernel_width: float,
    batch: int = 64,
    halves: list[tuple[torch.Tensor, torch.Tensor]] | None = None,
    paired: bool = False,
) -> torch.Tensor:
    """LIME's coefficients φ (d, N) for the N images of the game ``play`` (coalitions (B, d)
    to outputs (B, N)): every image plays the same ``coalitions`` (n, d), ``batch`` of them
    per call, and is weighted by its own :func:`kernel_weights`. Where ``halves`` is a list,
    the coefficients of a surrogate fitted to each half of the rows (of the pairs, for
    ``paired`` rows) are appended to it (no game played more)."""
    values = play_in_batches(play, coalitions, batch).reshape(len(coalitions), -1)
    weights = kernel_weights(coalitions, sums, kernel_width)
    if halves is not None and can_split(len(coalitions), paired):
        later = second_half(len(coalitions), paired)
        halves.append(
            tuple(
                lasso_per_image(coalitions[rows], values[rows], weights[rows], alpha)
                for rows in (~later, later)
            )
        )
    return lasso_per_image(coalitions, values, weights, alpha)
