"""Turn a source of house numbers into training tensors, in parallel, cached on disk.

Training reads the same crops every epoch, so the photos are cropped and resized once into a
uint8 tensor (N, 3, S, S) plus a presence matrix (N, 10), and random augmentation happens later,
per batch, on the training device (see :mod:`svhn_xai.model.augment`).

The cache is a plain ``.npy`` file that worker processes fill in place and that is then
memory-mapped, not loaded: SVHN ``extra`` at 64x64 is 202,353 x 12,288 bytes = 2.5 GB, which
the page cache holds (or evicts) instead of the process. Batches gather their rows from it.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from svhn_xai.data.item import HouseNumber
from svhn_xai.data.target import DEFAULT_MARGIN, to_model_input

CACHE_FORMAT = 2  # 1: one torch.save'd .pt file; 2: memory-mapped .npy images + presence
_CHUNK = 1000  # images per job: small enough for an even split, large enough to amortise


def cache_dir() -> Path:
    """``$SVHN_XAI_CACHE``, else ``~/.cache/svhn_xai``."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "svhn_xai"
    return Path(os.environ.get("SVHN_XAI_CACHE", default))


@dataclass
class TensorSet:
    """Model inputs and labels: ``images`` uint8 (N, 3, S, S), ``presence`` float32 (N, 10).

    ``images`` may be backed by a memory-mapped file (see :func:`build_tensors`); indexing it
    with a batch of indices copies just those rows.
    """

    images: torch.Tensor
    presence: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)

    def positive_rate(self) -> np.ndarray:
        """Fraction of images that contain each digit, shape (10,)."""
        return self.presence.mean(0).numpy()


# What each worker process needs, set once per process by _init_worker (or inherited by fork)
# instead of being pickled with every job: a 200k-entry source is tens of MB.
_job: dict = {}


def _init_worker(
    source: Sequence[HouseNumber], size: int, margin: float, jitter: float, seed: int, out: str
) -> None:
    _job.update(source=source, size=size, margin=margin, jitter=jitter, seed=seed, out=out)


def _crop_range(span: tuple[int, int]) -> tuple[np.ndarray | None, np.ndarray]:
    """Prepare items ``start:stop``; write them into the ``.npy`` at ``out`` when there is one
    (and return None for the images), else return them. Images are (n, 3, S, S) uint8."""
    start, stop = span
    source, size, jitter, seed = _job["source"], _job["size"], _job["jitter"], _job["seed"]
    images = np.empty((stop - start, 3, size, size), dtype=np.uint8)
    presence = np.zeros((stop - start, 10), dtype=np.float32)
    for j, i in enumerate(range(start, stop)):
        item = source[i]
        rng = np.random.default_rng([seed, i]) if jitter > 0 else None
        crop = to_model_input(item, size, _job["margin"], jitter, rng).item.image
        images[j] = crop.transpose(2, 0, 1)
        presence[j] = item.presence()
    if _job["out"] is None:
        return images, presence
    target = np.load(_job["out"], mmap_mode="r+")
    target[start:stop] = images
    target.flush()
    del target
    return None, presence


def _open_cache(images: Path, presence: Path, n: int, size: int) -> TensorSet | None:
    """The cached set, images memory-mapped (copy-on-write: nothing is ever written back)."""
    try:
        mapped = np.load(images, mmap_mode="c")
        labels = np.load(presence)
    except (OSError, ValueError, EOFError):
        return None
    if mapped.shape != (n, 3, size, size) or mapped.dtype != np.uint8 or labels.shape != (n, 10):
        return None
    return TensorSet(torch.from_numpy(mapped), torch.from_numpy(labels))


def _cache_paths(key: dict) -> tuple[Path, Path]:
    digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    base = cache_dir() / "tensors"
    return base / f"{digest}.images.npy", base / f"{digest}.presence.npy"


def build_tensors(
    source: Sequence[HouseNumber],
    size: int = 64,
    margin: float = DEFAULT_MARGIN,
    jitter: float = 0.0,
    seed: int = 0,
    workers: int | None = None,
    cache_key: dict | None = None,
    progress: bool = True,
) -> TensorSet:
    """Crop and resize every item of ``source`` (in parallel processes) into a :class:`TensorSet`.

    Args:
        size: side of the square model input, pixels.
        jitter: random crop-window jitter (fraction of the digits' extent), drawn per item from
            ``(seed, index)`` so that the result is reproducible.
        workers: processes (default: all cores, at most 8).
        cache_key: when given, a JSON-able description of ``source``; the images are written
            straight into ``DIGEST.images.npy`` under :func:`cache_dir` (a hash of the key plus
            size, margin, jitter, seed) and memory-mapped from there, now and on later calls.
            Without it, the set is built in memory.
    """
    n = len(source)
    images_file = presence_file = None
    if cache_key is not None:
        key = {"source": cache_key, "input_size": size, "margin": margin, "jitter": jitter}
        key["seed"] = seed
        key["format"] = CACHE_FORMAT
        images_file, presence_file = _cache_paths(key)
        cached = _open_cache(images_file, presence_file, n, size)
        if cached is not None:
            return cached
    tmp = None
    if images_file is not None:
        images_file.parent.mkdir(parents=True, exist_ok=True)
        # a unique temporary name, renamed only once complete: a crash never leaves a half file
        tmp = images_file.with_name(images_file.name + f".{os.getpid()}.tmp.npy")
        np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(n, 3, size, size))
    workers = workers or min(os.cpu_count() or 1, 8)
    spans = [(s, min(s + _CHUNK, n)) for s in range(0, n, _CHUNK)]
    args = (source, size, margin, jitter, seed, None if tmp is None else str(tmp))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc="preparing images", unit="img", leave=False)
    parts = []
    try:
        if workers > 1 and len(spans) > 1:
            # fork hands the source to the workers without pickling it
            context = multiprocessing.get_context("fork")
            with ProcessPoolExecutor(workers, context, _init_worker, args) as pool:
                for part in pool.map(_crop_range, spans):
                    parts.append(part)
                    if bar is not None:
                        bar.update(len(part[1]))
        else:
            _init_worker(*args)
            for span in spans:
                parts.append(_crop_range(span))
                if bar is not None:
                    bar.update(len(parts[-1][1]))
    except BaseException:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise
    finally:
        _job.clear()
        if bar is not None:
            bar.close()
    presence = np.concatenate([p[1] for p in parts]) if parts else np.zeros((0, 10), np.float32)
    if tmp is None:
        stacked = [p[0] for p in parts]
        images = np.concatenate(stacked) if stacked else np.zeros((0, 3, size, size), np.uint8)
        return TensorSet(torch.from_numpy(images), torch.from_numpy(presence))
    np.save(presence_file, presence)
    os.replace(tmp, images_file)  # last: the images file's presence marks a complete cache
    mapped = np.load(images_file, mmap_mode="c")
    return TensorSet(torch.from_numpy(mapped), torch.from_numpy(presence))
