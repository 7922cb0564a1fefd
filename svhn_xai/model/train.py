"""Training: ``train_one_epoch`` and ``main(cfg)``. Also runs under ``torchrun``.

Multi-GPU (or multi-process CPU with gloo) is plain DistributedDataParallel: every rank builds
the same tensors, a DistributedSampler splits each epoch, rank 0 alone logs and writes files.
Each epoch's shuffling and augmentation are seeded by ``(seed, epoch)``, so a run resumed from
its last completed epoch continues exactly as an uninterrupted one would.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from svhn_xai.data.tensors import TensorSet
from svhn_xai.errors import CheckpointError
from svhn_xai.model.augment import augment_batch
from svhn_xai.model.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from svhn_xai.model.classification import presence_scores
from svhn_xai.model.config import TrainConfig
from svhn_xai.model.curves import curves_path, save_curves
from svhn_xai.model.network import DigitResNet18
from svhn_xai.model.predict import autocast, predict, score_tensors, to_input, use_amp
from svhn_xai.model.run_data import (
    Batches,
    Process,
    RunData,
    keep_batch,
    load_data,
    shortcut_cue,
    start_process,
)
from svhn_xai.model.tracking import Tracker
from svhn_xai.provenance import command_line, git_commit, machine, shown_path
from svhn_xai.shards import Shard, leave


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
        x = to_input(images, device)
        if cfg.augment:
            x = augment_batch(x, generator)
        y = presence[:, list(digits)].to(device)
        with autocast(device, amp):
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


def _param_checksum(model: torch.nn.Module) -> float:
    return float(sum(p.detach().double().sum() for p in model.parameters()))


def _build_model(cfg: TrainConfig, device: torch.device) -> tuple[DigitResNet18, dict | None]:
    """A fresh model, or ``cfg.init``'s weights; returns it with the init's card (or None)."""
    model = DigitResNet18(tuple(cfg.digits), cfg.stem, cfg.input_size)
    init_card = None
    if cfg.init is not None:
        start = load_checkpoint(cfg.init)
        init_card = {
            "checkpoint": shown_path(cfg.init),
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
    return model, init_card


def _loader(cfg: TrainConfig, train_set: TensorSet, run: Process) -> DataLoader:
    sampler = (
        DistributedSampler(Batches(train_set), run.world, run.rank, shuffle=True, seed=cfg.seed)
        if run.distributed
        else RandomSampler(Batches(train_set), generator=torch.Generator())
    )
    return DataLoader(
        Batches(train_set),
        batch_size=cfg.batch_size,
        sampler=sampler,
        drop_last=len(train_set) >= cfg.batch_size * run.world * 2,
        collate_fn=keep_batch,
        num_workers=0,
    )


def _optimiser(
    cfg: TrainConfig, model: torch.nn.Module, steps: int
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW with a one-epoch linear warm-up, then a cosine decay to 0 over the run."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup, total = steps, steps * cfg.epochs

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(total - warmup, 1)
        return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)


def _resume(
    cfg: TrainConfig,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    run: Process,
) -> tuple[int, list[dict[str, Any]]]:
    """With ``cfg.resume`` and ``cfg.out`` on disk, load its state; returns (epoch, history)."""
    out = Path(cfg.out)
    if not (cfg.resume and out.is_file()):
        return 0, []
    state = load_checkpoint(out)
    if state["architecture"] != model.architecture():
        raise CheckpointError(f"--resume: {out} holds a {state['architecture']}, not this run")
    model.load_state_dict(state["model_state"])
    optimizer.load_state_dict(state["optimizer_state"])
    scheduler.load_state_dict(state["scheduler_state"])
    run.log(f"resuming {out} after epoch {int(state['epoch'])}")
    return int(state["epoch"]), list(state["metrics"].get("history", []))


def _provenance(
    cfg: TrainConfig,
    data: RunData,
    positive_rate: np.ndarray,
    run: Process,
    amp: bool,
    init_card: dict | None,
    command: str | None,
) -> dict[str, Any]:
    """What the model card says about where the weights came from."""
    cue = shortcut_cue(cfg)
    return {
        "data": cfg.data,
        "root": cfg.root,
        "split": cfg.split,
        "indices": cfg.indices,
        "n_train": len(data.train),
        "mix_synthetic": cfg.mix_synthetic,
        "mix_recomposed": cfg.mix_recomposed,
        "synthetic_style": {
            "typefaces": cfg.typefaces,
            "real_backgrounds": cfg.real_backgrounds,
            "perspective": cfg.perspective,
            "motion_blur": cfg.motion_blur,
        },
        "n_test": len(data.test),
        "positive_rate": {str(d): round(float(positive_rate[d]), 4) for d in range(10)},
        **({"cue": cue.to_dict()} if cue is not None else {}),
        "commit": git_commit(),
        "machine": machine(),
        "command": command or command_line(),
        "torch": str(torch.__version__),
        "device": str(run.device),
        "bf16_autocast": amp,
        "world_size": run.world,
        "init": init_card,
    }


def _epoch_line(cfg: TrainConfig, record: dict[str, Any]) -> str:
    train = record["train"]
    line = (
        f"epoch {record['epoch']}/{cfg.epochs}  train loss {train['loss']:.4f} "
        f"bal.acc {train['balanced_accuracy']:.4f}  "
        f"test loss {record['test']['loss']:.4f}"
        f" bal.acc {record['test']['balanced_accuracy']:.4f}"
    )
    if "real" in record:
        line += f"  real bal.acc {record['real']['balanced_accuracy']:.4f}"
    return line + f"  ({record['seconds']:.0f} s, {record['images_per_second']:.0f} img/s)"


def _track(tracker: Tracker, record: dict[str, Any]) -> None:
    flat = {
        "train/loss": record["train"]["loss"],
        "train/balanced_accuracy": record["train"]["balanced_accuracy"],
        "test/loss": record["test"]["loss"],
        "test/balanced_accuracy": record["test"]["balanced_accuracy"],
        "lr": record["lr"],
    }
    for d, s in record["test"]["per_digit"].items():
        flat[f"test/balanced_accuracy/digit_{d}"] = s["balanced_accuracy"]
    if "real" in record:
        flat["real/balanced_accuracy"] = record["real"]["balanced_accuracy"]
    tracker.log(flat, step=record["epoch"])


def _agree_across_ranks(model: torch.nn.Module, out: Path, run: Process) -> dict[str, Any] | None:
    """DDP: gather every rank's parameter checksum; rank 0 records them in the card."""
    sums = [torch.zeros(1, dtype=torch.float64) for _ in range(run.world)]
    dist.all_gather(sums, torch.tensor([_param_checksum(model)], dtype=torch.float64))
    agree = all(torch.equal(s, sums[0]) for s in sums)
    metrics = None
    if run.rank == 0:
        state = load_checkpoint(out)
        state["metrics"]["ddp_replicas_agree"] = agree
        state["metrics"]["ddp_param_checksums"] = [float(s) for s in sums]
        save_checkpoint(out, {k: v for k, v in state.items() if not k.startswith("format")})
        metrics = state["metrics"]
    leave(Shard(run.rank, run.world))
    return metrics


