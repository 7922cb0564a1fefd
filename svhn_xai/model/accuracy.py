"""Score a checkpoint on a split (``python -m svhn_xai test``), alone or under ``torchrun``.

Under ``torchrun --nproc_per_node=N`` the split is cut into batches of ``batch_size`` images
numbered over the whole split; rank r prepares and predicts the batches whose number is r modulo
N (:class:`~svhn_xai.shards.Shard`), so that each process decodes and crops only its own photos,
the slow part on a CPU. Rank 0 gathers every image's probabilities, puts them back in the
split's order and scores them as one process would: the same numbers, whatever N.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np
import torch

from svhn_xai.data.sources import Subset
from svhn_xai.data.tensors import build_tensors
from svhn_xai.model.classification import presence_scores
from svhn_xai.model.config import TrainConfig
from svhn_xai.model.predict import predict, prediction_scores
from svhn_xai.model.run_data import open_data, source_key
from svhn_xai.shards import Shard, gather


def shard_rows(n: int, batch_size: int, shard: Shard) -> list[int]:
    """The rows of an n-image split that ``shard`` owns: whole batches of ``batch_size``
    consecutive rows, batch b to rank b mod world."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    return [
        row
        for batch in range(math.ceil(n / batch_size))
        if shard.owns(batch)
        for row in range(batch * batch_size, min(n, (batch + 1) * batch_size))
    ]


def score_split(
    model: torch.nn.Module,
    cfg: TrainConfig,
    data: str,
    split: str,
    indices: str | None,
    size: int | None,
    device: torch.device,
    amp: bool = False,
    batch_size: int = 512,
    shard: Shard | None = None,
    tta: bool = False,
) -> dict[str, Any] | None:
    """Balanced accuracy, accuracy, loss and per-digit scores of ``model`` on a split, as
    :func:`svhn_xai.model.train.evaluate` gives them, and ``processes``, the number of ranks that
    shared the work; on ranks other than 0, None.

    Args:
        cfg: the crop (``input_size``, ``margin``), ``root`` of real photos, ``workers``.
        data, split, indices, size: which images (:func:`svhn_xai.model.train.open_data`).
        batch_size: images per predicted batch, and the unit the ranks share out.
        shard: this process's place under torchrun (alone when None).
        tta: also score the mean over :data:`svhn_xai.model.tta.VIEWS` of each image:
            ``balanced_accuracy_tta`` and ``per_digit_tta``, beside the plain scores, which
            never include it.
    """
    shard = shard or Shard()
    source = open_data(cfg, data, split, indices, size, cfg.root)
    rows = shard_rows(len(source), batch_size, shard)
    key = source_key(cfg, data, cfg.root, split, indices, size)
    if shard.distributed:  # each rank caches its own rows
        key["rows"] = {"batch_size": batch_size, "rank": shard.rank, "world": shard.world}
    # the ranks share the machine's cores for cropping, as they share it for predicting
    workers = cfg.workers or max(1, min(os.cpu_count() or 1, 8) // shard.world)
    tensors = build_tensors(
        Subset(source, rows),
        cfg.input_size,
        cfg.margin,
        0.0,
        cfg.seed,
        workers,
        cache_key=key,
        progress=shard.rank == 0,
    )
    predictors = [predict]
    if tta:
        from svhn_xai.model.tta import predict_tta

        predictors.append(predict_tta)
    probs = [np.zeros((0, len(model.digits)), np.float32) for _ in predictors]
    if rows:
        probs = [
            np.concatenate(
                [
                    run(model, tensors.images[start : start + batch_size], device, amp)
                    for start in range(0, len(rows), batch_size)
                ]
            )
            for run in predictors
        ]
    parts = gather(shard, [(rows, tensors.presence.numpy(), *probs)])
    if parts is None:
        return None
    order = np.argsort(np.concatenate([p[0] for p in parts]), kind="stable")
    presence = np.concatenate([p[1] for p in parts])[order]
    plain, *augmented = (
        np.concatenate([p[2 + k] for p in parts])[order] for k in range(len(predictors))
    )
    scores = prediction_scores(plain, presence, model.digits)
    for tta_probs in augmented:
        tta_scores = presence_scores(tta_probs, presence, model.digits)
        scores["balanced_accuracy_tta"] = tta_scores["balanced_accuracy"]
        scores["per_digit_tta"] = tta_scores["per_digit"]
    scores["processes"] = shard.world
    return scores
