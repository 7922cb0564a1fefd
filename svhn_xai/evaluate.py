"""Dataset-level evaluation: which explainer finds the digit, how faithful it is, and whether it
depends on the model at all.

- Localisation: for every image and every target digit present in it, each method's heatmap is
  scored (:func:`svhn_xai.localisation.localise`) and so are the baselines, identically.
- Faithfulness: deletion and insertion curves (Petsiuk et al. 2018): pixels are removed from
  the image (or inserted into a blurred copy) in order of relevance, and the digit's probability
  is tracked; the areas under the curves summarise them (deletion: lower is better).
- Sanity: cascading model-parameter randomisation (Adebayo et al. 2018): layers are re-initialised
  from the head down and the Spearman correlation of each method's map with the original one is
  tracked; a method whose maps barely change does not explain the model.

Per-image records are appended to a JSONL file as they are made, so an interrupted run resumes.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from svhn_xai.data.item import HouseNumber
from svhn_xai.explain import REGISTRY, explain
from svhn_xai.explain.references import gaussian_blur
from svhn_xai.localisation import localise
from svhn_xai.metrics import BASELINES
from svhn_xai.model import DigitResNet18

SCORES = ("iou_1", "iou_2", "pointing_game", "relevance_mass", "auc_iou_1", "auc_iou_2")
FLAT_THRESHOLD = 0.5  # mean rank correlation above this after full randomisation: flagged


def mean_ci(values: Sequence[float]) -> dict[str, float | int]:
    """Mean and the half-width of its normal-approximation 95 % confidence interval."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return {"mean": float("nan"), "ci95": float("nan"), "n": 0}
    half = 1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return {"mean": float(v.mean()), "ci95": float(half), "n": int(len(v))}


def _x(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.copy()).permute(2, 0, 1).float().div(255)[None]


def deletion_insertion(
    model: DigitResNet18, image: np.ndarray, heat: np.ndarray, digit: int, steps: int = 16
) -> dict[str, Any]:
    """Probability of ``digit`` as the hottest pixels are deleted (set to black) or inserted
    (into a blurred copy), in ``steps`` equal slices; one batched pass per curve.

    Returns ``{"fractions", "deletion", "insertion", "auc_deletion", "auc_insertion"}``.
    """
    x = _x(image)
    order = np.argsort(-heat.ravel(), kind="stable")
    n = heat.size
    fractions = np.linspace(0, 1, steps + 1)
    blurred = gaussian_blur(x, x.shape[-1] / 8)
    deleted, inserted = [], []
    for f in fractions:
        keep = torch.ones(n)
        keep[torch.from_numpy(order[: int(round(f * n))].copy())] = 0
        keep = keep.view(1, 1, *heat.shape)
        deleted.append(x * keep)
        inserted.append(blurred * keep + x * (1 - keep))
    head = model.head(digit)
    with torch.no_grad():
        p_del = torch.sigmoid(model(torch.cat(deleted))[:, head]).numpy()
        p_ins = torch.sigmoid(model(torch.cat(inserted))[:, head]).numpy()
    return {
        "fractions": fractions.tolist(),
        "deletion": p_del.tolist(),
        "insertion": p_ins.tolist(),
        "auc_deletion": float(np.trapezoid(p_del, fractions)),
        "auc_insertion": float(np.trapezoid(p_ins, fractions)),
    }


