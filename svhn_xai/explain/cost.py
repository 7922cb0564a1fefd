"""How long an explanation will take, before running it.

Every estimate rests on timings taken on this machine, never on a constant:

- a method whose cost grows with a budget (its ``Cost.budgets``: samples, steps, windows) is
  timed at two small budgets on a random image and its time fitted as ``a + b x passes``: what
  is not a model pass (LIME's surrogate fit, Captum building perturbed inputs in Python) lands
  in ``a`` and ``b``;
- any other method is timed once at the user's settings with smoothing off when that is cheap
  (at most :data:`TIMED_PASSES` passes); a larger one (Score-CAM, RISE) costs its passes times
  the measured time of one image in a batched pass (with its backward pass where it takes
  gradients);
- smoothing's noisy copies add their passes at that batched time;
- every explanation the app computes is :func:`record`-ed: the same settings are then
  estimated by what they took, and a budgeted method's line is refitted through the new point.

Each first timing is preceded by an untimed warm-up call, so one-off costs (a lazy import, the
first allocation) do not land in the estimate, and is the faster of two, so a stray
interruption does not either. Calibration runs once per model and settings
and takes well under a second at the defaults.
"""

from __future__ import annotations

import json
import time
import weakref
from statistics import median
from typing import Any

import numpy as np
import torch

from svhn_xai.explain.base import Explanation, as_input, explain
from svhn_xai.explain.hooks import model_lock
from svhn_xai.explain.params import validate
from svhn_xai.explain.registry import get_spec
from svhn_xai.explain.smoothing import SMOOTH_PARAMS
from svhn_xai.explain.superpixels import feature_mask

TIMED_PASSES = 64  # a method without budgets is timed itself when it takes at most this many

_SMOOTHING = frozenset(p.name for p in SMOOTH_PARAMS)  # copies of passes, not their kind
_PER_IMAGE: weakref.WeakKeyDictionary[torch.nn.Module, dict[bool, float]] = (
    weakref.WeakKeyDictionary()
)
# (passes, seconds) points by model and settings key: timed by calibration or recorded
_POINTS: weakref.WeakKeyDictionary[torch.nn.Module, dict[str, list[tuple[int, float]]]] = (
    weakref.WeakKeyDictionary()
)


def estimated_passes(
    method: str, params: dict[str, Any], size: int = 64, image: np.ndarray | None = None
) -> int:
    """Images the method pushes through the model with these ``params`` (defaults filled):
    its declared :class:`~svhn_xai.explain.registry.Cost`, times smoothing's copies, plus the
    pass that reads the probability where the method's own first batch does not hold the
    image unchanged (noisy copies need a lone clean pass); all of it ``draws`` times for a
    map averaged over draws (each draw's first batch holds the image again). With the model
    input ``image`` (uint8 (S, S, 3)), a method on SLIC segments counts that image's."""
    spec = get_spec(method)
    p = validate(spec.params, params, method)
    smoothing = p["smooth_samples"] if p.get("smooth", "none") != "none" else 1
    draws = p.get("draws", 1)
    clean = draws if spec.cost.clean_first else int(smoothing > 1)
    features = None  # the grid's cells, as the Cost assumes
    if image is not None and spec.cost.per_feature_count and p.get("segments") == "slic":
        features = int(feature_mask(as_input(image, size)[0], p).max()) + 1
    # each draw its own seed: an estimator that plays each distinct sample once plays as many
    # as that seed's draw holds
    per_draw = [
        spec.cost.passes(q, size) if features is None else spec.cost.per_feature_count(q, features)
        for q in ({**p, "seed": p["seed"] + r} if "seed" in p else p for r in range(draws))
    ]
    return int(sum(per_draw)) * smoothing + clean


def seconds_per_image(model: torch.nn.Module, backward: bool = False) -> float:
    """Measured seconds of one image in a batch of 32 through the model: a no-grad forward
    pass, or with ``backward`` a forward pass and the gradient of one head's logit with
    respect to the input, as the gradient methods take it (once per model; the faster of two
    timings, so a stray interruption is not kept)."""
    times = _PER_IMAGE.setdefault(model, {})
    if backward not in times:
        x = torch.rand(32, 3, model.input_size, model.input_size, requires_grad=backward)
        with model_lock(model), torch.set_grad_enabled(backward):
            runs = []
            for _ in range(3):  # the first warms up
                tic = time.perf_counter()
                out = model(x)
                if backward:
                    torch.autograd.grad(out[:, 0].sum(), x)
                runs.append(time.perf_counter() - tic)
        times[backward] = min(runs[1:]) / len(x)
    return times[backward]


