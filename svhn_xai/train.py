"""Training: ``train_one_epoch``, ``evaluate``, ``main(cfg)``. Also runs under ``torchrun``.

Multi-GPU (or multi-process CPU with gloo) is plain DistributedDataParallel: every rank builds
the same tensors, a DistributedSampler splits each epoch, rank 0 alone logs and writes files.
Each epoch's shuffling and augmentation are seeded by ``(seed, epoch)``, so a run resumed from
its last completed epoch continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler, RandomSampler

from svhn_xai.augment import augment_batch
from svhn_xai.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from svhn_xai.classification import presence_scores
from svhn_xai.config import TrainConfig
from svhn_xai.data.sources import open_source
from svhn_xai.data.svhn import SVHNFolder
from svhn_xai.data.tensors import TensorSet, build_tensors
from svhn_xai.errors import CheckpointError, ParameterError
from svhn_xai.model import DigitResNet18
from svhn_xai.provenance import git_commit, machine
from svhn_xai.tracking import Tracker


class _Batches(Dataset):
    """Index a TensorSet a whole batch at a time (``__getitems__``), without per-item copies."""

    def __init__(self, tensors: TensorSet) -> None:
        self.tensors = tensors

    def __len__(self) -> int:
        return len(self.tensors)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tensors.images[index], self.tensors.presence[index]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices)
        return self.tensors.images[idx], self.tensors.presence[idx]


def _identity(batch: Any) -> Any:
    return batch


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


def _autocast(device: torch.device, enabled: bool) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def _to_input(images: torch.Tensor, device: torch.device) -> torch.Tensor:
    # channels_last is faster for ResNet convolutions on CUDA and on oneDNN CPUs alike
    x = images.to(device, non_blocking=True).float().div_(255)
    return x.contiguous(memory_format=torch.channels_last)


def train_one_epoch(
    model: torch.nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    digits: tuple[int, ...],
    pos_weight: torch.Tensor,
    device: torch.device,
    cfg: TrainConfig,
    epoch: int,
    amp: bool,
    on_batch: Callable[[int, int, float], None] | None = None,
) -> dict[str, float]:
    """One pass over ``loader``; returns mean loss and balanced accuracy on the training batches."""
    model.train()
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
    total_loss, seen = 0.0, 0
    probs, truth = [], []
    for step, (images, presence) in enumerate(loader):
        x = _to_input(images, device)
        if cfg.augment:
            x = augment_batch(x, generator)
        y = presence[:, list(digits)].to(device)
        with _autocast(device, amp):
            logits = model(x)
        loss = F.binary_cross_entropy_with_logits(logits.float(), y, pos_weight=pos_weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        total_loss += loss.item() * len(x)
        seen += len(x)
        probs.append(torch.sigmoid(logits.detach().float()).cpu())
        truth.append(presence)
        if on_batch is not None:
            on_batch(step + 1, len(loader), loss.item())
    scores = presence_scores(torch.cat(probs).numpy(), torch.cat(truth).numpy(), digits)
    return {"loss": total_loss / max(seen, 1), "balanced_accuracy": scores["balanced_accuracy"]}


@torch.inference_mode()
def predict(
    model: torch.nn.Module, images: torch.Tensor, device: torch.device, amp: bool = False
) -> np.ndarray:
    """Probabilities (N, heads) for uint8 images (N, 3, S, S), in batches of 512."""
    model.eval()
    out = []
    for start in range(0, len(images), 512):
        with _autocast(device, amp):
            logits = model(_to_input(images[start : start + 512], device))
        out.append(torch.sigmoid(logits.float()).cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, len(model.digits)), dtype=np.float32)


def evaluate(
    model: torch.nn.Module,
    tensors: TensorSet,
    digits: tuple[int, ...],
    device: torch.device,
    amp: bool = False,
    pos_weight: torch.Tensor | None = None,
) -> dict[str, Any]:
    """Loss, balanced accuracy and per-digit scores of ``model`` on ``tensors``."""
    probs = predict(model, tensors.images, device, amp)
    scores = presence_scores(probs, tensors.presence.numpy(), digits)
    y = tensors.presence[:, list(digits)]
    p = torch.from_numpy(probs).clamp(1e-6, 1 - 1e-6)
    weight = pos_weight.cpu() if pos_weight is not None else None
    scores["loss"] = float(F.binary_cross_entropy_with_logits(torch.logit(p), y, pos_weight=weight))
    scores["n_images"] = len(tensors)
    return scores


def _source_key(data: str, root: str | None, split: str, indices: str | None, size: int | None):
    key: dict[str, Any] = {"data": data, "split": split, "indices": indices, "size": size}
    if data == "svhn" and root is not None:
        folder = Path(root) / split
        key["folder"] = str(folder.resolve())
        for name in ("digitStruct.mat", "annotations.json"):
            if (folder / name).is_file():
                stat = (folder / name).stat()
                key["annotations"] = [name, stat.st_size, stat.st_mtime_ns]
    return key


def load_tensors(
    cfg: TrainConfig,
    data: str,
    split: str,
    indices: str | None,
    size: int | None,
    jitter: float,
    root: str | None = None,
) -> TensorSet:
    """Tensors of one split, built once and cached (see :func:`build_tensors`)."""
    root = root if root is not None else cfg.root
    source = open_source(data, split, root, size, indices)
    key = _source_key(data, root, split, indices, size)
    return build_tensors(
        source, cfg.input_size, cfg.margin, jitter, cfg.seed, cfg.workers, cache_key=key
    )


def _training_set(cfg: TrainConfig) -> TensorSet:
    """The training split; with ``mix_synthetic``, plus that many synthetic images, the
    original split repeated until it is at least as large (so few photos are not drowned)."""
    train = load_tensors(cfg, cfg.data, cfg.split, cfg.indices, cfg.train_size, cfg.jitter)
    if not cfg.mix_synthetic:
        return train
    extra = load_tensors(cfg, "synthetic", "train", None, cfg.mix_synthetic, cfg.jitter)
    repeats = max(1, -(-cfg.mix_synthetic // len(train)))
    return TensorSet(
        torch.cat([train.images.repeat(repeats, 1, 1, 1), extra.images]),
        torch.cat([train.presence.repeat(repeats, 1), extra.presence]),
    )


def _real_eval_tensors(cfg: TrainConfig) -> TensorSet | None:
    if cfg.real_eval is None:
        return None
    folder = Path(cfg.real_eval)
    SVHNFolder(folder)  # fails early, with a clear message, on a bad folder
    return load_tensors(
        cfg, "svhn", folder.name, cfg.real_eval_indices, None, 0.0, root=str(folder.parent)
    )


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


def _param_checksum(model: torch.nn.Module) -> float:
    return float(sum(p.detach().double().sum() for p in model.parameters()))


def main(
    cfg: TrainConfig,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    on_batch: Callable[[int, int, float], None] | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Train as ``cfg`` says; return the final checkpoint's metrics.

    ``on_epoch`` receives each epoch's record (losses, accuracies); ``on_batch`` gets
    ``(step, steps_per_epoch, loss)``; both run on rank 0 only. ``command`` is recorded in the
    model card.
    """
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    device = resolve_device(cfg.device)
    if distributed:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
        if device.type == "cuda":
            torch.cuda.set_device(device)
    rank = dist.get_rank() if distributed else 0
    world = dist.get_world_size() if distributed else 1
    digits = tuple(cfg.digits)
    amp = use_amp(cfg.amp, device)
    torch.manual_seed(cfg.seed)

    def log(msg: str) -> None:
        if rank == 0:
            print(msg, flush=True)

    # rank 0 builds the image cache first; the others then read it
    if rank == 0:
        train_set = _training_set(cfg)
        test_set = load_tensors(cfg, cfg.data, cfg.test_split, cfg.test_indices, cfg.test_size, 0.0)
        real_set = _real_eval_tensors(cfg)
    if distributed:
        dist.barrier()
    if rank != 0:
        train_set = _training_set(cfg)
        test_set = load_tensors(cfg, cfg.data, cfg.test_split, cfg.test_indices, cfg.test_size, 0.0)
        real_set = None
    positive_rate = train_set.positive_rate()
    rate = positive_rate[list(digits)].clip(1e-3, 1 - 1e-3)
    # class imbalance: weigh positives by neg/pos so every head sees a balanced loss
    pos_weight = torch.tensor((1 - rate) / rate, dtype=torch.float32, device=device)
    log(
        f"{cfg.data}/{cfg.split}: {len(train_set)} training images, {len(test_set)} test; "
        "positive rate per digit: " + " ".join(f"{d}:{positive_rate[d]:.2f}" for d in range(10))
    )

    model = DigitResNet18(digits, cfg.stem, cfg.input_size)
    init_card = None
    if cfg.init is not None:
        start = load_checkpoint(cfg.init)
        init_card = {
            "checkpoint": str(cfg.init),
            "config": start["config"],
            "provenance": start.get("provenance"),
            "test": start["metrics"].get("test"),
            "real": start["metrics"].get("real"),
        }
        if start["architecture"] != model.architecture():
            raise CheckpointError(
                f"--init {cfg.init} is a {start['architecture']}, but this run trains a "
                f"{model.architecture()}: digits, stem and input size must match"
            )
        model.load_state_dict(model_from_checkpoint(start, cfg.init).state_dict())
    model.to(device, memory_format=torch.channels_last)
    net = DistributedDataParallel(model) if distributed else model

    sampler = (
        DistributedSampler(_Batches(train_set), world, rank, shuffle=True, seed=cfg.seed)
        if distributed
        else RandomSampler(_Batches(train_set), generator=torch.Generator())
    )
    loader = DataLoader(
        _Batches(train_set),
        batch_size=cfg.batch_size,
        sampler=sampler,
        drop_last=len(train_set) >= cfg.batch_size * world * 2,
        collate_fn=_identity,
        num_workers=0,
    )
    steps = max(len(loader), 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup, total = steps, steps * cfg.epochs

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    history: list[dict[str, Any]] = []
    start_epoch = 0
    out = Path(cfg.out)
    if cfg.resume and out.is_file():
        state = load_checkpoint(out)
        if state["architecture"] != model.architecture():
            raise CheckpointError(f"--resume: {out} holds a {state['architecture']}, not this run")
        model.load_state_dict(state["model_state"])
        optimizer.load_state_dict(state["optimizer_state"])
        scheduler.load_state_dict(state["scheduler_state"])
        start_epoch = int(state["epoch"])
        history = list(state["metrics"].get("history", []))
        log(f"resuming {out} after epoch {start_epoch}")

    tracker = Tracker(cfg.wandb if rank == 0 else "disabled", cfg.to_dict())
    if tracker.url:
        log(f"W&B run: {tracker.url}")
    provenance = {
        "data": cfg.data,
        "root": cfg.root,
        "split": cfg.split,
        "indices": cfg.indices,
        "n_train": len(train_set),
        "mix_synthetic": cfg.mix_synthetic,
        "n_test": len(test_set),
        "positive_rate": {str(d): round(float(positive_rate[d]), 4) for d in range(10)},
        "commit": git_commit(),
        "machine": machine(),
        "command": command or " ".join([os.path.basename(sys.executable), *sys.argv]),
        "torch": str(torch.__version__),
        "device": str(device),
        "bf16_autocast": amp,
        "world_size": world,
        "init": init_card,
    }
    metrics: dict[str, Any] = {"history": history}
    for epoch in range(start_epoch, cfg.epochs):
        if distributed:
            sampler.set_epoch(epoch)
        else:
            sampler.generator.manual_seed(cfg.seed * 1000 + epoch)
        tic = time.perf_counter()
        train_scores = train_one_epoch(
            net,
            loader,
            optimizer,
            scheduler,
            digits,
            pos_weight,
            device,
            cfg,
            epoch,
            amp,
            on_batch if rank == 0 else None,
        )
        seconds = time.perf_counter() - tic
        if rank != 0:
            continue
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "seconds": round(seconds, 1),
            "images_per_second": round(len(loader) * cfg.batch_size * world / seconds, 1),
            "lr": optimizer.param_groups[0]["lr"],
            "train": train_scores,
            # scored in float32 like `test` and `export`, so the history matches their numbers
            "test": evaluate(model, test_set, digits, device, pos_weight=pos_weight),
        }
        if real_set is not None:
            record["real"] = evaluate(model, real_set, digits, device, pos_weight=pos_weight)
        history.append(record)
        line = (
            f"epoch {epoch + 1}/{cfg.epochs}  train loss {train_scores['loss']:.4f} "
            f"bal.acc {train_scores['balanced_accuracy']:.4f}  "
            f"test loss {record['test']['loss']:.4f}"
            f" bal.acc {record['test']['balanced_accuracy']:.4f}"
        )
        if "real" in record:
            line += f"  real bal.acc {record['real']['balanced_accuracy']:.4f}"
        flat = {
            "train/loss": train_scores["loss"],
            "train/balanced_accuracy": train_scores["balanced_accuracy"],
            "test/loss": record["test"]["loss"],
            "test/balanced_accuracy": record["test"]["balanced_accuracy"],
            "lr": record["lr"],
        }
        for d, s in record["test"]["per_digit"].items():
            flat[f"test/balanced_accuracy/digit_{d}"] = s["balanced_accuracy"]
        if "real" in record:
            flat["real/balanced_accuracy"] = record["real"]["balanced_accuracy"]
        tracker.log(flat, step=epoch + 1)
        _log_samples(tracker, model, test_set, digits, device, epoch + 1)
        metrics = {
            "history": history,
            "test": record["test"],
            **({"real": record["real"]} if "real" in record else {}),
        }
        save_checkpoint(
            out,
            {
                "architecture": model.architecture(),
                "model_state": model.state_dict(),
                "optimizer_state": optimizer.state_dict(),
                "scheduler_state": scheduler.state_dict(),
                "epoch": epoch + 1,
                "config": cfg.to_dict(),
                "metrics": metrics,
                "provenance": provenance,
            },
        )
        save_curves(history, curves_path(out))
        # Printed only once the epoch is on disk, so a reader of this line can rely on resuming.
        log(line + f"  ({seconds:.0f} s, {record['images_per_second']:.0f} img/s)")
        if on_epoch is not None:
            on_epoch(record)
    if distributed:
        sums = [torch.zeros(1, dtype=torch.float64) for _ in range(world)]
        dist.all_gather(sums, torch.tensor([_param_checksum(model)], dtype=torch.float64))
        agree = all(torch.equal(s, sums[0]) for s in sums)
        if rank == 0:
            state = load_checkpoint(out)
            state["metrics"]["ddp_replicas_agree"] = agree
            state["metrics"]["ddp_param_checksums"] = [float(s) for s in sums]
            save_checkpoint(out, {k: v for k, v in state.items() if not k.startswith("format")})
            metrics = state["metrics"]
        dist.destroy_process_group()
    tracker.finish()
    return metrics


def _log_samples(
    tracker: Tracker,
    model: torch.nn.Module,
    tensors: TensorSet,
    digits: tuple[int, ...],
    device: torch.device,
    step: int,
) -> None:
    """A panel of eight test images captioned with truth and predicted digits (float32, like
    the scores)."""
    if tracker.run is None:
        return
    images = tensors.images[:8]
    probs = predict(model, images, device)
    captions = []
    for p, presence in zip(probs, tensors.presence[:8]):
        truth = "".join(str(d) for d in digits if presence[d] > 0.5)
        said = "".join(str(d) for d, q in zip(digits, p) if q >= 0.5)
        captions.append(f"true {{{truth}}} predicted {{{said}}}")
    tracker.images("samples", [im.permute(1, 2, 0).numpy() for im in images], captions, step)
