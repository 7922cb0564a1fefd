"""Faithfulness curves: does removing what a map calls relevant change the model's mind?

- Deletion / insertion (Petsiuk et al. 2018): the hottest pixels are replaced by an imputation
  (deletion, lower area is better) or restored into a fully imputed image (insertion, higher is
  better). Each imputation favours the methods whose own reference it is (black for the
  perturbation methods, blur for GradientShap and DeepLiftShap), so two are reported.
- ROAD (Rong et al. 2022): removed pixels are filled by noisy linear imputation, each the
  weighted mean of its 8 neighbours (a sparse linear system) plus N(0, 0.01^2) noise, so the
  removal's shape leaks little into the image; MoRF (most relevant first, lower is better) and
  LeRF (least relevant first, higher is better). One sparse solve per map and fraction.

Images are float (3, H, W) in [0, 1]; maps (H, W); fractions of the image's pixels. Ties in a
map (flat regions) are ordered at random from a fixed seed, never by pixel position.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from scipy.sparse import coo_matrix
from scipy.sparse.linalg import spsolve

from svhn_xai.explain.copies import folded
from svhn_xai.explain.hooks import model_lock
from svhn_xai.explain.references import gaussian_blur
from svhn_xai.model.network import DigitResNet18
from svhn_xai.scoring.registry import family

IMPUTATIONS = ("black", "blur")
# evaluate --faithfulness: none = no curves, basic = black and blur only
FAITHFULNESS = ("none", "basic", "road", "all")
ROAD_NOISE = 0.01  # standard deviation of ROAD's imputation noise, in [0, 1] intensity
ROAD_FRACTIONS = tuple(np.round(np.arange(0.1, 1.0, 0.1), 2))  # ROAD's 10 % ... 90 %

# the curves' summary scores, declared with their labels in svhn_xai.scoring.registry
DIRECTIONS: dict[str, str] = {m.key: m.direction for m in family("faithfulness")}

# ROAD's neighbour weights: 1/6 for the 4 direct neighbours, 1/12 for the 4 diagonal ones
_NEIGHBOURS = (
    ((0, 1), 1 / 6),
    ((0, -1), 1 / 6),
    ((1, 0), 1 / 6),
    ((-1, 0), 1 / 6),
    ((1, 1), 1 / 12),
    ((1, -1), 1 / 12),
    ((-1, 1), 1 / 12),
    ((-1, -1), 1 / 12),
)


def relevance_order(heat: np.ndarray, seed: int = 0) -> np.ndarray:
    """Flat pixel indices from the most to the least relevant; ties in random order."""
    values = np.asarray(heat, dtype=np.float64).ravel()
    jitter = np.random.default_rng(seed).random(values.size)
    return np.lexsort((jitter, -values))


def _imputed(x: torch.Tensor, kind: str) -> torch.Tensor:
    if kind == "black":
        return torch.zeros_like(x)
    if kind == "blur":
        return gaussian_blur(x, x.shape[-1] / 8)
    raise ValueError(f"imputation must be one of {IMPUTATIONS}, got {kind!r}")


def _probabilities(
    model: DigitResNet18, batch: torch.Tensor, digits: int | np.ndarray, chunk: int = 512
) -> np.ndarray:
    """P(digit) for every image of ``batch`` (N, 3, H, W), ``digits`` the digit of all or (N,)
    of each, in passes of at most ``chunk``."""
    digits = np.broadcast_to(np.asarray(digits), (len(batch),))
    heads = torch.tensor([model.head(int(d)) for d in np.unique(digits)])
    columns = torch.from_numpy(np.searchsorted(np.unique(digits), digits))
    # the model's folded copy: the same function, ~1.4x faster forward (svhn_xai.explain.copies),
    # under the lock that keeps an explanation's hooks on it out of these passes
    device = next(model.parameters()).device
    heads = heads.to(device)
    with model_lock(model), torch.no_grad():
        net = folded(model)
        parts = torch.split(batch, chunk)
        logits = torch.cat([net(part.to(device))[:, heads].cpu() for part in parts])
    return torch.sigmoid(logits.gather(1, columns[:, None])[:, 0]).double().numpy()


def _deletion_insertion_images(
    x: torch.Tensor, heat: np.ndarray, imputation: str, steps: int, seed: int
) -> tuple[np.ndarray, torch.Tensor, torch.Tensor]:
    """The fractions and the (steps + 1, 3, H, W) deleted and inserted images of one curve."""
    order = torch.from_numpy(relevance_order(heat, seed).copy())
    n = heat.size
    fractions = np.linspace(0, 1, steps + 1)
    filler = _imputed(x, imputation)
    removed = torch.zeros(steps + 1, n)
    for i, f in enumerate(fractions):
        removed[i, order[: int(round(f * n))]] = 1
    removed = removed.view(-1, 1, *heat.shape).to(x.dtype)
    return fractions, x * (1 - removed) + filler * removed, filler * (1 - removed) + x * removed


def _curve(fractions: np.ndarray, p_del: np.ndarray, p_ins: np.ndarray) -> dict[str, Any]:
    return {
        "fractions": fractions.tolist(),
        "deletion": p_del.tolist(),
        "insertion": p_ins.tolist(),
        "auc_deletion": float(np.trapezoid(p_del, fractions)),
        "auc_insertion": float(np.trapezoid(p_ins, fractions)),
    }


def deletion_insertion(
    model: DigitResNet18,
    x: torch.Tensor,
    heat: np.ndarray,
    digit: int,
    imputation: str = "black",
    steps: int = 16,
    seed: int = 0,
) -> dict[str, Any]:
    """Probability of ``digit`` as the hottest pixels of ``heat`` are replaced by
    ``imputation`` (deletion) or restored into the imputed image (insertion), at ``steps + 1``
    equal fractions from 0 to 1; one batched pass per curve. ``x`` is (1, 3, H, W).

    Returns ``fractions``, ``deletion``, ``insertion`` and their trapezoid areas
    ``auc_deletion`` (lower is better) and ``auc_insertion`` (higher is better).
    """
    fractions, deleted, inserted = _deletion_insertion_images(x, heat, imputation, steps, seed)
    p_del = _probabilities(model, deleted, digit)
    p_ins = _probabilities(model, inserted, digit)
    return _curve(fractions, p_del, p_ins)


def noisy_linear_impute(
    image: np.ndarray, removed: np.ndarray, noise: float = ROAD_NOISE, seed: int = 0
) -> np.ndarray:
    """ROAD's imputation: every removed pixel of ``image`` (3, H, W) becomes the weighted mean
    of its in-image neighbours (known or themselves imputed: one sparse linear system for all),
    plus Gaussian noise of standard deviation ``noise``. ``removed`` is (H, W) bool.
    """
    channels, height, width = image.shape
    removed = np.asarray(removed, dtype=bool)
    unknown = np.flatnonzero(removed)
    out = image.reshape(channels, -1).astype(np.float64).copy()
    if len(unknown) == 0:
        return out.reshape(image.shape)
    index = np.full(height * width, -1)
    index[unknown] = np.arange(len(unknown))
    rows, cols = np.divmod(unknown, width)
    a_rows, a_cols, a_vals = [], [], []
    diagonal = np.zeros(len(unknown))
    rhs = np.zeros((len(unknown), channels))
    for (dr, dc), weight in _NEIGHBOURS:
        r, c = rows + dr, cols + dc
        valid = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        eq = np.flatnonzero(valid)
        neighbour = r[valid] * width + c[valid]
        diagonal[eq] += weight
        known = index[neighbour] < 0
        rhs[eq[known]] += weight * out[:, neighbour[known]].T
        a_rows.append(eq[~known])
        a_cols.append(index[neighbour[~known]])
        a_vals.append(np.full((~known).sum(), -weight))
    n = len(unknown)
    a_rows.append(np.arange(n))
    a_cols.append(np.arange(n))
    a_vals.append(diagonal)
    system = coo_matrix(
        (np.concatenate(a_vals), (np.concatenate(a_rows), np.concatenate(a_cols))), shape=(n, n)
    ).tocsc()
    solved = np.asarray(spsolve(system, rhs)).reshape(n, channels)
    solved += np.random.default_rng(seed).normal(0.0, noise, solved.shape)
    out[:, unknown] = solved.T
    return out.reshape(image.shape)


def _road_images(
    x: torch.Tensor, heat: np.ndarray, fractions: tuple[float, ...], seed: int
) -> dict[str, torch.Tensor]:
    """ROAD's imputed images, ``{"morf": (F, 3, H, W), "lerf": (F, 3, H, W)}``."""
    image = x[0].double().numpy()
    order = relevance_order(heat, seed)
    n = heat.size
    batches: dict[str, list[np.ndarray]] = {"morf": [], "lerf": []}
    for f in fractions:
        count = int(round(f * n))
        for name, picked in (("morf", order[:count]), ("lerf", order[::-1][:count])):
            removed = np.zeros(n, dtype=bool)
            removed[picked] = True
            batches[name].append(noisy_linear_impute(image, removed.reshape(heat.shape), seed=seed))
    return {
        name: torch.from_numpy(np.clip(np.stack(images), 0, 1)).to(x.dtype)
        for name, images in batches.items()
    }


