"""Where a number came from: the command, the commit, the checkpoint and the machine.

Every results file (``results/*.json``, a model card) carries one ``provenance`` block, so a
figure in the docs can be traced to the run that measured it and a reader can tell whether two
timings were taken on the same machine.
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from svhn_xai.model.checkpoint import REPO_ROOT


def git_commit() -> str | None:
    """The repository's HEAD commit, suffixed ``-dirty`` when tracked files differ from it;
    None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_features() -> list[str]:
    """The vector extensions that decide CPU speed here (AVX2 vs AVX-512, native bf16)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((ln.split(":", 1)[1].split() for ln in text.splitlines() if "flags" in ln), [])
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    return [f for f in wanted if f in flags]


def machine() -> dict[str, Any]:
    """CPU model, its vector extensions, cores usable by this process, torch's thread count,
    the accelerator if any, and the versions of Python and torch."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 0
    return {
        "cpu": _cpu_model(),
        "cpu_features": _cpu_features(),
        "cores": cores,
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": str(torch.__version__),
        "python": platform.python_version(),
        "os": platform.platform(terse=True),
    }


def shown_path(path: str | os.PathLike[str]) -> str:
    """The path relative to the repository when inside it, else its name: no server paths in
    results files or JSON output."""
    try:
        return str(Path(path).resolve().relative_to(REPO_ROOT))
    except ValueError:
        return Path(path).name


def shown_arguments(args: Iterable[str]) -> list[str]:
    """``args`` with each absolute path (alone, or after ``--flag=``) as :func:`shown_path`:
    ``--root /srv/data/svhn`` is recorded as ``--root svhn``."""

    def shown(arg: str) -> str:
        flag, eq, value = arg.partition("=")
        if not (eq and flag.startswith("-")):
            flag, eq, value = "", "", arg
        return flag + eq + shown_path(value) if os.path.isabs(value) else arg

    return [shown(arg) for arg in args]


def command_line() -> str:
    """This process's command line as it was typed: ``python -m x …`` for a module, whose
    ``sys.argv[0]`` would otherwise be the module file's full path on this server, with the
    arguments' absolute paths as :func:`shown_arguments` records them."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name:  # python -m pkg runs pkg.__main__
        argv = ["-m", spec.name.removesuffix(".__main__"), *sys.argv[1:]]
    else:
        argv = list(sys.argv)
    return " ".join(["python", *shown_arguments(argv)])


def provenance(
    command: str | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    commit: str | None = None,
) -> dict[str, Any]:
    """The provenance block of a results file.

    ``command`` defaults to this process's own command line (``python -m x`` for a module).
    ``checkpoint``, when a model was used, is recorded by its path inside the repository and
    its SHA-256, which identifies the weights whatever the file is called. ``commit``, taken
    when the work started, defaults to the working tree's now.
    """
    block: dict[str, Any] = {
        "command": command or command_line(),
        "commit": commit or git_commit(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
    }
    if checkpoint is not None:
        path = Path(checkpoint)
        block["checkpoint"] = {"path": shown_path(path), "sha256": file_sha256(path)}
    return block
