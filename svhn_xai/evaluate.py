"""Dataset-level evaluation: which explainer finds the digit, how faithful it is, and whether it
depends on the model at all.

- Localisation: for every image and every target digit present in it, each method's heatmap is
  scored (:func:`svhn_xai.localisation.localise`) and so are the baselines, identically.
- Faithfulness (:mod:`svhn_xai.faithfulness`): deletion and insertion curves under two
  imputations (black, blur), and ROAD on request; for methods and baselines alike.
- Sanity: cascading model-parameter randomisation (Adebayo et al. 2018): layers are re-initialised
  from the head down to the stem and the Spearman correlation of each method's map with the
  original one is tracked; a method whose maps barely change does not explain the model.

Every metric's direction is declared in :mod:`svhn_xai.metric_registry`; summaries
(:mod:`svhn_xai.summary`) carry them as ``"directions"``, with intervals over photos.
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

from svhn_xai.bootstrap import mean_interval, photo_weights
from svhn_xai.class_sensitivity import box_density
from svhn_xai.class_sensitivity import from_records as class_sensitivity
from svhn_xai.data.item import HouseNumber
from svhn_xai.errors import SvhnXaiError
from svhn_xai.explain import REGISTRY, explain, explain_batch
from svhn_xai.faithfulness import faithfulness_groups
from svhn_xai.heatmap import normalise, reduce_channels
from svhn_xai.localisation import baseline_maps, resolve_protocol, score_maps
from svhn_xai.metric_registry import PER_PAIR, family
from svhn_xai.metrics import BASELINES
from svhn_xai.model import DigitResNet18
from svhn_xai.protocol import Protocol
from svhn_xai.shards import Shard, gather
from svhn_xai.summary import summarise

# what a pair's record keeps of each map: the per-map scores and the curves' summaries
SCORES = (*(m.key for m in PER_PAIR), *(m.key for m in family("curve")))
# pairs explained together by default (evaluate --batch-size): on a CPU a gradient pass costs
# ~8.5 ms an image in batches of 16, ~7 ms in 32, ~8 ms in 64; see
# benchmarks/evaluate_throughput.py, whose peak memory stays well under 4 GB
BATCH_SIZE = 32
FLAT_THRESHOLD = 0.5  # mean rank correlation above this after full randomisation: flagged


class ResumeMismatch(SvhnXaiError):
    """The records of an interrupted run were made under other conditions than this run's."""


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
        "iou_2_by_threshold": curve["iou_2_by_threshold"],
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
    chosen elsewhere (:func:`svhn_xai.calibration.calibrate`); the others use ``protocol`` as it is.

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
            (:func:`svhn_xai.calibration.calibrate`), applied unchanged.
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
    summary["threshold_source"] = "calibrated" if calibrated else "fixed"
    if calibrated:
        summary["calibrated"] = calibrated
    return summary


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps (:func:`scipy.stats.spearmanr`, average ranks
    for ties); NaN when either map is constant or not finite: it has no ranking to correlate,
    and a 0 would read as "the map changed completely", a pass of the randomisation check."""
    a, b = np.ravel(a), np.ravel(b)
    if not (np.isfinite(a).all() and np.isfinite(b).all()) or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
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
    """Cascading randomisation (Adebayo et al. 2018): Spearman correlation of each method's map
    with the trained model's map after re-initialising the layers (:func:`randomise`) from the
    head down to the stem (:data:`RANDOMISATION_ORDER`, every parameterised layer).

    ``items`` are (model-input image, digit) pairs. A pair whose map, trained or randomised, is
    constant or not finite has no rank correlation (:func:`spearman` gives NaN): it is counted
    apart and never enters a mean, where as a 0 it would pass for a map that changed completely.

    Returns ``{"layers": [...], "methods": {key: {...}}}``; each method's lists hold one entry
    per layer, in the order of ``layers``:

    - ``correlation``: the mean correlation over the pairs that have one (NaN where none has);
    - ``correlation_ci``: its 95 % interval, a percentile bootstrap over the pairs (one pair a
      photo, as ``evaluate --sanity`` picks them);
    - ``pairs``: each pair's correlation, NaN where it has none;
    - ``n_non_finite``, ``n_constant``: the pairs left out because a map is not finite, or
      (both maps finite) because one is constant;
    - ``flagged`` and ``reason``: ``"flat"`` when the correlation after the last layer is still
      above :data:`FLAT_THRESHOLD` (the map barely depends on the weights); ``"undefined"`` when
      no pair has a correlation after the last layer, so that nothing shows the map depends on
      the weights, which is no pass either. Otherwise ``flagged`` is false, ``reason`` None;
    - ``settled``: whether the last layer's interval lies wholly on one side of
      :data:`FLAT_THRESHOLD`, so that more photos would not change the verdict.
    """
    params = params or {}

    def relevance(net: DigitResNet18, image: np.ndarray, digit: int, method: str) -> np.ndarray:
        e = explain(net, image, digit, method, **params.get(method, {}))
        return reduce_channels(e.attribution, e.reduction)

    original = {m: [relevance(model, im, d, m) for im, d in items] for m in methods}
    scrambled = copy.deepcopy(model)
    torch.manual_seed(seed)
    rows: dict[str, dict[str, list[Any]]] = {
        m: {
            "correlation": [],
            "correlation_ci": [],
            "pairs": [],
            "n_non_finite": [],
            "n_constant": [],
        }
        for m in methods
    }
    for name in RANDOMISATION_ORDER:
        randomise(getattr(scrambled, name))
        scrambled.eval()
        for m in methods:
            maps = [relevance(scrambled, im, d, m) for im, d in items]
            compared = list(zip(original[m], maps))
            rho = [spearman(a, b) for a, b in compared]
            # a NaN says the pair has no correlation; its maps say why
            broken = [not (np.isfinite(a).all() and np.isfinite(b).all()) for a, b in compared]
            counted = [r for r in rho if not np.isnan(r)]
            row = rows[m]
            row["correlation"].append(float(np.mean(counted)) if counted else float("nan"))
            row["correlation_ci"].append(mean_interval(counted, photo_weights(range(len(counted)))))
            row["pairs"].append(rho)
            row["n_non_finite"].append(sum(broken))
            row["n_constant"].append(sum(bool(np.isnan(r)) and not b for r, b in zip(rho, broken)))
    result: dict[str, Any] = {"layers": list(RANDOMISATION_ORDER), "methods": {}}
    for m, row in rows.items():
        last = row["correlation"][-1]
        reason = "undefined" if np.isnan(last) else "flat" if last > FLAT_THRESHOLD else None
        low, high = row["correlation_ci"][-1]
        settled = bool(low > FLAT_THRESHOLD or high < FLAT_THRESHOLD)
        result["methods"][m] = {
            **row,
            "flagged": reason is not None,
            "reason": reason,
            "settled": settled,
        }
    return result
