"""Dataset-level evaluation: which explainer finds the digit, how faithful it is, and whether it
depends on the model at all.

- Localisation: for every image and every target digit present in it, each method's heatmap is
  scored (:func:`svhn_xai.localisation.localise`) and so are the baselines, identically.
- Faithfulness (:mod:`svhn_xai.faithfulness`): deletion and insertion curves under two
  imputations (black, blur), and ROAD on request; for methods and baselines alike.
- Sanity: cascading model-parameter randomisation (Adebayo et al. 2018): layers are re-initialised
  from the head down to the stem and the Spearman correlation of each method's map with the
  original one is tracked; a method whose maps barely change does not explain the model.

Every metric's direction is in :data:`DIRECTIONS`; summaries carry them as ``"directions"``.
Per-image records are appended to a JSONL file as they are made, so an interrupted run resumes
(under the same conditions only).
"""

from __future__ import annotations

import copy
import json
import os
import resource
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from svhn_xai.class_sensitivity import box_density
from svhn_xai.class_sensitivity import from_records as class_sensitivity
from svhn_xai.data.item import HouseNumber
from svhn_xai.errors import SvhnXaiError
from svhn_xai.explain import REGISTRY, explain, explain_batch
from svhn_xai.faithfulness import DIRECTIONS as FAITHFULNESS_DIRECTIONS
from svhn_xai.faithfulness import faithfulness_groups
from svhn_xai.heatmap import normalise, reduce_channels, smooth
from svhn_xai.localisation import baseline_maps, resolve_protocol, score_maps
from svhn_xai.metrics import BASELINES, score
from svhn_xai.metrics import DIRECTIONS as METRIC_DIRECTIONS
from svhn_xai.model import DigitResNet18
from svhn_xai.protocol import THRESHOLD_MODES, Protocol
from svhn_xai.shards import Shard, gather

SCORES = (
    "iou_1",
    "iou_2",
    "pointing_game",
    "pointing_game_tolerant",
    "relevance_mass",
    "rank_accuracy",
    "auc_iou_1",
    "auc_iou_2",
    "oracle_iou_1",
    "oracle_iou_2",
    "active_fraction",
)
FAITHFULNESS_SCORES = tuple(FAITHFULNESS_DIRECTIONS)
# pairs explained together by default (evaluate --batch-size): on a CPU a gradient pass costs
# ~8.5 ms an image in batches of 16, ~7 ms in 32, ~8 ms in 64; see
# benchmarks/evaluate_throughput.py, whose peak memory stays well under 4 GB
BATCH_SIZE = 32
DIRECTIONS: dict[str, str] = {**METRIC_DIRECTIONS, **FAITHFULNESS_DIRECTIONS}
FLAT_THRESHOLD = 0.5  # mean rank correlation above this after full randomisation: flagged


class ResumeMismatch(SvhnXaiError):
    """The records of an interrupted run were made under other conditions than this run's."""


