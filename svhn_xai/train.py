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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
from svhn_xai.data.item import HouseNumber
from svhn_xai.data.sources import (
    SYNTHETIC_SEEDS,
    SYNTHETIC_SIZES,
    Subset,
    open_source,
    parse_indices,
)
from svhn_xai.data.svhn import SVHNFolder
from svhn_xai.data.synthetic import Cue, SyntheticHouseNumbers
from svhn_xai.data.tensors import TensorSet, build_tensors
from svhn_xai.errors import CheckpointError, ParameterError
from svhn_xai.model import DigitResNet18
from svhn_xai.provenance import git_commit, machine
from svhn_xai.shards import Shard, join, leave
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
    return prediction_scores(probs, tensors.presence.numpy(), digits, pos_weight)


def prediction_scores(
    probs: np.ndarray,
    presence: np.ndarray,
    digits: tuple[int, ...],
    pos_weight: torch.Tensor | None = None,
) -> dict[str, Any]:
    """:func:`evaluate`'s scores of probabilities (N, len(digits)) against the multi-hot truth
    (N, 10): the loss is the training loss, binary cross-entropy on the clamped logits."""
    scores = presence_scores(probs, presence, digits)
    y = torch.from_numpy(presence)[:, list(digits)]
    p = torch.from_numpy(probs).clamp(1e-6, 1 - 1e-6)
    weight = pos_weight.cpu() if pos_weight is not None else None
    scores["loss"] = float(F.binary_cross_entropy_with_logits(torch.logit(p), y, pos_weight=weight))
    scores["n_images"] = len(probs)
    return scores


def shortcut_cue(cfg: TrainConfig) -> Cue | None:
    """The planted cue ``cfg.shortcut`` (``"D[:RATE]"``) asks for, fitted to this run's crop."""
    if cfg.shortcut is None:
        return None
    try:
        return Cue.from_spec(
            cfg.shortcut, input_size=cfg.input_size, margin=cfg.margin, jitter=cfg.jitter
        )
    except ValueError as exc:
        raise ParameterError(f"--shortcut: {exc}") from None


def open_data(
    cfg: TrainConfig,
    data: str,
    split: str,
    indices: str | None,
    size: int | None,
    root: str | None = None,
) -> Sequence[HouseNumber]:
    """The house numbers of one split of ``data``: the one place a run's data source is chosen.

    Synthetic images carry the planted cue of ``cfg.shortcut`` when it is set (a data-source
    option like any other); real photographs never do.
    """
    cue = shortcut_cue(cfg) if data == "synthetic" else None
    if cue is None:
        return open_source(data, split, root, size, indices)
    source = SyntheticHouseNumbers(size or SYNTHETIC_SIZES[split], SYNTHETIC_SEEDS[split], cue)
    return source if indices is None else Subset(source, parse_indices(indices, len(source)))


def source_key(
    cfg: TrainConfig,
    data: str,
    root: str | None,
    split: str,
    indices: str | None,
    size: int | None,
) -> dict[str, Any]:
    """What identifies one split's images for the tensor cache (:func:`build_tensors`): the
    source, and for real photos the folder and its annotation file's size and time."""
    key: dict[str, Any] = {"data": data, "split": split, "indices": indices, "size": size}
    if data == "svhn" and root is not None:
        folder = Path(root) / split
        key["folder"] = str(folder.resolve())
        for name in ("digitStruct.mat", "annotations.json"):
            if (folder / name).is_file():
                stat = (folder / name).stat()
                key["annotations"] = [name, stat.st_size, stat.st_mtime_ns]
    cue = shortcut_cue(cfg) if data == "synthetic" else None
    if cue is not None:  # absent otherwise, so caches of plain data keep their old keys
        key["cue"] = cue.to_dict()
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
    source = open_data(cfg, data, split, indices, size, root)
    key = source_key(cfg, data, root, split, indices, size)
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


@dataclass
class _Run:
    """Where this process stands: device, ranks, and whether it is one of several."""

    device: torch.device
    rank: int
    world: int
    distributed: bool

    def log(self, msg: str) -> None:
        if self.rank == 0:
            print(msg, flush=True)


def _start(cfg: TrainConfig) -> _Run:
    """Resolve the device and, under torchrun, join the process group."""
    device = resolve_device(cfg.device)
    shard = join(device)
    return _Run(device, shard.rank, shard.world, shard.distributed)


