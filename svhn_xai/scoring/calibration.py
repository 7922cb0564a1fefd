"""Thresholds calibrated per method: each map read at the cut that suits it, chosen elsewhere.

One fixed cut for every method misreads some of them (a 20 % mask cannot cover a digit that
fills 60 % of the crop). As Choe et al. (CVPR 2020) recommend, each method, and each baseline
alike, gets the threshold value that gave it the highest mean IoU_1 on a held-apart labelled
set: images the model never trained on and no table reports (synthetic images, for a model
fine-tuned on the development photos). The result is a small JSON file
beside the checkpoint (``default.pt`` -> ``default.calibration.json``), tied to the
checkpoint's SHA-256 and to the protocol's mode and sigma, made by ``python -m svhn_xai
calibrate``. It is the default reading of ``explain``, ``evaluate`` and the app when no
threshold rule is asked for; an explicit rule applies to every method and baseline alike.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from svhn_xai.data.item import HouseNumber
from svhn_xai.explain import explain_batch
from svhn_xai.model.network import DigitResNet18
from svhn_xai.report.words import images_of
from svhn_xai.scoring.heatmap import normalise, reduce_channels, smooth, threshold
from svhn_xai.scoring.localisation import baseline_maps
from svhn_xai.scoring.metrics import BASELINES, box_mask, iou_pixels
from svhn_xai.scoring.protocol import THRESHOLD_MODES, Protocol


def calibration_path(checkpoint: str | Path) -> Path:
    """Where a checkpoint's calibration lives: beside it, ``NAME.calibration.json``."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.stem + ".calibration.json")