def mean_ci(values: Sequence[float]) -> dict[str, float | int]:
    """Mean and the half-width of its normal-approximation 95 % confidence interval."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return {"mean": float("nan"), "ci95": float("nan"), "n": 0}
    half = 1.96 * v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else float("nan")
    return {"mean": float(v.mean()), "ci95": float(half), "n": int(len(v))}


def _x(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.copy()).permute(2, 0, 1).float().div(255)[None]


def _row(scores: dict[str, Any], faith: dict[str, Any]) -> dict[str, Any]:
    """One method's or baseline's record: scores, IoU curves and faithfulness, the same keys
    for both (the curves are summarised, not stored per pair, apart from the IoU ones)."""
    curve = scores["curve"]
    return {
        **{k: scores[k] for k in SCORES if k in scores},
        **{k: curve[k] for k in ("auc_iou_1", "auc_iou_2", "oracle_iou_1", "oracle_iou_2")},
        "empty_mask": scores["empty_mask"],
        "oracle_threshold": curve["oracle_threshold"],
        "curve_iou_1": curve["iou_1"],
        "curve_iou_2": curve["iou_2"],
        **{k: v for k, v in faith.items() if k != "curves"},
        "faithfulness_curves": faith["curves"],
    }


def pair_records(
    model: DigitResNet18,
    pairs: Sequence[tuple[int, HouseNumber, int]],
    methods: Sequence[str],
    protocol: Protocol,
    params: dict[str, dict[str, Any]] | None = None,
    road_too: bool = False,
    calibrated: dict[str, float] | None = None,
    steps: int = 16,
    curves: bool = True,
) -> list[dict[str, Any]]:
    """Everything measured on each (index, item, digit) of ``pairs``: per method and per
    baseline, by the same computation. A method whose map is not finite is recorded as
    ``{"non_finite": true}``. ``calibrated`` maps a method or baseline to its threshold value
    chosen elsewhere (:func:`calibrate`); the others use ``protocol`` as it is.

    Each method explains all the pairs in one :func:`~svhn_xai.explain.explain_batch` call, and
    the faithfulness curves of every map of every pair share model passes
    (:func:`faithfulness_groups`); ``curves=False`` leaves the curves out (localisation only).
    A record does not depend on which other pairs share its batch, up to float rounding.
    """
    params = params or {}
    calibrated = calibrated or {}

    def rule(name: str) -> Protocol:
        return protocol.replace(value=calibrated[name]) if name in calibrated else protocol

    records = [
        {"index": index, "digit": digit, "methods": {}, "baselines": {}}
        for index, _, digit in pairs
    ]
    maps: list[list[tuple[str, str, np.ndarray, dict[str, Any]]]] = [[] for _ in pairs]
    images = [item.image for _, item, _ in pairs]
    digits = [digit for _, _, digit in pairs]
    for key in methods:
        explanations = explain_batch(model, images, digits, key, **params.get(key, {}))
        for record, pair_maps, (_, item, _), e in zip(records, maps, pairs, explanations):
            record["probability"] = e.probability
            if not e.finite:
                record["methods"][key] = {"non_finite": True, "seconds": e.seconds}
                continue
            extra = {"seconds": e.seconds, "box_density": _densities(e.heatmap(), item)}
            pair_maps.append(("methods", key, reduce_channels(e.attribution, e.reduction), extra))
    for pair_maps, (_, item, digit) in zip(maps, pairs):
        for name, relevance in baseline_maps(item.boxes_of(digit), item.image.shape[:2]).items():
            density = _densities(normalise(relevance), item)
            pair_maps.append(("baselines", name, relevance, {"box_density": density}))
    if curves:
        groups = [
            (_x(item.image), [m[2] for m in pair_maps], digit)
            for pair_maps, (_, item, digit) in zip(maps, pairs)
        ]
        faith = faithfulness_groups(model, groups, road_too, steps=steps)
    else:
        faith = [[{"curves": {}} for _ in pair_maps] for pair_maps in maps]
    for record, pair_maps, pair_faith, (_, item, digit) in zip(records, maps, faith, pairs):
        relevances, rules = [m[2] for m in pair_maps], [rule(m[1]) for m in pair_maps]
        every = score_maps(relevances, item.boxes_of(digit), rules, curve=True)
        for (section, key, _, extra), scores, f in zip(pair_maps, every, pair_faith):
            record[section][key] = {**_row(scores, f), **extra}
    return records


def _densities(heat: np.ndarray, item: HouseNumber) -> dict[str, float]:
    """For class sensitivity: the mean heat of one digit's map inside the boxes of every digit
    of the photo, ``{"D": density}``."""
    return {str(d): box_density(heat, item.boxes_of(d)) for d in sorted(set(item.labels))}


def _stale(entry: dict[str, Any] | None) -> bool:
    """Whether a resumed method entry must be made again: missing, or from before the records
    carried the box densities that class sensitivity reads."""
    return entry is None or not (entry.get("non_finite") or "box_density" in entry)


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
    """Means with 95 % CIs per method and baseline (the same columns for both), also split by
    correct/incorrect prediction; non-finite maps are counted, never averaged in."""

    def block(rows: list[dict[str, Any]], key: str, source: str) -> dict[str, Any]:
        present = [r[source][key] for r in rows if key in r[source]]
        picked = [p for p in present if not p.get("non_finite")]
        out: dict[str, Any] = {}
        for key_ in (*SCORES, *FAITHFULNESS_SCORES, "seconds"):
            values = [p[key_] for p in picked if key_ in p]
            if values:
                stats = mean_ci(values)
                out[key_] = stats["mean"]
                out[f"{key_}_ci95"] = stats["ci95"]
        if picked:
            out["oracle_threshold_median"] = float(
                np.median([p["oracle_threshold"] for p in picked])
            )
            out["curve_iou_1"] = np.mean([p["curve_iou_1"] for p in picked], 0).tolist()
            out["curve_iou_2"] = np.mean([p["curve_iou_2"] for p in picked], 0).tolist()
            curves: dict[str, dict[str, list[float]]] = {}
            for kind, first in picked[0]["faithfulness_curves"].items():
                curves[kind] = {
                    k: np.mean([p["faithfulness_curves"][kind][k] for p in picked], 0).tolist()
                    for k in first
                }
            out["faithfulness_curves"] = curves
            if curves:  # the figure's two curves: deletion to black, insertion into a blur
                out["deletion"] = curves["black"]["deletion"]
                out["insertion"] = curves["blur"]["insertion"]
            if "seconds" in out:
                out["seconds_per_image"] = out["seconds"]
        out["n"] = len(picked)
        out["n_non_finite"] = len(present) - len(picked)
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
    present = {k for row in summary["baselines"].values() for k in row}
    summary["directions"] = {k: v for k, v in DIRECTIONS.items() if k in present}
    return summary


def _header(
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
    differs = [k for k in sorted(set(head) | set(conditions)) if head.get(k) != conditions.get(k)]
    if differs:
        detail = "; ".join(f"{k}: {head.get(k)!r} then, {conditions.get(k)!r} now" for k in differs)
        raise ResumeMismatch(f"cannot resume from {path.name}, its records differ in {detail}")
    return {(r["index"], r["digit"]): r for r in lines[1:]}, True


def evaluate_localisation(
    model: DigitResNet18,
    items: Sequence[HouseNumber],
    methods: Sequence[str],
    digits: Sequence[int] | None = None,
    protocol: Protocol | str | None = None,
    value: float | None = None,
    limit: int | None = None,
    partial: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    *,
    sigma: float | None = None,
    road_too: bool = False,
    checkpoint_sha256: str | None = None,
    resume: bool = True,
    calibrated: dict[str, float] | None = None,
    steps: int = 16,
    batch_size: int = 1,
    curves: bool = True,
    shard: Shard | None = None,
) -> dict[str, Any] | None:
    """Score ``methods`` on every (image, digit present) pair of ``items``.

    Args:
        items: model inputs (boxes in model-input pixels), in a fixed order; a source with a
            ``labels(i)`` method names item ``i``'s digits without decoding its photo.
        digits: the target digits to consider (default: all the model has heads for).
        protocol, value, sigma: the mask rule (default :data:`DEFAULT_PROTOCOL`, see
            :func:`svhn_xai.localisation.resolve_protocol`).
        limit: use the first ``limit`` images only.
        partial: JSONL file of per-pair records, headed by the conditions they were made under
            (checkpoint SHA-256, protocol, parameters, faithfulness); with ``resume`` the
            records of an interrupted run are reused when its conditions are these, and
            :class:`ResumeMismatch` is raised, naming what differs, when they are not.
        progress: called with (pairs done, pairs in all).
        road_too: also ROAD MoRF/LeRF for every map (a sparse solve per map and fraction).
        checkpoint_sha256: the model file's digest, recorded and checked on resume.
        calibrated: per method/baseline threshold values chosen on other images
            (:func:`calibrate`), applied unchanged.
        steps: slices of the deletion and insertion curves.
        batch_size: pairs explained together (:func:`pair_records`); batches are cut by
            global pair index, so their make-up does not depend on the number of processes.
        curves: False: no faithfulness curves (localisation scores only, far cheaper).
        shard: under torchrun, this process's :class:`~svhn_xai.shards.Shard`: it does the
            batches it owns, writes its records to its own ``partial`` file (resumable on its
            own), and rank 0 gathers every rank's records into the one leaderboard.

    Returns the leaderboard (:func:`summarise`) with ``class_sensitivity`` per method over the
    photos with >= 2 different evaluated digits, from the same maps (no second pass); None on
    ranks other than 0.
    """
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown:
        raise ValueError(f"unknown methods: {', '.join(unknown)}")
    if batch_size < 1:
        raise ValueError(f"batch size must be at least 1, got {batch_size}")
    rule = resolve_protocol(protocol, value, sigma)
    shard = shard or Shard()
    digits = tuple(digits) if digits is not None else model.digits
    count = min(limit or len(items), len(items))
    # A source that knows its labels without decoding (SVHN's digitStruct) is read once per
    # photo, in the batch that needs it; any other is read once here and its items kept until
    # their last pair is done, instead of being read again for every pair.
    # Both ways, items enter ``read`` in photo order, so the finished ones are at its front.
    read: dict[int, HouseNumber] = {}
    known = getattr(items, "labels", None)

    def labels(i: int) -> tuple[int, ...]:
        if known is not None:
            return known(i)
        read[i] = items[i]
        return read[i].labels

    pairs = [(i, d) for i in range(count) for d in sorted(set(labels(i))) if d in digits]
    conditions = {
        "checkpoint_sha256": checkpoint_sha256,
        "protocol": rule.to_dict(),
        "params": params or {},
        "road": road_too,
        "calibrated": calibrated or {},
        **({"steps": steps} if steps != 16 else {}),
        **({} if curves else {"curves": False}),
    }
    path = Path(shard.name(partial)) if partial is not None else None
    done, has_header = _header(conditions, path, resume) if path else ({}, False)
    records = []
    out = None
    if path is not None:
        if not has_header:
            path.write_text(json.dumps({"conditions": conditions}) + "\n")
        out = open(path, "a")  # noqa: SIM115  (closed in finally)
    tic = time.perf_counter()
    batches = range(0, len(pairs), batch_size)
    mine = [start for b, start in enumerate(batches) if shard.owns(b)]
    total = sum(len(pairs[start : start + batch_size]) for start in mine)
    try:
        for start in mine:
            batch = pairs[start : start + batch_size]
            kept = {
                pair: done[pair]
                for pair in batch
                if pair in done and not any(_stale(done[pair]["methods"].get(m)) for m in methods)
            }
            needed = dict.fromkeys(i for i, d in batch if (i, d) not in kept)
            read.update({i: items[i] for i in needed if i not in read})
            fresh = [(i, read[i], d) for i, d in batch if (i, d) not in kept]
            made = pair_records(
                model, fresh, methods, rule, params, road_too, calibrated, steps, curves
            )
            for record in made:
                kept[record["index"], record["digit"]] = record
                if out is not None:
                    out.write(json.dumps(record) + "\n")
            if out is not None:
                out.flush()
            records += [kept[pair] for pair in batch]
            while read and next(iter(read)) < batch[-1][0]:  # every pair of that photo done
                del read[next(iter(read))]
            if progress is not None:
                progress(len(records), total)
    finally:
        if out is not None:
            out.close()
    gathered = gather(shard, records)
    # the largest resident memory of any rank so far, in MB (ru_maxrss is in kB on Linux)
    peaks = gather(shard, [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024])
    if gathered is None or peaks is None:
        return None
    order = {pair: n for n, pair in enumerate(pairs)}
    records = sorted(gathered, key=lambda r: order[r["index"], r["digit"]])
    summary = summarise(records, methods)
    summary["class_sensitivity"] = class_sensitivity(records, methods, BASELINES)
    summary.update(
        {
            "protocol": rule.to_dict(),
            "threshold_mode": rule.mode,
            "threshold": rule.value,
            "digits": list(digits),
            "faithfulness": ["black", "blur", *(["road"] if road_too else [])] if curves else [],
            "batch_size": batch_size,
            "processes": shard.world,
            "seconds": time.perf_counter() - tic,  # the pairs' evaluation, all ranks, wall time
            "peak_rss_mb": max(peaks),
        }
    )
    if calibrated:
        summary["calibrated"] = calibrated
    return summary


def calibration_grid(mode: str) -> np.ndarray:
    """The values :func:`calibrate` tries for a threshold mode with a parameter."""
    spec = THRESHOLD_MODES[mode]
    if spec.param is None:
        raise ValueError(f"threshold mode {mode!r} has no parameter to calibrate")
    if mode == "topk":
        return np.array([1.0, 2, 3, 5, 7, 10, 15, 20, 25, 30, 40, 50])
    return np.round(np.arange(spec.low, spec.high, 0.05), 2)


def calibrate(
    model: DigitResNet18,
    items: Sequence[HouseNumber],
    methods: Sequence[str],
    protocol: Protocol,
    digits: Sequence[int] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Choose each method's and each baseline's threshold value for ``protocol``'s mode (and
    sigma): the grid value (:func:`calibration_grid`) with the highest mean IoU_1 over every
    (image, digit present) pair of ``items``. The items must be disjoint from those the values
    are then applied to; nothing here looks at those.

    Returns ``{"values": {name: value}, "grid": [...], "mean_iou_1": {name: [...]}, "n_pairs"}``.
    """
    params = params or {}
    grid = calibration_grid(protocol.mode)
    digits = tuple(digits) if digits is not None else model.digits
    pairs = [(i, d) for i in range(len(items)) for d in sorted(set(items[i].labels)) if d in digits]
    names = [*methods, *BASELINES]
    totals = {name: np.zeros(len(grid)) for name in names}
    counts = dict.fromkeys(names, 0)
    for n, (i, d) in enumerate(pairs):
        item = items[i]
        boxes = item.boxes_of(d)
        maps = dict(baseline_maps(boxes, item.image.shape[:2]))
        for key in methods:
            e = explain(model, item.image, d, key, **params.get(key, {}))
            if e.finite:
                maps[key] = reduce_channels(e.attribution, e.reduction)
        for name, relevance in maps.items():
            heat = normalise(smooth(relevance, protocol.sigma))
            totals[name] += [
                score(heat, boxes, protocol.mode, float(v), relevance).iou_1 for v in grid
            ]
            counts[name] += 1
        if progress is not None:
            progress(n + 1, len(pairs))
    means = {k: (totals[k] / max(counts[k], 1)).tolist() for k in names}
    return {
        "values": {k: float(grid[int(np.argmax(means[k]))]) for k in names if counts[k]},
        "grid": grid.tolist(),
        "mean_iou_1": means,
        "n_pairs": len(pairs),
        "protocol": protocol.to_dict(),
    }


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps (:func:`scipy.stats.spearmanr`, average ranks
    for ties); 0 when either map is constant (no ranking to correlate)."""
    a, b = np.ravel(a), np.ravel(b)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(spearmanr(a, b).statistic)


# head first, down to the stem: every module with parameters, the stem's BatchNorm included
RANDOMISATION_ORDER = ("fc", "layer4", "layer3", "layer2", "layer1", "bn1", "conv1")


def randomise(module: torch.nn.Module) -> None:
    """Re-initialise every parameter of ``module`` (and its children). BatchNorms get random
    affine parameters and running statistics, since a freshly reset one is the identity."""
    for child in module.modules():
        if hasattr(child, "reset_parameters"):
            child.reset_parameters()
        if isinstance(child, torch.nn.BatchNorm2d):
            with torch.no_grad():
                child.weight.uniform_(0.5, 1.5)
                child.bias.uniform_(-0.5, 0.5)
                child.running_mean.uniform_(-0.5, 0.5)
                child.running_var.uniform_(0.5, 1.5)


def randomisation_check(
    model: DigitResNet18,
    items: Sequence[tuple[np.ndarray, int]],
    methods: Sequence[str],
    seed: int = 0,
    params: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Cascading randomisation (Adebayo et al. 2018): mean Spearman correlation of each
    method's map with the trained model's map after re-initialising the layers from the head
    down to the stem (:data:`RANDOMISATION_ORDER`, every parameterised layer).

    ``items`` are (model-input image, digit) pairs. Returns ``{"layers": [...], "methods":
    {key: {"correlation": [...], "flagged": bool}}}``; flagged when the correlation after the
    last layer is still above :data:`FLAT_THRESHOLD`.
    """
    params = params or {}

    def relevance(net: DigitResNet18, image: np.ndarray, digit: int, method: str) -> np.ndarray:
        e = explain(net, image, digit, method, **params.get(method, {}))
        return np.nan_to_num(reduce_channels(e.attribution, e.reduction))

    original = {m: [relevance(model, im, d, m) for im, d in items] for m in methods}
    scrambled = copy.deepcopy(model)
    torch.manual_seed(seed)
    result: dict[str, Any] = {"layers": list(RANDOMISATION_ORDER), "methods": {}}
    correlations: dict[str, list[float]] = {m: [] for m in methods}
    for name in RANDOMISATION_ORDER:
        randomise(getattr(scrambled, name))
        scrambled.eval()
        for m in methods:
            maps = [relevance(scrambled, im, d, m) for im, d in items]
            rho = [spearman(a, b) for a, b in zip(original[m], maps)]
            correlations[m].append(float(np.mean(rho)))
    for m in methods:
        result["methods"][m] = {
            "correlation": correlations[m],
            "flagged": correlations[m][-1] > FLAT_THRESHOLD,
        }
    return result
