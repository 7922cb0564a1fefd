"""How long an explanation will take, before running it.

A method's time is not only its model passes: LIME and KernelShap fit a surrogate model on their
samples, and Captum builds every perturbed input in Python. So each method whose cost grows with
a parameter is timed at two small budgets (:data:`CALIBRATION`) on a random image, and its time
is fitted as ``a + b x passes`` for the user's other settings; what is not a pass lands in ``a``
and ``b``. The calibration runs once per (model, method, other settings) and takes well under a
second for the defaults.
"""

from __future__ import annotations

import json
import math
import time
import weakref
from typing import Any

import torch

from svhn_xai.explain.base import explain, get_spec, model_lock
from svhn_xai.explain.cam import STAGE_CHANNELS
from svhn_xai.explain.params import validate

GRADIENT_FREE = ("score_cam", "eigen_cam")  # CAMs that only run the model forward
# methods that add the image itself to their first pass, for its probability (base.CleanFirst)
CLEAN_ROW = ("integrated_gradients", "gradient_shap", "lime", "rise")
_PER_IMAGE: weakref.WeakKeyDictionary[torch.nn.Module, float] = weakref.WeakKeyDictionary()
_FITS: weakref.WeakKeyDictionary[torch.nn.Module, dict[str, tuple[float, float]]] = (
    weakref.WeakKeyDictionary()
)

# two small budgets per method whose cost grows with a parameter; they override the user's
# settings of the same name, the user's other settings (batch sizes, superpixels of a surrogate)
# stay, since they change what a pass or a sample costs
CALIBRATION: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "integrated_gradients": ({"n_steps": 4}, {"n_steps": 16}),
    "deep_lift_shap": ({"n_baselines": 2}, {"n_baselines": 8}),
    "gradient_shap": ({"n_samples": 4}, {"n_samples": 16}),
    "feature_ablation": ({"superpixel": 16}, {"superpixel": 8}),
    "occlusion": ({"window": 16, "stride": 16}, {"window": 16, "stride": 8}),
    "feature_permutation": ({"batch_size": 2, "superpixel": 8}, {"batch_size": 4, "superpixel": 8}),
    "shapley_value_sampling": (
        {"n_samples": 1, "superpixel": 8},
        {"n_samples": 1, "superpixel": 4},
    ),
    "lime": ({"n_samples": 32}, {"n_samples": 128}),
    "kernel_shap": ({"n_samples": 32}, {"n_samples": 128}),
}


def estimated_passes(method: str, params: dict[str, Any], size: int = 64) -> int:
    """Images the method pushes through the model with these ``params`` (defaults filled)."""
    spec = get_spec(method)
    p = validate(spec.params, params, method)
    cells = math.ceil(size / p["superpixel"]) ** 2 if "superpixel" in p else 0
    formulas = {
        "integrated_gradients": lambda: p["n_steps"],
        "deep_lift": lambda: 2,
        "deep_lift_shap": lambda: 2 * p["n_baselines"],
        "gradient_shap": lambda: p["n_samples"],
        "guided_gradcam": lambda: 2,
        "feature_ablation": lambda: cells + 1,
        "occlusion": lambda: ((size - min(p["window"], size)) // p["stride"] + 1) ** 2 + 1,
        "feature_permutation": lambda: cells * (p["batch_size"] - 1) + 1,
        "shapley_value_sampling": lambda: p["n_samples"] * cells + 1,
        "lime": lambda: p["n_samples"],
        "kernel_shap": lambda: p["n_samples"],
        "score_cam": lambda: 1 + STAGE_CHANNELS[p["layer"]],
        "rise": lambda: p["n_masks"],
    }
    smoothing = p["smooth_samples"] if p.get("smooth", "none") != "none" else 1
    # explain() reads the probability from a pass that holds the image unchanged; IG,
    # GradientShap, LIME and RISE add the image to their first batch; noisy copies need a lone pass
    clean = 1 if method in CLEAN_ROW or smoothing > 1 else 0
    return int(formulas.get(method, lambda: 1)()) * smoothing + clean


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
    """``(a, b)`` for ``method`` with the user's ``params``, timed at the method's two small
    budgets (once per model, method and the settings that are not budgets)."""
    budgets = CALIBRATION[method]
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
    gradient_free = get_spec(method).family == "perturbation" or method in GRADIENT_FREE
    passes = estimated_passes(method, params, model.input_size)
    if method in CALIBRATION:
        a, b = calibrated(model, method, params)
        return a + b * passes
    return passes * seconds_per_image(model) * (1.0 if gradient_free else 3.0)