def _road_result(fractions: tuple[float, ...], p: dict[str, np.ndarray]) -> dict[str, Any]:
    out: dict[str, Any] = {"road_fractions": list(fractions)}
    for name in ("morf", "lerf"):
        out[f"road_{name}_curve"] = p[name].tolist()
        out[f"road_{name}"] = float(p[name].mean())
    return out


def road(
    model: DigitResNet18,
    x: torch.Tensor,
    heat: np.ndarray,
    digit: int,
    fractions: tuple[float, ...] = ROAD_FRACTIONS,
    seed: int = 0,
) -> dict[str, Any]:
    """ROAD curves: probability of ``digit`` with the most (MoRF) or least (LeRF) relevant
    ``fractions`` of pixels imputed by :func:`noisy_linear_impute`. ``x`` is (1, 3, H, W).

    Returns ``fractions``, ``morf``, ``lerf`` and their means ``road_morf`` (lower is better)
    and ``road_lerf`` (higher is better).
    """
    images = _road_images(x, heat, fractions, seed)
    return _road_result(fractions, {k: _probabilities(model, v, digit) for k, v in images.items()})


def faithfulness(
    model: DigitResNet18,
    x: torch.Tensor,
    heat: np.ndarray,
    digit: int,
    road_too: bool = False,
    seed: int = 0,
    steps: int = 16,
) -> dict[str, Any]:
    """Deletion and insertion under every imputation (``auc_deletion_black`` …) in ``steps``
    slices, and ROAD's ``road_morf`` / ``road_lerf`` when ``road_too``; curves under
    ``curves``."""
    return faithfulness_many(model, x, [heat], digit, road_too, seed, steps)[0]