def _pos_weight(
    positive_rate: np.ndarray, digits: tuple[int, ...], device: torch.device
) -> torch.Tensor:
    """Class imbalance: positives weighed by neg/pos, so every head sees a balanced loss."""
    rate = positive_rate[list(digits)].clip(1e-3, 1 - 1e-3)
    return torch.tensor((1 - rate) / rate, dtype=torch.float32, device=device)


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
    run = start_process(cfg)
    digits = tuple(cfg.digits)
    amp = use_amp(cfg.amp, run.device)
    torch.manual_seed(cfg.seed)
    data = load_data(cfg, run)
    positive_rate = data.train.positive_rate()
    pos_weight = _pos_weight(positive_rate, digits, run.device)
    run.log(
        f"{cfg.data}/{cfg.split}: {len(data.train)} training images, {len(data.test)} test; "
        "positive rate per digit: " + " ".join(f"{d}:{positive_rate[d]:.2f}" for d in range(10))
    )

    model, init_card = _build_model(cfg, run.device)
    net = DistributedDataParallel(model) if run.distributed else model
    loader = _loader(cfg, data.train, run)
    optimizer, scheduler = _optimiser(cfg, model, max(len(loader), 1))
    start_epoch, history = _resume(cfg, model, optimizer, scheduler, run)
    out = Path(cfg.out)

    tracker = Tracker(cfg.wandb if run.rank == 0 else "disabled", cfg.to_dict())
    if tracker.url:
        run.log(f"W&B run: {tracker.url}")
    provenance = _provenance(cfg, data, positive_rate, run, amp, init_card, command)
    metrics: dict[str, Any] = {"history": history}
    for epoch in range(start_epoch, cfg.epochs):
        if run.distributed:
            loader.sampler.set_epoch(epoch)
        else:
            loader.sampler.generator.manual_seed(cfg.seed * 1000 + epoch)
        tic = time.perf_counter()
        train_scores = train_one_epoch(
            net, loader, optimizer, scheduler, digits, pos_weight, run.device, cfg, epoch, amp,
            on_batch if run.rank == 0 else None,
        )  # fmt: skip
        seconds = time.perf_counter() - tic
        if run.rank != 0:
            continue
        record = _epoch_record(model, data, run, epoch, seconds, len(loader), cfg, pos_weight)
        record["lr"], record["train"] = optimizer.param_groups[0]["lr"], train_scores
        history.append(record)
        _track(tracker, record)
        _log_samples(tracker, model, data.test, digits, run.device, epoch + 1)
        metrics = {
            "history": history,
            "test": record["test"],
            **({"real": record["real"]} if "real" in record else {}),
        }
        state = {
            "architecture": model.architecture(),
            "model_state": model.state_dict(),
            "optimizer_state": optimizer.state_dict(),
            "scheduler_state": scheduler.state_dict(),
            "epoch": epoch + 1,
            "config": cfg.to_dict(),
            "metrics": metrics,
            "provenance": provenance,
        }
        save_checkpoint(out, state)
        save_curves(history, curves_path(out))
        # Printed only once the epoch is on disk, so a reader of this line can rely on resuming.
        run.log(_epoch_line(cfg, record))
        if on_epoch is not None:
            on_epoch(record)
    if run.distributed:
        metrics = _agree_across_ranks(model, out, run) or metrics
    tracker.finish()
    return metrics


def _epoch_record(
    model: DigitResNet18,
    data: RunData,
    run: Process,
    epoch: int,
    seconds: float,
    steps: int,
    cfg: TrainConfig,
    pos_weight: torch.Tensor,
) -> dict[str, Any]:
    """An epoch's record: its speed and the model's scores on the test split (and on real
    photos), in float32 like ``test`` and ``export``, so the history matches their numbers."""
    digits = tuple(cfg.digits)
    record: dict[str, Any] = {
        "epoch": epoch + 1,
        "seconds": round(seconds, 1),
        "images_per_second": round(steps * cfg.batch_size * run.world / seconds, 1),
        "test": score_tensors(model, data.test, digits, run.device, pos_weight=pos_weight),
    }
    if data.real is not None:
        record["real"] = score_tensors(model, data.real, digits, run.device, pos_weight=pos_weight)
    return record


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
