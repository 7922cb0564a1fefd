"""Running the classifier: which device, whether bf16 autocast pays off, probabilities in
batches, and the scores (loss, balanced accuracy per digit) of those probabilities."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from svhn_xai.data.tensors import TensorSet
from svhn_xai.errors import ParameterError
from svhn_xai.model.classification import presence_scores


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA (this rank's GPU under torchrun) when present, else CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ParameterError("--device cuda asked for, but no CUDA GPU is visible")
        if name == "cuda":
            name = f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"
    return torch.device(name)


def use_amp(mode: str, device: torch.device) -> bool:
    """Whether bf16 autocast pays off: always on CUDA; on a CPU only with native bf16 units.

    Without them (AVX2-only CPUs) oneDNN emulates bf16 and a ResNet-18 step runs about 10x
    slower than in float32 (measured: 7 vs 85 images/s at 64x64 on a 2-core AVX2 EPYC).
    """
    if mode not in ("auto", "on", "off"):
        raise ParameterError(f"amp must be auto, on or off, got {mode!r}")
    if mode != "auto":
        return mode == "on"
    if device.type == "cuda":
        return True
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def autocast(device: torch.device, enabled: bool) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def to_input(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    # channels_last is faster for ResNet convolutions on CUDA and on oneDNN CPUs alike
    x = images.to(device, non_blocking=True).float().div_(255)
    return x.contiguous(memory_format=torch.channels_last)


@torch.inference_mode()
def predict(
    model: torch.nn.Module, images: torch.Tensor, device: torch.device, amp: bool = False
) -> np.ndarray:
    """Probabilities (N, heads) for uint8 images (N, 3, S, S), in batches of 512."""
    model.eval()
    out = []
    for start in range(0, len(images), 512):
        with autocast(device, amp):
            logits = model(to_input(images[start : start + 512], device))
        out.append(torch.sigmoid(logits.float()).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, len(model.digits)), dtype=np.float32)


def score_tensors(
    model: torch.nn.Module,
    tensors: TensorSet,
    digits: tuple[int, ...],
    device: torch.device,
    amp: bool = False,
    pos_weight: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Loss, balanced accuracy and per-digit scores of ``model`` on ``tensors``."""
    probs = predict(model, tensors.images, device, amp)
    return prediction_scores(probs, tensors.presence.numpy(), digits, pos_weight)


def prediction_scores(
    probs: np.ndarray,
    presence: np.ndarray,
    digits: tuple[int, ...],
    pos_weight: torch.Tensor | None = None,
) -> dict[str, Any]:
    """:func:`score_tensors`'s scores of probabilities (N, len(digits)) against the multi-hot truth
    (N, 10): the loss is the training loss, binary cross-entropy on the clamped logits."""
    scores = presence_scores(probs, presence, digits)
    y = torch.from_numpy(presence)[:, list(digits)]
    p = torch.from_numpy(probs).clamp(1e-6, 1 - 1e-6)
    weight = pos_weight.cpu() if pos_weight is not None else None
    scores["loss"] = float(F.binary_cross_entropy_with_logits(torch.logit(p), y, pos_weight=weight))
    scores["n_images"] = len(probs)
    return scores