def image_record(
    model: DigitResNet18,
    item: HouseNumber,
    index: int,
    digit: int,
    methods: Sequence[str],
    mode: str,
    value: float,
    params: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Everything measured on one (image, digit): per method and per baseline."""
    params = params or {}
    boxes = item.boxes_of(digit)
    record: dict[str, Any] = {"index": index, "digit": digit, "methods": {}, "baselines": {}}
    for key in methods:
        e = explain(model, item.image, digit, key, **params.get(key, {}))
        r = localise(e, boxes, mode, value, curve=True)
        heat = e.heatmap()
        curve = r.pop("curve")
        best = int(np.argmax(curve["iou_1"]))
        record["probability"] = e.probability
        record["methods"][key] = {
            **{k: r[k] for k in ("iou_1", "iou_2", "pointing_game", "relevance_mass")},
            "empty_mask": r["empty_mask"],
            "auc_iou_1": curve["auc_iou_1"],
            "auc_iou_2": curve["auc_iou_2"],
            "best_threshold": curve["thresholds"][best],
            "best_iou_1": curve["iou_1"][best],
            "curve_iou_1": curve["iou_1"],
            "curve_iou_2": curve["iou_2"],
            "seconds": e.seconds,
            **deletion_insertion(model, item.image, heat, digit),
        }
        record["baselines"] = r["baselines"]
    return record


def _load_partial(path: Path) -> list[dict[str, Any]]:
    records = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                break  # a line cut by an interruption: everything before it is good
    return records


def summarise(records: list[dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
    """Means with 95 % CIs per method and baseline, also split by correct/incorrect."""

    def block(rows: list[dict[str, Any]], key: str, source: str) -> dict[str, Any]:
        picked = [r[source][key] for r in rows if key in r[source]]
        out: dict[str, Any] = {}
        for score in (*SCORES, "best_iou_1", "auc_deletion", "auc_insertion", "seconds"):
            values = [p[score] for p in picked if score in p]
            if values:
                stats = mean_ci(values)
                out[score] = stats["mean"]
                out[f"{score}_ci95"] = stats["ci95"]
        if picked and "best_threshold" in picked[0]:
            out["best_threshold"] = float(np.median([p["best_threshold"] for p in picked]))
            out["curve_iou_1"] = np.mean([p["curve_iou_1"] for p in picked], 0).tolist()
            out["curve_iou_2"] = np.mean([p["curve_iou_2"] for p in picked], 0).tolist()
            out["deletion"] = np.mean([p["deletion"] for p in picked], 0).tolist()
            out["insertion"] = np.mean([p["insertion"] for p in picked], 0).tolist()
            out["seconds_per_image"] = out.get("seconds")
        out["n"] = len(picked)
        return out

    correct = [r for r in records if r.get("probability", 0) >= 0.5]
    wrong = [r for r in records if r.get("probability", 0) < 0.5]
    summary: dict[str, Any] = {"n_images": len({r["index"] for r in records}),
                               "n_pairs": len(records), "methods": {}, "baselines": {}}  # fmt: skip
    for key in methods:
        summary["methods"][key] = block(records, key, "methods")
        summary["methods"][key]["correct"] = block(correct, key, "methods")
        summary["methods"][key]["incorrect"] = block(wrong, key, "methods")
    for name in BASELINES:
        summary["baselines"][name] = block(records, name, "baselines")
    return summary


def evaluate_localisation(
    model: DigitResNet18,
    items: Sequence[HouseNumber],
    methods: Sequence[str],
    digits: Sequence[int] | None = None,
    mode: str = "value",
    value: float = 0.5,
    limit: int | None = None,
    partial: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Score ``methods`` on every (image, digit present) pair of ``items``.

    Args:
        items: model inputs (boxes in model-input pixels), in a fixed order.
        digits: the target digits to consider (default: all the model has heads for).
        limit: use the first ``limit`` images only.
        partial: JSONL file of per-pair records; records already there are reused (resume).
        progress: called with (pairs done, pairs in all).
    """
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown methods: {', '.join(unknown)}")
    digits = tuple(digits) if digits is not None else model.digits
    count = min(limit or len(items), len(items))
    pairs = [(i, d) for i in range(count) for d in sorted(set(items[i].labels)) if d in digits]
    path = Path(partial) if partial is not None else None
    done = {(r["index"], r["digit"]): r for r in _load_partial(path)} if path else {}
    records = []
    out = open(path, "a") if path else None  # noqa: SIM115  (closed in finally)
    try:
        for n, (i, d) in enumerate(pairs):
            record = done.get((i, d))
            if record is None or any(m not in record["methods"] for m in methods):
                record = image_record(model, items[i], i, d, methods, mode, value, params)
                if out is not None:
                    out.write(json.dumps(record) + "\n")
                    out.flush()
            records.append(record)
            if progress is not None:
                progress(n + 1, len(pairs))
    finally:
        if out is not None:
            out.close()
    summary = summarise(records, methods)
    summary.update({"threshold_mode": mode, "threshold": value, "digits": list(digits)})
    return summary


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra = np.argsort(np.argsort(a.ravel())).astype(np.float64)
    rb = np.argsort(np.argsort(b.ravel())).astype(np.float64)
    if ra.std() == 0 or rb.std() == 0:
        return 0.0
    return float(np.corrcoef(ra, rb)[0, 1])


RANDOMISATION_ORDER = ("fc", "layer4", "layer3", "layer2", "layer1", "conv1")


def randomisation_check(
    model: DigitResNet18,
    items: Sequence[tuple[np.ndarray, int]],
    methods: Sequence[str],
    seed: int = 0,
    params: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Cascading randomisation: mean Spearman correlation of each method's map with the
    trained model's map after re-initialising the layers from the head down.

    ``items`` are (model-input image, digit) pairs. Returns ``{"layers": [...], "methods":
    {key: {"correlation": [...], "flagged": bool}}}``; flagged when the correlation after the
    last layer is still above :data:`FLAT_THRESHOLD`.
    """
    params = params or {}
    original = {m: [explain(model, im, d, m, **params.get(m, {})).heatmap() for im, d in items]
                for m in methods}  # fmt: skip
    scrambled = copy.deepcopy(model)
    torch.manual_seed(seed)
    result: dict[str, Any] = {"layers": list(RANDOMISATION_ORDER), "methods": {}}
    correlations: dict[str, list[float]] = {m: [] for m in methods}
    for name in RANDOMISATION_ORDER:
        for module in getattr(scrambled, name).modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
            if isinstance(module, torch.nn.BatchNorm2d):
                # a freshly reset BatchNorm is the identity; give it random statistics instead
                with torch.no_grad():
                    module.weight.uniform_(0.5, 1.5)
                    module.bias.uniform_(-0.5, 0.5)
        scrambled.eval()
        for m in methods:
            maps = [explain(scrambled, im, d, m, **params.get(m, {})).heatmap() for im, d in items]
            rho = [_spearman(a, b) for a, b in zip(original[m], maps)]
            correlations[m].append(float(np.mean(rho)))
    for m in methods:
        result["methods"][m] = {
            "correlation": correlations[m],
            "flagged": correlations[m][-1] > FLAT_THRESHOLD,
        }
    return result
