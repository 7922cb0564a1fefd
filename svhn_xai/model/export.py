"""Ship a checkpoint: half-precision weights, no optimizer state, a model card whose metrics
are measured on the exported weights themselves (held-out synthetic images and real SVHN
photographs), and the training curves beside it (``NAME.curves.png``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from svhn_xai.data.svhn import SVHNFolder
from svhn_xai.model.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from svhn_xai.model.config import TrainConfig
from svhn_xai.model.curves import curves_path, save_curves
from svhn_xai.model.predict import score_tensors
from svhn_xai.model.run_data import load_tensors
from svhn_xai.provenance import git_commit


def export(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    real_folder: str | os.PathLike[str] | None = None,
    real_indices: str | None = None,
    synthetic_size: int = 2000,
    half: bool = True,
    command: str | None = None,
) -> dict[str, Any]:
    """Write ``out`` from ``source``; returns the new card's metrics.

    Args:
        real_folder: a real SVHN split folder to score the model on (e.g. the shared sample).
        real_indices: ``"a:b"``, the part of ``real_folder`` the model was not trained on.
        synthetic_size: images of the synthetic test split to score on (a shortcut model's
            cue is measured on as many, see :func:`svhn_xai.evaluation.shortcut.cue_accuracy`).
    """
    ckpt = load_checkpoint(source)
    state = ckpt["model_state"]
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    exported = {**ckpt, "model_state": state}
    model = model_from_checkpoint(exported, source)  # scores come from the shipped weights
    cfg = TrainConfig(input_size=model.input_size, margin=ckpt["config"].get("margin", 0.15))
    device = torch.device("cpu")
    synthetic = load_tensors(cfg, "synthetic", "test", None, synthetic_size, 0.0)
    metrics: dict[str, Any] = {
        "history": ckpt["metrics"].get("history", []),
        "test": score_tensors(model, synthetic, model.digits, device),
    }
    if real_folder is not None:
        folder = Path(real_folder)
        SVHNFolder(folder)
        real = load_tensors(cfg, "svhn", folder.name, real_indices, None, 0.0, str(folder.parent))
        metrics["real"] = score_tensors(model, real, model.digits, device)
        metrics["real"]["folder"] = str(folder)
        metrics["real"]["indices"] = real_indices
    provenance = dict(ckpt.get("provenance") or {})
    if "cue" in provenance:  # a shortcut-lab model: how much it leans on its planted cue
        from svhn_xai.evaluation.shortcut import checkpoint_cue, cue_accuracy, lab_images

        cue = checkpoint_cue(ckpt, source)
        metrics["shortcut"] = cue_accuracy(model, cue, lab_images(cue, synthetic_size))
    provenance["export"] = {
        "source": str(source),
        "command": command,
        "commit": git_commit(),
        "half_precision": half,
        "synthetic_test_images": synthetic_size,
    }
    kept = {
        k: v for k, v in ckpt.items() if not k.startswith("format") and not k.endswith("_state")
    }
    save_checkpoint(
        out, {**kept, "model_state": state, "metrics": metrics, "provenance": provenance}
    )
    if metrics["history"]:  # the card's training curves, drawn beside it as `train` draws them
        save_curves(metrics["history"], curves_path(out))
    return metrics


def slim(source: str | os.PathLike[str], out: str | os.PathLike[str]) -> None:
    """Write ``out``: ``source``'s weights in half precision, without optimizer or scheduler
    state (about a quarter of the size), for listing and loading while a run goes on.

    Unlike :func:`export` it measures nothing: the card keeps the metrics measured during
    training on the float32 weights, and says so under ``provenance.export``.
    """
    ckpt = load_checkpoint(source)
    state = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["model_state"].items()}
    kept = {
        k: v for k, v in ckpt.items() if not k.startswith("format") and not k.endswith("_state")
    }
    provenance = dict(ckpt.get("provenance") or {})
    provenance["export"] = {
        "source": Path(source).name,
        "half_precision": True,
        "metrics": "measured during training, on the float32 weights",
    }
    save_checkpoint(out, {**kept, "model_state": state, "provenance": provenance})
