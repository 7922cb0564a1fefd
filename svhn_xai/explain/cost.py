"""How long an explanation will take, before running it.

A method's time is not only its model passes: LIME and KernelShap fit a surrogate model on their
samples, and Captum builds every perturbed input in Python. So each method whose cost grows with
a parameter is timed at two small budgets (its ``Cost.budgets``) on a random image, and its time
is fitted as ``a + b x passes`` for the user's other settings; what is not a pass lands in ``a``
and ``b``. The calibration runs once per (model, method, other settings) and takes well under a
second for the defaults.
"""

from __future__ import annotations

import json
import time
import weakref
from typing import Any

import torch

from svhn_xai.explain.base import explain
from svhn_xai.explain.hooks import model_lock
from svhn_xai.explain.params import validate
from svhn_xai.explain.registry import get_spec

_PER_IMAGE: weakref.WeakKeyDictionary[torch.nn.Module, float] = weakref.WeakKeyDictionary()
_FITS: weakref.WeakKeyDictionary[torch.nn.Module, dict[str, tuple[float, float]]] = (
    weakref.WeakKeyDictionary()
)


def estimated_passes(method: str, params: dict[str, Any], size: int = 64) -> int:
    """Images the method pushes through the model with these ``params`` (defaults filled):
    its declared :class:`~svhn_xai.explain.registry.Cost`, times smoothing's copies, plus the
    pass that reads the probability where the method's own first batch does not hold the
    image unchanged (noisy copies need a lone clean pass)."""
    spec = get_spec(method)
    p = validate(spec.params, params, method)
    smoothing = p["smooth_samples"] if p.get("smooth", "none") != "none" else 1
    clean = 1 if spec.cost.clean_first or smoothing > 1 else 0
    return int(spec.cost.passes(p, size)) * smoothing + clean


def seconds_per_image(model: torch.nn.Module) -> float:
    """Measured cost of one image in a batched no-grad forward pass (once per model)."""
    if model not in _PER_IMAGE:
        x = torch.rand(32, 3, model.input_size, model.input_size)
        with model_lock(model), torch.no_grad():
            model(x[:2])
            tic = time.perf_counter()
            model(x)
            _PER_IMAGE[model] = (time.perf_counter() - tic) / len(x)
    return _PER_IMAGE[model]


def fit_line(points: list[tuple[int, float]]) -> tuple[float, float]:
    """``(a, b)`` of ``seconds = a + b x passes`` through two (passes, seconds) points; ``a`` is
    at least 0, and with equal pass counts (or a noisy negative slope) the time is all ``b``."""
    (p1, t1), (p2, t2) = sorted(points)
    if p2 > p1 and t2 > t1:
        b = (t2 - t1) / (p2 - p1)
        return max(t1 - b * p1, 0.0), b
    return 0.0, max(t1, t2) / max(p2, 1)


def calibrated(model: torch.nn.Module, method: str, params: dict[str, Any]) -> tuple[float, float]:
    """``(a, b)`` for ``method`` with the user's ``params``, timed at the two small budgets its
    cost declares (once per model, method and the settings that are not budgets). The user's
    settings of the budgets' names are overridden; the others (batch sizes, superpixels of a
    surrogate) stay, since they change what a pass or a sample costs."""
    budgets = get_spec(method).cost.budgets
    others = {k: v for k, v in params.items() if k not in budgets[0] and k not in budgets[1]}
    key = f"{method}:{json.dumps(others, sort_keys=True, default=str)}"
    fits = _FITS.setdefault(model, {})
    if key not in fits:
        generator = torch.Generator().manual_seed(0)
        size = model.input_size
        image = (torch.rand(size, size, 3, generator=generator) * 255).to(torch.uint8).numpy()
        digit = model.digits[0]
        points = []
        for budget in budgets:
            tic = time.perf_counter()
            e = explain(model, image, digit, method, **{**others, **budget})
            points.append((e.model_passes, time.perf_counter() - tic))
        fits[key] = fit_line(points)
    return fits[key]


def estimated_seconds(model: torch.nn.Module, method: str, params: dict[str, Any]) -> float:
    """Rough wall time of ``explain(model, image, digit, method, **params)``.

    Methods with a budget: calibrated (:func:`calibrated`) ``a + b x passes``. The others take
    one or a few passes: passes x per-image cost, x3 where a backward pass is needed.
    """
    cost = get_spec(method).cost
    passes = estimated_passes(method, params, model.input_size)
    if cost.budgets is not None:
        a, b = calibrated(model, method, params)
        return a + b * passes
    return passes * seconds_per_image(model) * (1.0 if cost.gradient_free else 3.0)
