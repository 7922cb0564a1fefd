"""Is a sampling method's map the same map twice? Its seed-to-seed agreement, measured.

A method draws random samples when it has a ``seed`` parameter (GradientShap, DeepLiftShap,
Shapley Value Sampling, LIME, KernelShap, RISE): two seeds give two maps, and a user who presses
the button twice should know how much they differ, as Spearman's rank correlation ρ of the two
attributions (channels summed, as ``explain --save-attribution`` writes them): 1 is the same
ranking of pixels, 0 none in common. Where ρ is under :data:`STABLE_RHO`, the reading of the
map depends on the draw. :func:`stability` estimates it in one of two ways:

- split-half (:func:`split_half`), where the map comes with the maps of each half of its
  samples (:mod:`svhn_xai.explain.halves`): ρ between the halves, stepped up to the whole
  budget by the Spearman-Brown formula. No model pass more.
- a second draw (:func:`agreement`) otherwise: the map drawn once more with the next seeds at
  the same settings, and ρ between the two. Twice the passes.

``benchmarks/split_half.py`` holds the first to the second on development photos.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from svhn_xai.explain.base import Explanation, explain
from svhn_xai.explain.params import validate
from svhn_xai.explain.registry import get_spec

STABLE_RHO = 0.9  # ρ between two draws at or above which a map reads the same either way


def is_sampled(method: str) -> bool:
    """True for a method whose map depends on the draw of its random samples."""
    return get_spec(method).takes("seed")


def rank_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's ρ of two attributions (3, S, S), channels summed; 0 where either is constant
    (a map that ranks nothing agrees with nothing)."""
    x, y = np.asarray(a).sum(0).ravel(), np.asarray(b).sum(0).ravel()
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return 0.0
    return float(spearmanr(x, y)[0])


def second_draw(params: dict[str, Any], seed: int) -> dict[str, Any]:
    """``params`` for the draw the agreement is measured against: the next seed after those the
    map used (``draws`` of them, from ``seed``), every other setting the same."""
    return {**params, "seed": int(seed) + int(params.get("draws", 1))}


def budget_multiple(rho: float, target: float = STABLE_RHO) -> float | None:
    """How many times the samples (or ``draws``) a map needs for two draws to agree at
    ``target``, from their agreement ``rho`` now: the Spearman-Brown prophecy for the mean of k
    independent draws, ρ_k = kρ / (1 + (k - 1)ρ), solved for ρ_k = target; 1 where ρ already
    reaches it, None where ρ ≤ 0 (no common signal to sharpen)."""
    if rho <= 0:
        return None
    return max(1.0, target * (1 - rho) / (rho * (1 - target)))


def stepped_up(rho: float, k: float = 2.0) -> float:
    """The Spearman-Brown prophecy: the agreement of two means of ``k`` draws each, from the
    agreement ``rho`` of two single draws, kρ / (1 + (k - 1)ρ); ``rho`` itself where it is at
    or below 0 (no common signal to sharpen)."""
    return rho if rho <= 0 else k * rho / (1 + (k - 1) * rho)


def split_half(e: Explanation) -> dict[str, Any]:
    """``{"rho", "stable", "budget_multiple", "how", "half_rho"}`` of an :class:`Explanation`
    with :attr:`~Explanation.halves`: ``half_rho`` the agreement of its two halves, ``rho`` that
    stepped up to the whole map (:func:`stepped_up`), the agreement a second draw would show;
    see :func:`budget_multiple`."""
    half = rank_agreement(*e.halves)
    rho = stepped_up(half)
    return {
        "rho": rho,
        "stable": rho >= STABLE_RHO,
        "budget_multiple": budget_multiple(rho),
        "how": f"split-half: Spearman rho {half:.3f} between the maps of the two halves of this "
        f"map's samples ({_seeds(e.params)}), stepped up to the whole map by Spearman-Brown "
        f"(2r / (1 + r)), channels summed; budget_multiple: the samples or draws times which "
        f"would reach rho {STABLE_RHO} (Spearman-Brown)",
        "half_rho": half,
    }


def agreement(first: Explanation, second: Explanation) -> dict[str, Any]:
    """``{"rho", "stable", "budget_multiple", "how"}`` of two draws of the same map (their
    seeds differ); see :func:`budget_multiple`."""
    rho = rank_agreement(first.attribution, second.attribution)
    return {
        "rho": rho,
        "stable": rho >= STABLE_RHO,
        "budget_multiple": budget_multiple(rho),
        "how": f"Spearman rho between this map ({_seeds(first.params)}) and a second draw "
        f"({_seeds(second.params)}) at the same settings, channels summed; budget_multiple: "
        f"the samples or draws times which would reach rho {STABLE_RHO} (Spearman-Brown)",
    }


def _seeds(params: dict[str, Any]) -> str:
    """The seeds a map was drawn with, in words: "seed 5", or "seeds 5-7" for 3 draws."""
    first, draws = params["seed"], params.get("draws", 1)
    return f"seed {first}" if draws == 1 else f"seeds {first}-{first + draws - 1}"


def needs_second_draw(method: str, params: dict[str, Any]) -> bool:
    """Whether the stability of a map of ``method`` at ``params`` (validated) takes a second
    draw: a sampling method whose map at these settings does not split in halves."""
    spec = get_spec(method)
    return spec.takes("seed") and not spec.splits(validate(spec.params, params, method))


def stability(
    model: torch.nn.Module, image: np.ndarray | torch.Tensor, first: Explanation
) -> dict[str, Any] | None:
    """The seed-to-seed agreement of ``first`` (an :class:`Explanation` of ``image``): from its
    halves where it has them (:func:`split_half`), else from a second draw with the seeds after
    its own at the same settings (digit, contrast and every other parameter); None for a method
    that draws nothing at random."""
    if not is_sampled(first.method):
        return None
    if first.halves is not None:
        return split_half(first)
    params = second_draw(first.params, first.params["seed"])
    second = explain(model, image, first.digit, first.method, contrast=first.contrast, **params)
    return agreement(first, second)
