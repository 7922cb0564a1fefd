"""The loss and accuracy curves of a run, drawn beside its checkpoint."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def save_curves(history: list[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Plot train/test loss and balanced accuracy against epochs; write ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["train"]["loss"] for h in history], "o-", label="train")
    ax_loss.plot(epochs, [h["test"]["loss"] for h in history], "o-", label="test")
    ax_loss.set(xlabel="epoch", ylabel="BCE loss", title="Loss")
    ax_acc.plot(epochs, [h["train"]["balanced_accuracy"] for h in history], "o-", label="train")
    ax_acc.plot(epochs, [h["test"]["balanced_accuracy"] for h in history], "o-", label="test")
    if all("real" in h for h in history) and history:
        ax_acc.plot(
            epochs, [h["real"]["balanced_accuracy"] for h in history], "o-", label="real sample"
        )
    ax_acc.set(xlabel="epoch", ylabel="balanced accuracy", title="Accuracy (mean over digits)")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curves_path(out: str | os.PathLike[str]) -> Path:
    """Where the loss/accuracy plot of checkpoint ``out`` goes."""
    return Path(out).with_suffix(".curves.png")
