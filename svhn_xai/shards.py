"""Work split across the processes ``torchrun`` starts: who owns which batch, and gathering.

Under ``torchrun --nproc_per_node=N`` every process runs the same command; :func:`join` puts it
in the process group (NCCL on CUDA, gloo on the CPU) and returns its :class:`Shard`. Work is cut
into batches by a global index that does not depend on N, and rank r owns the batches whose
index is r modulo N, so that the shards are disjoint, deterministic and together complete.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Shard:
    """This process's place: ``rank`` of ``world`` processes (0 of 1 when run alone)."""

    rank: int = 0
    world: int = 1

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def owns(self, batch: int) -> bool:
        """Whether batch number ``batch`` (a global index) is this process's to do."""
        return batch % self.world == self.rank

    def name(self, path: str | os.PathLike[str]) -> str:
        """``path`` with this shard's suffix (``….rank1-of-2.jsonl``), or as it is alone."""
        path = os.fspath(path)
        if not self.distributed:
            return path
        stem, dot, ext = path.rpartition(".")
        tag = f"rank{self.rank}-of-{self.world}"
        return f"{stem}.{tag}.{ext}" if dot else f"{path}.{tag}"


def join(device: torch.device) -> Shard:
    """Join torchrun's process group when it started several processes (``WORLD_SIZE`` > 1),
    on ``device`` (CUDA ranks each set their own); alone, just ``Shard()``."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return Shard()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    return Shard(dist.get_rank(), dist.get_world_size())


def gather(shard: Shard, items: list[Any]) -> list[Any] | None:
    """Every rank's ``items`` on rank 0, concatenated in rank order (None on the others)."""
    if not shard.distributed:
        return items
    parts: list[Any] | None = [None] * shard.world if shard.rank == 0 else None
    dist.gather_object(items, parts, dst=0)
    return [item for part in parts for item in part] if parts is not None else None


def leave(shard: Shard) -> None:
    """Leave the process group (after the last collective call)."""
    if shard.distributed and dist.is_initialized():
        dist.destroy_process_group()
