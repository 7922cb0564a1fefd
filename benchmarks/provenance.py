"""Where a measurement comes from: command, commit, checkpoint and machine, for results/*.json."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


def provenance(checkpoint: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The command line, git commit, the checkpoint's SHA-256 and the machine (CPU model,
    logical cores, torch version and threads, load average when the record is written)."""
    record: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "git_commit": _git_commit(),
        "machine": {
            "cpu": _cpu_model(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(),
            # a shared machine's timings mean little without how busy it was
            "load_average_1_5_15_min": list(os.getloadavg()),
        },
    }
    if checkpoint is not None:
        record["checkpoint"] = str(checkpoint)
        record["checkpoint_sha256"] = hashlib.sha256(Path(checkpoint).read_bytes()).hexdigest()
    return record
