"""The sanity check: cascading model-parameter randomisation (Adebayo et al. 2018). Layers are
re-initialised from the head down to the stem and the Spearman correlation of each method's map
with the trained model's is tracked; a method whose maps barely change does not explain the
model."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from svhn_xai.explain import explain_batch
from svhn_xai.model.network import DigitResNet18
from svhn_xai.scoring.bootstrap import mean_interval, photo_weights
from svhn_xai.scoring.heatmap import reduce_channels

FLAT_THRESHOLD = 0.5  # mean rank correlation above this after full randomisation: flagged


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps (:func:`scipy.stats.spearmanr`, average ranks
    for ties); NaN when either map is constant or not finite: it has no ranking to correlate,
    and a 0 would read as "the map changed completely", a pass of the randomisation check."""
    a, b = np.ravel(a), np.ravel(b)
    if not (np.isfinite(a).all() and np.isfinite(b).all()) or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


# head first, down to the stem: every module with parameters, the stem's BatchNorm included
RANDOMISATION_ORDER = ("fc", "layer4", "layer3", "layer2", "layer1", "bn1", "conv1")


def randomise(module: torch.nn.Module) -> None:
    """Re-initialise every parameter of ``module`` (and its children). BatchNorms get random
    affine parameters and running statistics, since a freshly reset one is the identity."""
    for child in module.modules():
        if hasattr(child, "reset_parameters"):
            child.reset_parameters()
        if isinstance(child, torch.nn.BatchNorm2d):
            with torch.no_grad():
                child.weight.uniform_(0.5, 1.5)
                child.bias.uniform_(-0.5, 0.5)
                child.running_mean.uniform_(-0.5, 0.5)
                child.running_var.uniform_(0.5, 1.5)


def randomisation_check(
    model: DigitResNet18,
    items: Sequence[tuple[np.ndarray, int]],
    methods: Sequence[str],
    seed: int = 0,
    params: dict[str, dict[str, Any]] | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Cascading randomisation (Adebayo et al. 2018): Spearman correlation of each method's map
    with the trained model's map after re-initialising the layers (:func:`randomise`) from the
    head down to the stem (:data:`RANDOMISATION_ORDER`, every parameterised layer).

    ``items`` are (model-input image, digit) pairs, explained ``batch_size`` at a time
    (:func:`~svhn_xai.explain.explain_batch`: the maps of one at a time, to float rounding).
    A pair whose map, trained or randomised, is constant or not finite has no rank correlation
    (:func:`spearman` gives NaN): it is counted apart and never enters a mean, where as a 0 it
    would pass for a map that changed completely.

    Returns ``{"layers": [...], "methods": {key: {...}}}``; each method's lists hold one entry
    per layer, in the order of ``layers``:

    - ``correlation``: the mean correlation over the pairs that have one (NaN where none has);
    - ``correlation_ci``: its 95 % interval, a percentile bootstrap over the pairs (one pair a
      photo, as ``evaluate --sanity`` picks them);
    - ``pairs``: each pair's correlation, NaN where it has none;
    - ``n_non_finite``, ``n_constant``: the pairs left out because a map is not finite, or
      (both maps finite) because one is constant;
    - ``flagged`` and ``reason``: ``"flat"`` when the correlation after the last layer is still
      above :data:`FLAT_THRESHOLD` (the map barely depends on the weights); ``"undefined"`` when
      no pair has a correlation after the last layer, so that nothing shows the map depends on
      the weights, which is no pass either. Otherwise ``flagged`` is false, ``reason`` None;
    - ``settled``: whether the last layer's interval lies wholly on one side of
      :data:`FLAT_THRESHOLD`, so that more photos would not change the verdict.
    """
    params = params or {}
    original = {m: _maps(model, items, m, params.get(m, {}), batch_size) for m in methods}
    scrambled = copy.deepcopy(model)
    torch.manual_seed(seed)
    rows: dict[str, dict[str, list[Any]]] = {
        m: {
            "correlation": [],
            "correlation_ci": [],
            "pairs": [],
            "n_non_finite": [],
            "n_constant": [],
        }
        for m in methods
    }
    for name in RANDOMISATION_ORDER:
        randomise(getattr(scrambled, name))
        scrambled.eval()
        for m in methods:
            # a method's draws must not move the next layers' weights: each method's result is
            # then the one it gets alone, and a resumed run can keep it (evaluate --resume)
            with torch.random.fork_rng():
                maps = _maps(scrambled, items, m, params.get(m, {}), batch_size)
            compared = list(zip(original[m], maps))
            rho = [spearman(a, b) for a, b in compared]
            # a NaN says the pair has no correlation; its maps say why
            broken = [not (np.isfinite(a).all() and np.isfinite(b).all()) for a, b in compared]
            counted = [r for r in rho if not np.isnan(r)]
            row = rows[m]
            row["correlation"].append(float(np.mean(counted)) if counted else float("nan"))
            row["correlation_ci"].append(mean_interval(counted, photo_weights(range(len(counted)))))
            row["pairs"].append(rho)
            row["n_non_finite"].append(sum(broken))
            row["n_constant"].append(sum(bool(np.isnan(r)) and not b for r, b in zip(rho, broken)))
    result: dict[str, Any] = {"layers": list(RANDOMISATION_ORDER), "methods": {}}
    for m, row in rows.items():
        last = row["correlation"][-1]
        reason = "undefined" if np.isnan(last) else "flat" if last > FLAT_THRESHOLD else None
        low, high = row["correlation_ci"][-1]
        settled = bool(low > FLAT_THRESHOLD or high < FLAT_THRESHOLD)
        result["methods"][m] = {
            **row,
            "flagged": reason is not None,
            "reason": reason,
            "settled": settled,
        }
    return result


def _maps(
    net: DigitResNet18,
    items: Sequence[tuple[np.ndarray, int]],
    method: str,
    params: dict[str, Any],
    batch_size: int,
) -> list[np.ndarray]:
    """``method``'s map of each pair (channels reduced), ``batch_size`` pairs per call."""
    maps = []
    for start in range(0, len(items), batch_size):
        images, digits = zip(*items[start : start + batch_size])
        done = explain_batch(net, images, digits, method, **params)
        maps += [reduce_channels(e.attribution, e.reduction) for e in done]
    return maps