def fit_line(points: list[tuple[int, float]]) -> tuple[float, float]:
    """``(a, b)`` of ``seconds = a + b x passes``, least squares through (passes, seconds)
    points; ``a`` is at least 0, and without a spread of pass counts (or with a noisy negative
    slope) the time is all ``b``."""
    passes = np.array([p for p, _ in points], float)
    seconds = np.array([s for _, s in points], float)
    if np.ptp(passes) > 0:
        b, a = np.polyfit(passes, seconds, 1)
        if b > 0:
            if a >= 0:
                return float(a), float(b)
            return 0.0, float((passes @ seconds) / (passes @ passes))  # through the origin
    return 0.0, float(seconds.max() / max(passes.max(), 1))


def _key(method: str, params: dict[str, Any]) -> str:
    return f"{method}:{json.dumps(params, sort_keys=True, default=str)}"


def _timed(model: torch.nn.Module, method: str, params: dict[str, Any]) -> tuple[int, float]:
    """``(passes, seconds)`` of one explanation of a random image with ``params``."""
    generator = torch.Generator().manual_seed(0)
    size = model.input_size
    image = (torch.rand(size, size, 3, generator=generator) * 255).to(torch.uint8).numpy()
    tic = time.perf_counter()
    e = explain(model, image, model.digits[0], method, **params)
    return e.model_passes, time.perf_counter() - tic


def _points(model: torch.nn.Module, key: str) -> list[tuple[int, float]]:
    return _POINTS.setdefault(model, {}).setdefault(key, [])


def _budget_key(method: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The key of a budgeted method's line: its settings but the budgets and smoothing, whose
    passes the line is over; batch sizes and a surrogate's superpixels stay, since they change
    what a pass costs."""
    budgets = get_spec(method).cost.budgets
    over = {*budgets[0], *budgets[1], *_SMOOTHING}
    others = {k: v for k, v in params.items() if k not in over}
    return "line:" + _key(method, others), others


def calibrated(model: torch.nn.Module, method: str, params: dict[str, Any]) -> tuple[float, float]:
    """``(a, b)`` for a budgeted ``method`` with the user's ``params``: timed at the two small
    budgets its cost declares (once per model and settings that are not budgets, after a
    warm-up), refitted with every explanation :func:`record`-ed since."""
    key, others = _budget_key(method, params)
    points = _points(model, key)
    if not points:
        small, large = get_spec(method).cost.budgets
        _timed(model, method, {**others, **small})  # warm-up: one-off costs are not passes
        for budget in (small, large):  # the faster of two timings: small runs are noisy
            runs = [_timed(model, method, {**others, **budget}) for _ in range(2)]
            points.append(min(runs, key=lambda r: r[1]))
    return fit_line(points)


def _unsmoothed(model: torch.nn.Module, method: str, plain: dict[str, Any], passes: int) -> float:
    """Seconds of a method without budgets at settings ``plain`` (smoothing's left out), which
    take ``passes``: timed (once per settings, after a warm-up) when that is at most
    :data:`TIMED_PASSES`, else the passes times the batched time of one image (with its
    backward pass where the method takes gradients)."""
    spec = get_spec(method)
    if passes > TIMED_PASSES:
        return passes * seconds_per_image(model, backward=not spec.cost.gradient_free)
    points = _points(model, "timed:" + _key(method, plain))
    if not points:
        _timed(model, method, plain)  # warm-up
        points.append(min((_timed(model, method, plain) for _ in range(2)), key=lambda r: r[1]))
    return median(s for _, s in points)


def estimated_seconds(
    model: torch.nn.Module, method: str, params: dict[str, Any], image: np.ndarray | None = None
) -> float:
    """Wall time of ``explain(model, image, digit, method, **params)`` on this machine, in
    seconds: what these very settings took when recorded (:func:`record`), else the budgeted
    line (:func:`calibrated`) or the unsmoothed timing plus smoothing's copies. ``image``
    (the model input, uint8 (S, S, 3)): the one to be explained, whose SLIC segments a method
    on them plays (without it, as many as the grid has cells)."""
    spec = get_spec(method)
    seen = _points(model, "seen:" + _key(method, params))
    if seen:
        return median(s for _, s in seen)
    passes = estimated_passes(method, params, model.input_size, image)
    if spec.cost.budgets is not None:
        a, b = calibrated(model, method, params)
        return a + b * passes
    plain = {k: v for k, v in params.items() if k not in _SMOOTHING}
    plain_passes = estimated_passes(method, plain, model.input_size)
    per_copy = seconds_per_image(model, backward=not spec.cost.gradient_free)
    return _unsmoothed(model, method, plain, plain_passes) + (passes - plain_passes) * per_copy


def record(model: torch.nn.Module, method: str, params: dict[str, Any], e: Explanation) -> None:
    """Keep what an explanation with ``params`` took (its ``seconds`` and ``model_passes``), so
    the next estimate of these settings is that time, and a budgeted method's line runs
    through it (the app records every explanation it computes)."""
    _points(model, "seen:" + _key(method, params)).append((e.model_passes, e.seconds))
    if get_spec(method).cost.budgets is not None:
        key, _ = _budget_key(method, params)
        if _points(model, key):  # a line exists: refit it with this point
            _points(model, key).append((e.model_passes, e.seconds))
