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

from svhn_xai.checkpoint import REPO_ROOT
from svhn_xai.provenance import provenance

RESULTS = REPO_ROOT / "results"


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
    payload = {"provenance": provenance(checkpoint=checkpoint), **measurements}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")
    return path