@dataclass
class RunData:
    """A run's tensors: training, test (after every epoch) and optional real photographs."""

    train: TensorSet
    test: TensorSet
    real: TensorSet | None


def load_data(cfg: TrainConfig, run: _Run | None = None) -> RunData:
    """Every tensor a run needs, from the data source ``cfg`` names (see :func:`open_data`).

    Under DDP rank 0 builds the image cache first and the others then read it; only rank 0
    scores on real photographs.
    """
    rank = run.rank if run is not None else 0
    if cfg.shortcut is not None and (cfg.data != "synthetic" or cfg.mix_synthetic):
        raise ParameterError("--shortcut plants its cue in synthetic images: use --data synthetic")

    def build(real: bool) -> RunData:
        train = _training_set(cfg)
        test = load_tensors(cfg, cfg.data, cfg.test_split, cfg.test_indices, cfg.test_size, 0.0)
        return RunData(train, test, _real_eval_tensors(cfg) if real else None)

    if rank == 0:
        data = build(real=True)
    if run is not None and run.distributed:
        dist.barrier()
    if rank != 0:
        data = build(real=False)
    return data


def _build_model(cfg: TrainConfig, device: torch.device) -> tuple[DigitResNet18, dict | None]:
    """A fresh model, or ``cfg.init``'s weights; returns it with the init's card (or None)."""
    model = DigitResNet18(tuple(cfg.digits), cfg.stem, cfg.input_size)
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
    return model, init_card


def _loader(cfg: TrainConfig, train_set: TensorSet, run: _Run) -> DataLoader:
    sampler = (
        DistributedSampler(_Batches(train_set), run.world, run.rank, shuffle=True, seed=cfg.seed)
        if run.distributed
        else RandomSampler(_Batches(train_set), generator=torch.Generator())
    )
    return DataLoader(
        _Batches(train_set),
        batch_size=cfg.batch_size,
        sampler=sampler,
        drop_last=len(train_set) >= cfg.batch_size * run.world * 2,
        collate_fn=_identity,
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
    run: _Run,
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
    run: _Run,
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
        "n_test": len(data.test),
        "positive_rate": {str(d): round(float(positive_rate[d]), 4) for d in range(10)},
        **({"cue": cue.to_dict()} if cue is not None else {}),
        "commit": git_commit(),
        "machine": machine(),
        "command": command or " ".join([os.path.basename(sys.executable), *sys.argv]),
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


def _agree_across_ranks(model: torch.nn.Module, out: Path, run: _Run) -> dict[str, Any] | None:
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
    run = _start(cfg)
    digits = tuple(cfg.digits)
    amp = use_amp(cfg.amp, run.device)
    torch.manual_seed(cfg.seed)
    data = load_data(cfg, run)
    positive_rate = data.train.positive_rate()
    rate = positive_rate[list(digits)].clip(1e-3, 1 - 1e-3)
    # class imbalance: weigh positives by neg/pos so every head sees a balanced loss
    pos_weight = torch.tensor((1 - rate) / rate, dtype=torch.float32, device=run.device)
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
            net,
            loader,
            optimizer,
            scheduler,
            digits,
            pos_weight,
            run.device,
            cfg,
            epoch,
            amp,
            on_batch if run.rank == 0 else None,
        )
        seconds = time.perf_counter() - tic
        if run.rank != 0:
            continue
        record: dict[str, Any] = {
            "epoch": epoch + 1,
            "seconds": round(seconds, 1),
            "images_per_second": round(len(loader) * cfg.batch_size * run.world / seconds, 1),
            "lr": optimizer.param_groups[0]["lr"],
            "train": train_scores,
            # scored in float32 like `test` and `export`, so the history matches their numbers
            "test": evaluate(model, data.test, digits, run.device, pos_weight=pos_weight),
        }
        if data.real is not None:
            record["real"] = evaluate(model, data.real, digits, run.device, pos_weight=pos_weight)
        history.append(record)
        _track(tracker, record)
        _log_samples(tracker, model, data.test, digits, run.device, epoch + 1)
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
        run.log(_epoch_line(cfg, record))
        if on_epoch is not None:
            on_epoch(record)
    if run.distributed:
        metrics = _agree_across_ranks(model, out, run) or metrics
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