def faithfulness_many(
    model: DigitResNet18,
    x: torch.Tensor,
    heats: Sequence[np.ndarray],
    digit: int,
    road_too: bool = False,
    seed: int = 0,
    steps: int = 16,
) -> list[dict[str, Any]]:
    """:func:`faithfulness` of several maps of one image (see :func:`faithfulness_groups`)."""
    return faithfulness_groups(model, [(x, heats, digit)], road_too, seed, steps)[0]


def faithfulness_groups(
    model: DigitResNet18,
    groups: Sequence[tuple[torch.Tensor, Sequence[np.ndarray], int]],
    road_too: bool = False,
    seed: int = 0,
    steps: int = 16,
) -> list[list[dict[str, Any]]]:
    """:func:`faithfulness` of several maps of several images, ``groups`` of (x (1, 3, H, W),
    maps, digit): every curve's images through the model in shared passes of up to 512 (a pass
    per curve of 17 images is mostly overhead on a CPU). One result per map, grouped as given,
    each equal to its own :func:`faithfulness` up to float rounding."""
    # every perturbed image of every map and curve in one list, sliced back afterwards
    parts: list[torch.Tensor] = []
    owners: list[int] = []  # the digit each part's images are scored for
    plans: list[list[dict[str, Any]]] = []
    for x, heats, digit in groups:
        group_plans = []
        for heat in heats:
            plan: dict[str, Any] = {}
            for kind in IMPUTATIONS:
                fractions, deleted, inserted = _deletion_insertion_images(
                    x, heat, kind, steps, seed
                )
                plan[kind] = (fractions, len(parts))
                parts += [deleted, inserted]
            if road_too:
                images = _road_images(x, heat, ROAD_FRACTIONS, seed)
                plan["road"] = len(parts)
                parts += [images["morf"], images["lerf"]]
            owners += [digit] * (len(parts) - len(owners))
            group_plans.append(plan)
        plans.append(group_plans)
    digits = np.repeat(owners, [len(t) for t in parts]) if parts else np.zeros(0, dtype=int)
    p = _probabilities(model, torch.cat(parts), digits) if parts else np.zeros(0)
    bounds = np.cumsum([0, *(len(t) for t in parts)])

    def probabilities(i: int) -> np.ndarray:
        return p[bounds[i] : bounds[i + 1]]

    return [[_result(plan, probabilities, road_too) for plan in group] for group in plans]


def _result(
    plan: dict[str, Any], probabilities: Callable[[int], np.ndarray], road_too: bool
) -> dict[str, Any]:
    """One map's scores and curves from the probabilities of its planned parts."""
    out: dict[str, Any] = {"curves": {}}
    for kind in IMPUTATIONS:
        fractions, i = plan[kind]
        r = _curve(fractions, probabilities(i), probabilities(i + 1))
        out[f"auc_deletion_{kind}"] = r["auc_deletion"]
        out[f"auc_insertion_{kind}"] = r["auc_insertion"]
        out["curves"][kind] = {k: r[k] for k in ("fractions", "deletion", "insertion")}
    if road_too:
        i = plan["road"]
        r = _road_result(ROAD_FRACTIONS, {"morf": probabilities(i), "lerf": probabilities(i + 1)})
        out["road_morf"], out["road_lerf"] = r["road_morf"], r["road_lerf"]
        out["curves"]["road"] = {
            k: r[k] for k in ("road_fractions", "road_morf_curve", "road_lerf_curve")
        }
    return out