@dataclass(frozen=True)
class Calibration:
    """Per-name threshold values for one protocol's ``mode`` and ``sigma``.

    ``values`` maps a method key or a baseline name to its value (a top-k % for ``topk``);
    ``protocol.value`` serves a name the file does not know (a method added later);
    ``checkpoint_sha256`` is the model they were chosen for; ``made`` says on what (data,
    split, indices, pairs, commit, command), for the record.
    """

    protocol: Protocol
    values: dict[str, float]
    checkpoint_sha256: str
    made: dict[str, Any] = field(default_factory=dict)

    def rule(self, name: str, fallback: Protocol) -> Protocol:
        """``name``'s protocol: its calibrated value, or ``fallback`` for a name not
        calibrated (a method added after the file was made)."""
        if name not in self.values:
            return fallback
        return self.protocol.replace(value=self.values[name])

    def to_dict(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol.to_dict(),
            "values": self.values,
            "checkpoint_sha256": self.checkpoint_sha256,
            **self.made,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Calibration:
        mode, sigma = d["protocol"]["mode"], float(d["protocol"]["sigma"])
        protocol = Protocol(
            mode, float(d["protocol"].get("value", THRESHOLD_MODES[mode].default)), sigma
        )
        made = {k: v for k, v in d.items() if k not in ("protocol", "values", "checkpoint_sha256")}
        values = {k: float(v) for k, v in d["values"].items()}
        return cls(protocol, values, str(d["checkpoint_sha256"]), made)

    def chosen_on(self) -> str:
        """The images the values were chosen on, in words (today's words, whichever the file
        was written with): "synthetic house numbers 1–64 of the generator's extra stream, 150
        (image, digit) pairs"."""
        made = self.made
        if not made.get("data"):
            return made.get("data_description", "development images")
        where = images_of(made["data"], made.get("split"), made.get("indices"))
        return where + (f", {made['n_pairs']} (image, digit) pairs" if made.get("n_pairs") else "")

    def describe(self) -> str:
        """One line for tables and pages."""
        where = self.chosen_on()
        what = {"topk": "share of pixels (top-k %)", "value": "threshold value"}
        return (
            f"each method and baseline cut at its own {what.get(self.protocol.mode, 'threshold')},"
            f" chosen on {where}; maps smoothed at σ {self.protocol.sigma:g} px"
        )


def load_calibration(checkpoint: str | Path, sha256: str) -> tuple[Calibration | None, str]:
    """The checkpoint's calibration, or None and the reason there is none to use (no file, a
    file for another checkpoint, an unreadable file): the caller falls back to the fixed rule
    and says why."""
    path = calibration_path(checkpoint)
    if not path.is_file():
        return None, f"no calibration file for {Path(checkpoint).name}: the fixed rule applies"
    try:
        calibration = Calibration.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        return None, f"{path.name} cannot be read ({exc}): the fixed rule applies"
    if calibration.checkpoint_sha256 != sha256:
        return None, (
            f"{path.name} was made for another checkpoint (SHA-256 differs): the fixed rule "
            "applies; re-make it with `python -m svhn_xai calibrate`"
        )
    return calibration, ""


def calibration_grid(mode: str) -> np.ndarray:
    """The values :func:`calibrate` tries for a threshold mode with a parameter."""
    spec = THRESHOLD_MODES[mode]
    if spec.param is None:
        raise ValueError(f"threshold mode {mode!r} has no parameter to calibrate")
    if mode == "topk":  # up to the whole image, so that no choice sits at the grid's edge
        return np.array([1.0, 2, 3, 5, 7, 10, 15, 20, 25, 30, 40, 50, 60, 70, 80, 90, 100])
    return np.round(np.arange(spec.low, spec.high, 0.05), 2)


def _iou_1_over_grid(
    relevance: np.ndarray, boxes: np.ndarray, protocol: Protocol, grid: np.ndarray
) -> np.ndarray:
    """IoU_1 of one raw map (H, W) at each grid value of ``protocol.mode``: (len(grid),)."""
    heat = normalise(smooth(relevance, protocol.sigma))
    truth = box_mask(boxes, heat.shape)
    return np.array([iou_pixels(threshold(heat, protocol.mode, v).mask, truth) for v in grid])


def calibrate(
    model: DigitResNet18,
    items: Sequence[HouseNumber],
    methods: Sequence[str],
    protocol: Protocol,
    digits: Sequence[int] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch_size: int = 32,
) -> dict[str, Any]:
    """Choose each method's and each baseline's threshold value for ``protocol``'s mode (and
    sigma): the grid value (:func:`calibration_grid`) with the highest mean IoU_1 over every
    (image, digit present) pair of ``items``, the maps made in batches of ``batch_size``. The
    items must be disjoint from those the values are then applied to; nothing here looks at
    those. A non-finite map is left out of its method's mean.

    Returns ``{"values": {name: value}, "grid", "mean_iou_1": {name: [...]}, "n_pairs",
    "protocol"}``.
    """
    params = params or {}
    grid = calibration_grid(protocol.mode)
    digits = tuple(digits) if digits is not None else model.digits
    pairs = [(i, d) for i in range(len(items)) for d in sorted(set(items[i].labels)) if d in digits]
    names = [*methods, *BASELINES]
    totals = {name: np.zeros(len(grid)) for name in names}
    counts = dict.fromkeys(names, 0)
    for start in range(0, len(pairs), batch_size):
        batch = [(items[i], d) for i, d in pairs[start : start + batch_size]]
        images, targets = [item.image for item, _ in batch], [d for _, d in batch]
        maps: list[dict[str, np.ndarray]] = [
            dict(baseline_maps(item.boxes_of(d), item.image.shape[:2])) for item, d in batch
        ]
        for key in methods:
            for pair_maps, e in zip(
                maps, explain_batch(model, images, targets, key, **params.get(key, {}))
            ):
                if e.finite:
                    pair_maps[key] = reduce_channels(e.attribution, e.reduction)
        for (item, d), pair_maps in zip(batch, maps):
            for name, relevance in pair_maps.items():
                totals[name] += _iou_1_over_grid(relevance, item.boxes_of(d), protocol, grid)
                counts[name] += 1
        if progress is not None:
            progress(min(start + batch_size, len(pairs)), len(pairs))
    means = {k: (totals[k] / max(counts[k], 1)).tolist() for k in names}
    return {
        "values": {k: float(grid[int(np.argmax(means[k]))]) for k in names if counts[k]},
        "grid": grid.tolist(),
        "mean_iou_1": means,
        "n_pairs": len(pairs),
        "protocol": protocol.to_dict(),
    }
