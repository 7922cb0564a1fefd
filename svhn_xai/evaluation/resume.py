"""Resuming an interrupted evaluation: the per-pair records already written to its JSONL file,
reused only when they were made under the same conditions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from svhn_xai.errors import SvhnXaiError


class ResumeMismatch(SvhnXaiError):
    """The records of an interrupted run were made under other conditions than this run's."""


def stale(entry: dict[str, Any] | None) -> bool:
    """Whether a resumed method entry must be made again: missing, or from before the records
    carried the IoU_2 curve that MaxBoxAccV2 reads (and, before it, the box densities)."""
    return entry is None or not (entry.get("non_finite") or "iou_2_by_threshold" in entry)


def _load_partial(path: Path) -> list[dict[str, Any]]:
    records = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                break  # a line cut by an interruption: everything before it is good
    return records


def reusable_records(
    conditions: dict[str, Any], path: Path, resume: bool
) -> tuple[dict[tuple[int, int], dict[str, Any]], bool]:
    """Records of an interrupted run at ``path`` that were made under ``conditions``.

    The first line of a partial file states its conditions (checkpoint SHA-256, protocol,
    parameters …); resuming under others raises :class:`ResumeMismatch` naming what differs.
    Returns the reusable records and whether the file already has its header.
    """
    lines = _load_partial(path) if resume else []
    if not lines:
        return {}, False
    head = lines[0].get("conditions")
    if head is None:
        raise ResumeMismatch(
            f"cannot resume from {path.name}: it records no conditions (made by an older "
            "version); run without --resume to start afresh"
        )
    differs = _differences(head, conditions)
    if differs:
        detail = "; ".join(f"{k}: {then!r} then, {now!r} now" for k, then, now in differs)
        raise ResumeMismatch(f"cannot resume from {path.name}, its records differ in {detail}")
    return {(r["index"], r["digit"]): r for r in lines[1:]}, True


def _differences(head: dict[str, Any], now: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(name, then, now) for each condition that differs; the settings method by method, so
    that a moved default names its method rather than printing every method's settings."""
    out = []
    for key in sorted(set(head) | set(now)):
        then, current = head.get(key), now.get(key)
        if key == "params" and isinstance(then, dict) and isinstance(current, dict):
            for method in sorted(set(then) | set(current)):
                if then.get(method) != current.get(method):
                    out.append((f"params of {method}", then.get(method), current.get(method)))
        elif then != current:
            out.append((key, then, current))
    return out
