"""How long an explanation will take, before running it: model passes x cost of a pass."""

from __future__ import annotations

import math
import time
import weakref
from typing import Any

import torch

from svhn_xai.explain.base import get_spec, model_lock
from svhn_xai.explain.cam import STAGE_CHANNELS
from svhn_xai.explain.params import validate

GRADIENT_FREE = ("score_cam", "eigen_cam")  # CAMs that only run the model forward
_PER_IMAGE: weakref.WeakKeyDictionary[torch.nn.Module, float] = weakref.WeakKeyDictionary()


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
    return int(formulas.get(method, lambda: 1)()) * smoothing


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


def estimated_seconds(model: torch.nn.Module, method: str, params: dict[str, Any]) -> float:
    """Rough wall time: passes x per-image cost, x3 where a backward pass is needed."""
    gradient_free = get_spec(method).family == "perturbation" or method in GRADIENT_FREE
    backward = 1.0 if gradient_free else 3.0
    passes = estimated_passes(method, params, model.input_size)
    return passes * seconds_per_image(model) * backward
