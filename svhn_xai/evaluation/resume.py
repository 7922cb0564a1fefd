"""Resuming an interrupted evaluation: the per-pair records already written to its JSONL file,
reused only when they were made under the same conditions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svhn_xai.errors import SvhnXaiError
from svhn_xai.explain import REGISTRY


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


@dataclass
class Resumed:
    """What an interrupted run left that this one can use.

    Attributes:
        records: per (index, digit), the pair's record, without the entries of ``moved``
            methods (they are made again).
        sanity: per method, its randomisation-check result for ``sanity_images`` images.
        sanity_images: how many images those results were checked on.
        moved: methods whose settings differ from the records' (a default moved, or others
            were given): their records and sanity results are not reused.
        header: whether the file already starts with this run's conditions.
    """

    records: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    sanity: dict[str, Any] = field(default_factory=dict)
    sanity_images: int = 0
    moved: tuple[str, ...] = ()
    header: bool = False


def reusable_records(conditions: dict[str, Any], path: Path, resume: bool) -> Resumed:
    """The records of an interrupted run at ``path`` that were made under ``conditions``.

    The first line of a partial file states its conditions (checkpoint SHA-256, protocol,
    every method's settings …). Resuming under another checkpoint, protocol or imputation
    raises :class:`ResumeMismatch` naming what differs. Where only some methods' settings
    differ, the other methods' records are reused and those methods are made again: the file
    is rewritten under the new conditions without their entries, so that it always holds
    what its first line says.
    """
    lines = _load_partial(path) if resume else []
    if not lines:
        return Resumed()
    head = lines[0].get("conditions")
    if head is None:
        raise ResumeMismatch(
            f"cannot resume from {path.name}: it records no conditions (made by an older "
            "version); run without --resume to start afresh"
        )
    differs = _differences(head, conditions)
    # a method's own settings or calibrated threshold: that method is made again; anything
    # else (a baseline's threshold included: every record holds the baselines) is fatal
    fatal = [d for d in differs if _method_of(d[0]) is None]
    if fatal:
        detail = "; ".join(f"{k}: {then!r} then, {now!r} now" for k, then, now in fatal)
        raise ResumeMismatch(f"cannot resume from {path.name}, its records differ in {detail}")
    moved = tuple(dict.fromkeys(_method_of(k) for k, _, _ in differs))
    out = Resumed(moved=moved, header=True)
    for line in lines[1:]:
        if "sanity" in line:
            kept = {m: r for m, r in line["sanity"]["methods"].items() if m not in moved}
            if line["sanity"]["images"] != out.sanity_images:
                out.sanity = {}  # a later check on another number of images replaces it
            out.sanity.update(kept)
            out.sanity_images = line["sanity"]["images"]
            line["sanity"]["methods"] = kept
        else:
            for m in moved:
                line["methods"].pop(m, None)
            out.records[line["index"], line["digit"]] = line
    if moved:
        rest = [line for line in lines[1:] if "sanity" not in line or line["sanity"]["methods"]]
        text = [json.dumps({"conditions": conditions}), *(json.dumps(line) for line in rest)]
        path.write_text("\n".join(text) + "\n")
    return out


def sanity_line(images: int, result: dict[str, Any]) -> str:
    """A partial file's line holding randomisation-check results, per method, on ``images``."""
    return json.dumps({"sanity": {"images": images, **result}})


def _method_of(difference: str) -> str | None:
    """The method a difference of :func:`_differences` is about ("params of lime", "calibrated
    of lime"), or None when it is about the whole run or a baseline."""
    for prefix in ("params of ", "calibrated of "):
        name = difference.removeprefix(prefix)
        if name != difference and name in REGISTRY:
            return name
    return None


def _differences(head: dict[str, Any], now: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(name, then, now) for each condition that differs; the settings method by method, so
    that a moved default names its method rather than printing every method's settings."""
    out = []
    for key in sorted(set(head) | set(now)):
        then, current = head.get(key), now.get(key)
        if key in ("params", "calibrated") and isinstance(then, dict) and isinstance(current, dict):
            for method in sorted(set(then) | set(current)):
                if then.get(method) != current.get(method):
                    out.append((f"{key} of {method}", then.get(method), current.get(method)))
        elif then != current:
            out.append((key, then, current))
    return out
