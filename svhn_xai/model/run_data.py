"""A training run's data and place: which process this is (device, rank), the tensors of its
splits (training, test, real photos), and the batches its loader draws."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import Dataset

from svhn_xai.data.indices import parse_indices
from svhn_xai.data.item import HouseNumber
from svhn_xai.data.sources import (
    SYNTHETIC_SEEDS,
    SYNTHETIC_SIZES,
    Subset,
    open_source,
)
from svhn_xai.data.svhn import SVHNFolder
from svhn_xai.data.synthetic import (
    PLAIN,
    Cue,
    RealParts,
    RecomposedHouseNumbers,
    Style,
    SyntheticHouseNumbers,
)
from svhn_xai.data.tensors import TensorSet, build_tensors
from svhn_xai.errors import ParameterError
from svhn_xai.model.config import TrainConfig
from svhn_xai.model.predict import resolve_device
from svhn_xai.shards import join


class Batches(Dataset):
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


def keep_batch(batch: Any) -> Any:
    return batch


@dataclass
class Process:
    """Where this process stands: device, ranks, and whether it is one of several."""

    device: torch.device
    rank: int
    world: int
    distributed: bool

    def log(self, msg: str) -> None:
        if self.rank == 0:
            print(msg, flush=True)


def start_process(cfg: TrainConfig) -> Process:
    """Resolve the device and, under torchrun, join the process group."""
    device = resolve_device(cfg.device)
    shard = join(device)
    return Process(device, shard.rank, shard.world, shard.distributed)


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


def training_style(cfg: TrainConfig, parts: RealParts | None) -> Style:
    """The generator's options ``cfg`` asks for, for its synthetic training images; the real
    walls come from ``parts``, the run's own training photos."""
    try:
        return Style(
            typefaces=cfg.typefaces,
            backgrounds=parts if cfg.real_backgrounds else None,
            perspective=cfg.perspective,
            motion_blur=cfg.motion_blur,
        )
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


def real_parts(cfg: TrainConfig) -> RealParts | None:
    """The digits and walls of the run's training photos, where an option needs them (only
    those photos: a cross-validation fold names its own training photos in ``indices``)."""
    if not (cfg.mix_recomposed or cfg.real_backgrounds):
        return None
    if cfg.data != "svhn":
        raise ParameterError(
            "--mix-recomposed and --real-backgrounds cut the training photos: use --data svhn"
        )
    try:
        return RealParts(open_source("svhn", cfg.split, cfg.root, None, cfg.indices))
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


def open_data(
    cfg: TrainConfig,
    data: str,
    split: str,
    indices: str | None,
    size: int | None,
    root: str | None = None,
    style: Style = PLAIN,
    parts: RealParts | None = None,
) -> Sequence[HouseNumber]:
    """The house numbers of one split of ``data``: the one place a run's data source is chosen.

    ``data`` is ``synthetic``, ``svhn`` or ``recomposed`` (``size`` house numbers composed from
    ``parts``). Synthetic images carry the planted cue of ``cfg.shortcut`` when it is set (a
    data-source option like any other) and are drawn in ``style``; real photos are as they are.
    """
    if data == "recomposed":
        if parts is None:
            raise ParameterError("recomposed house numbers need the photos to cut digits from")
        return RecomposedHouseNumbers(parts, size or 1, SYNTHETIC_SEEDS[split], style)
    cue = shortcut_cue(cfg) if data == "synthetic" else None
    if cue is None and (data != "synthetic" or not style.describe()):
        return open_source(data, split, root, size, indices)
    source = SyntheticHouseNumbers(
        size or SYNTHETIC_SIZES[split], SYNTHETIC_SEEDS[split], cue, style=style
    )
    return source if indices is None else Subset(source, parse_indices(indices, len(source)))


def source_key(
    cfg: TrainConfig,
    data: str,
    root: str | None,
    split: str,
    indices: str | None,
    size: int | None,
    style: Style = PLAIN,
) -> dict[str, Any]:
    """What identifies one split's images for the tensor cache (:func:`build_tensors`): the
    source, for real photos the folder and its annotation file's size and time, and the
    generator's options; recomposed images also name the photos they were cut from."""
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
    if data != "svhn" and style.describe():  # the same: plain images keep their old keys
        key["style"] = style.describe()
    if data == "recomposed" or (data == "synthetic" and style.backgrounds is not None):
        key["cut_from"] = source_key(cfg, "svhn", cfg.root, cfg.split, cfg.indices, None)
    return key


def load_tensors(
    cfg: TrainConfig,
    data: str,
    split: str,
    indices: str | None,
    size: int | None,
    jitter: float,
    root: str | None = None,
    style: Style = PLAIN,
    parts: RealParts | None = None,
) -> TensorSet:
    """Tensors of one split, built once and cached (see :func:`build_tensors`)."""
    root = root if root is not None else cfg.root
    source = open_data(cfg, data, split, indices, size, root, style, parts)
    key = source_key(cfg, data, root, split, indices, size, style)
    return build_tensors(
        source, cfg.input_size, cfg.margin, jitter, cfg.seed, cfg.workers, cache_key=key
    )


def _training_set(cfg: TrainConfig) -> TensorSet:
    """The training split in the generator's options of ``cfg``; with ``mix_synthetic`` and
    ``mix_recomposed``, plus that many synthetic and recomposed images, the original split
    repeated until it is at least as large as they are together (so few photos are not
    drowned)."""
    parts = real_parts(cfg)
    style = training_style(cfg, parts)
    train = load_tensors(
        cfg, cfg.data, cfg.split, cfg.indices, cfg.train_size, cfg.jitter, style=style
    )
    added = [
        load_tensors(cfg, data, "train", None, n, cfg.jitter, style=style, parts=parts)
        for data, n in (("synthetic", cfg.mix_synthetic), ("recomposed", cfg.mix_recomposed))
        if n
    ]
    if not added:
        return train
    repeats = max(1, -(-sum(len(t) for t in added) // len(train)))
    return TensorSet(
        torch.cat([train.images.repeat(repeats, 1, 1, 1), *(t.images for t in added)]),
        torch.cat([train.presence.repeat(repeats, 1), *(t.presence for t in added)]),
    )


def _real_eval_tensors(cfg: TrainConfig) -> TensorSet | None:
    if cfg.real_eval is None:
        return None
    folder = Path(cfg.real_eval)
    SVHNFolder(folder)  # fails early, with a clear message, on a bad folder
    return load_tensors(
        cfg, "svhn", folder.name, cfg.real_eval_indices, None, 0.0, root=str(folder.parent)
    )


@dataclass
class RunData:
    """A run's tensors: training, test (after every epoch) and optional real photographs."""

    train: TensorSet
    test: TensorSet
    real: TensorSet | None


def load_data(cfg: TrainConfig, run: Process | None = None) -> RunData:
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
