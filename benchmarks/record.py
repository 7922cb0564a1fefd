"""Write a benchmark's measurements to ``results/NAME.json`` with their provenance.

The docs' tables are generated from these files (``python -m benchmarks.docs``), so every
number a benchmark prints for the docs is also saved here, beside the command, commit,
checkpoint SHA-256 and machine that produced it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from svhn_xai.model.checkpoint import REPO_ROOT
from svhn_xai.provenance import git_commit, provenance

RESULTS = REPO_ROOT / "results"
# the code that is measured: taken when the benchmark imports this module, at its start, so
# that an edit of the working tree during a long run does not mark the results "-dirty"
COMMIT_AT_START = git_commit()


def default_path(name: str) -> Path:
    """Where a benchmark's results go unless ``--out`` says otherwise: ``results/NAME.json``."""
    return RESULTS / f"{name}.json"


def save(
    path: str | os.PathLike[str],
    measurements: dict[str, Any],
    checkpoint: str | os.PathLike[str] | None = None,
) -> Path:
    """Write ``{"provenance": ..., **measurements}`` as indented JSON to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "provenance": provenance(checkpoint=checkpoint, commit=COMMIT_AT_START),
        **measurements,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")
    return path
