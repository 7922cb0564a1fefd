"""Turn a source of house numbers into training tensors, in parallel, cached on disk.

Training reads the same crops every epoch, so the photos are cropped and resized once into a
uint8 tensor (N, 3, S, S) plus a presence matrix (N, 10), and random augmentation happens later,
per batch, on the training device (see :mod:`svhn_xai.augment`).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from svhn_xai.data.item import HouseNumber
from svhn_xai.data.target import DEFAULT_MARGIN, to_model_input

CACHE_FORMAT = 1


def cache_dir() -> Path:
    """``$SVHN_XAI_CACHE``, else ``~/.cache/svhn_xai``."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "svhn_xai"
    return Path(os.environ.get("SVHN_XAI_CACHE", default))


@dataclass
class TensorSet:
    """Model inputs and labels: ``images`` uint8 (N, 3, S, S), ``presence`` float32 (N, 10)."""

    images: torch.Tensor
    presence: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)

    def positive_rate(self) -> np.ndarray:
        """Fraction of images that contain each digit, shape (10,)."""
        return self.presence.mean(0).numpy()


def _crop_range(args: tuple[Sequence[HouseNumber], int, int, int, float, float, int]) -> tuple:
    source, start, stop, size, margin, jitter, seed = args
    images = np.empty((stop - start, size, size, 3), dtype=np.uint8)
    presence = np.zeros((stop - start, 10), dtype=np.float32)
    for j, i in enumerate(range(start, stop)):
        item = source[i]
        rng = np.random.default_rng([seed, i]) if jitter > 0 else None
        images[j] = to_model_input(item, size, margin, jitter, rng).item.image
        presence[j] = item.presence()
    return images, presence


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
        jitter: random crop-window jitter (fraction of the digits' extent), drawn per item from
            ``(seed, index)`` so that the result is reproducible.
        cache_key: when given, a JSON-able description of ``source``; the tensors are stored
            under a hash of it (plus size, margin, jitter, seed) in :func:`cache_dir` and
            reused on the next call.
    """
    cache_file = None
    if cache_key is not None:
        key = {"source": cache_key, "input_size": size, "margin": margin, "jitter": jitter}
        key["seed"] = seed
        key["format"] = CACHE_FORMAT
        digest = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
        cache_file = cache_dir() / "tensors" / f"{digest}.pt"
        if cache_file.is_file():
            try:
                data = torch.load(cache_file, weights_only=True)
                return TensorSet(data["images"], data["presence"])
            except Exception:  # a damaged cache is rebuilt, never trusted
                cache_file.unlink(missing_ok=True)
    n = len(source)
    workers = workers or min(os.cpu_count() or 1, 8)
    chunk = max(1, min(2000, -(-n // workers)))
    jobs = [(source, s, min(s + chunk, n), size, margin, jitter, seed) for s in range(0, n, chunk)]
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=n, desc="preparing images", unit="img", leave=False)
    parts = []
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(workers) as pool:
            for part in pool.map(_crop_range, jobs):
                parts.append(part)
                if bar is not None:
                    bar.update(len(part[0]))
    else:
        for job in jobs:
            parts.append(_crop_range(job))
            if bar is not None:
                bar.update(len(parts[-1][0]))
    if bar is not None:
        bar.close()
    images = torch.from_numpy(np.concatenate([p[0] for p in parts])).permute(0, 3, 1, 2)
    result = TensorSet(images.contiguous(), torch.from_numpy(np.concatenate([p[1] for p in parts])))
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_name(cache_file.name + f".{os.getpid()}.tmp")
        torch.save({"images": result.images, "presence": result.presence}, tmp)
        os.replace(tmp, cache_file)
    return result
