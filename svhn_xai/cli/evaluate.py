"""``evaluate``: the localisation leaderboard with baselines, faithfulness and a sanity check."""

from __future__ import annotations

import argparse
import json
import shlex
from typing import Any

from svhn_xai.cli.options import (
    ModelInputs,
    add_data_options,
    add_threshold_options,
    digit,
    method_keys,
    positive_int,
    protocol_of,
    reading,
)
from svhn_xai.data.indices import overlap
from svhn_xai.errors import SvhnXaiError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="localisation leaderboard with baselines, faithfulness "
        "and a randomisation sanity check, over a dataset",
    )
    add_data_options(p, "test")
    p.add_argument("--methods", default="all", help="all, or comma-separated registry keys")
    p.add_argument("--digit", default="all", help="a digit 0-9, or all (every digit present)")
    p.add_argument("--limit", type=int, help="use the first N images")
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when present; under torchrun each rank its LOCAL_RANK's GPU), cpu, "
        "cuda, cuda:1 …",
    )
    add_threshold_options(p)
    p.add_argument(
        "--calibrate-on",
        metavar="DATA[:SPLIT]",
        help="choose each method's and baseline's threshold (for --threshold-mode) on these "
        "images, e.g. svhn:train or synthetic:test, then apply it unchanged",
    )
    p.add_argument(
        "--calibrate-indices",
        metavar="START:STOP",
        help="the calibration images (must not overlap the evaluated ones)",
    )
    p.add_argument(
        "--faithfulness",
        choices=("none", "basic", "road", "all"),  # faithfulness.FAITHFULNESS, no torch
        default="basic",
        help="basic: deletion/insertion with black and blur imputations; road or all: also "
        "ROAD (noisy linear imputation, MoRF and LeRF; a sparse solve per map and fraction); "
        "none: localisation scores only (the curves cost 68 model passes per map at 16 steps)",
    )
    p.add_argument(
        "--steps",
        type=positive_int,
        default=16,  # svhn_xai.evaluation.run.EvaluationOptions.steps, without importing torch
        help="slices of each deletion and insertion curve: 4 (steps + 1) passes per map for "
        "basic; fewer is faster and coarser (a file's curves and AUCs compare with another's "
        "only at the same steps)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=32,  # svhn_xai.evaluation.run.BATCH_SIZE, without importing torch for --help
        help="(image, digit) pairs explained together: one batched call per method, their "
        "curves in shared passes (1: one pair at a time). Under torchrun --nproc_per_node=N "
        "the batches are shared out among the N processes",
    )
    p.add_argument(
        "--precision",
        choices=("float32", "bfloat16"),
        default="float32",
        help="number format of the perturbation methods' model passes (the methods with a "
        "precision parameter): bfloat16 is about twice as fast where the hardware computes it "
        "natively (a CPU with AVX512-BF16 or AMX, recent GPUs) and refused elsewhere",
    )
    p.add_argument(
        "--sanity",
        type=int,
        default=8,
        metavar="N",
        help="images for the cascading randomisation check (0 = skip)",
    )
    p.add_argument("--checkpoint", help="default: checkpoints/default.pt")
    p.add_argument("--json", metavar="OUT", help="write the results to this JSON file")
    p.add_argument(
        "--resume",
        action="store_true",
        help="reuse the per-image records of an interrupted run with the same --json (refused "
        "when its checkpoint, protocol or parameters differ)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _evaluation_reading(args: argparse.Namespace, card: dict[str, Any]):
    """:func:`_reading` for ``evaluate``: the calibration file's values as a dict (with the
    file's name), unless the file was made on images this run scores."""
    from svhn_xai.scoring.calibration import calibration_path

    protocol, calibration, why = reading(args, card)
    if calibration is None:
        return protocol, None, why
    made = calibration.made
    same = (made.get("data"), made.get("split")) == (args.data, args.split)
    if same and overlap(made.get("indices"), args.indices, args.limit):
        why = (
            "the calibration file was made on images this run evaluates: the fixed rule "
            "applies (never read a photo at a threshold chosen on it)"
        )
        return protocol_of(args), None, why
    return protocol, {**calibration.to_dict(), "file": calibration_path(card["path"]).name}, None


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from svhn_xai.evaluation.run import EvaluationOptions, run_evaluation
    from svhn_xai.model.checkpoint import load_model
    from svhn_xai.model.predict import resolve_device
    from svhn_xai.provenance import file_sha256, git_commit, machine, provenance
    from svhn_xai.scoring.protocol import THRESHOLD_MODES
    from svhn_xai.shards import join, leave

    protocol = protocol_of(args)
    commit = git_commit()  # the code that makes the numbers, before anything can change it
    if args.calibrate_on and THRESHOLD_MODES[protocol.mode].param is None:
        raise SvhnXaiError(
            f"--calibrate-on needs a threshold mode with a parameter, not {protocol.mode!r}"
        )
    model, card = load_model(args.checkpoint)
    digest = file_sha256(card["path"])
    methods = method_keys(args.methods)
    digits = None if args.digit == "all" else [digit(args.digit)]
    # under torchrun: this process's share of the batches, on its own GPU (LOCAL_RANK)
    device = resolve_device(args.device)
    model.to(device)
    shard = join(device)
    bar = tqdm(desc="evaluating", unit="pair", disable=args.quiet or shard.rank > 0)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    if args.calibrate_on:
        calibration = _calibrate_on(args, model, card, methods, protocol, digits, bar, progress)
        why = None
    else:
        protocol, calibration, why = _evaluation_reading(args, card)
    options = EvaluationOptions(
        methods, digits, protocol, calibration["values"] if calibration else None,
        params=_in_precision(methods, args.precision, device), limit=args.limit, steps=args.steps,
        faithfulness=args.faithfulness, batch_size=args.batch_size, sanity=args.sanity,
    )  # fmt: skip
    partial = Path(args.json).with_suffix(".partial.jsonl") if args.json else None
    if partial is not None and not args.resume:
        Path(shard.name(partial)).unlink(missing_ok=True)
    margin = card["config"].get("margin", 0.15)
    inputs = ModelInputs(args.data, args.split, args.root, args.indices, model.input_size, margin)
    summary = run_evaluation(
        model, inputs, options, partial=partial, resume=args.resume, progress=progress,
        checkpoint_sha256=digest, shard=shard,
    )  # fmt: skip
    bar.close()
    leave(shard)
    if summary is None:  # another rank's records, now with rank 0
        return 0
    if calibration:
        summary["calibration"] = calibration
    if why:
        summary["threshold_note"] = why
    summary.update(
        {
            # the commit of the code that made the numbers: the one read before they were made
            "provenance": {**provenance(checkpoint=card["path"]), "commit": commit},
            "checkpoint": Path(card["path"]).name,
            "checkpoint_sha256": digest,
            "data": args.data,
            "split": args.split,
            "indices": args.indices,
            "limit": args.limit,
            "command": "python -m svhn_xai " + shlex.join(args.argv),
            "commit": commit,
            "machine": machine(),
        }
    )
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")

    print(_leaderboard_text(summary))
    print(_class_sensitivity_text(summary["class_sensitivity"]))
    return 0


def _in_precision(methods: list[str], precision: str, device: Any) -> dict[str, dict[str, str]]:
    """The ``precision`` setting of every method in ``methods`` that takes one, checked first
    against ``device``, so that a run that cannot use it stops before its first pair."""
    import torch

    from svhn_xai.explain import REGISTRY
    from svhn_xai.explain.precision import check_precision

    check_precision(precision, torch.empty(0, device=device))
    return {key: {"precision": precision} for key in methods if REGISTRY[key].takes("precision")}


def _calibrate_on(args, model, card, methods, protocol, digits, bar, progress) -> dict[str, Any]:
    """``--calibrate-on``: each method's threshold chosen on other images of this run."""
    from svhn_xai.scoring.calibration import calibrate

    data, _, split = args.calibrate_on.partition(":")
    split = split or args.split
    if (data, split) == (args.data, args.split) and overlap(
        args.calibrate_indices, args.indices, args.limit
    ):
        raise SvhnXaiError(
            "the calibration images overlap the evaluated ones: give --calibrate-indices "
            "disjoint from --indices (never choose a threshold on the images it scores)"
        )
    margin = card["config"].get("margin", 0.15)
    items = ModelInputs(data, split, args.root, args.calibrate_indices, model.input_size, margin)
    bar.set_description("calibrating")
    calibration = calibrate(model, items, methods, protocol, digits, progress=progress)
    calibration.update({"data": data, "split": split, "indices": args.calibrate_indices})
    bar.reset()
    bar.set_description("evaluating")
    return calibration


def _class_sensitivity_text(cs: dict[str, Any]) -> str:
    lines = [f"class sensitivity over {cs['photos']} photos with two or more different digits"]
    lines.append(f"  ({cs['direction']})")
    for key, r in cs["methods"].items():
        score = "  n/a" if r["score"] is None else f"{r['score']:.3f}"
        lines.append(f"  {key:24s} {score}  ({r['pairs']} pairs)")
    return "\n".join(lines)


# leaderboard columns, by metric key: label, format and arrow come from the metric registry
_COLUMNS = (
    "iou_1", "iou_2", "max_box_acc", "pxap", "pointing_game", "relevance_mass", "rank_accuracy",
    "auc_deletion_black", "auc_insertion_blur", "road_morf", "road_lerf", "seconds",
)  # fmt: skip


def _leaderboard_text(s: dict[str, Any]) -> str:
    from svhn_xai.scoring.registry import METRICS

    columns = [METRICS[k] for k in _COLUMNS if any(k in r for r in s["methods"].values())]
    protocol = s.get("protocol", {})
    reading = (
        f"{s['threshold_mode']} value calibrated per method and baseline on other images"
        if s.get("threshold_source") == "calibrated"
        else f"{s['threshold_mode']} {s['threshold']:g}"
    )
    width = {m.key: max(len(m.short) + 1, 9) for m in columns}
    lines = [
        f"{s['n_images']} images, {s['n_pairs']} (image, digit) pairs; mask rule {reading}, "
        f"smoothing sigma {protocol.get('sigma', 0):g} px",
        f"{'':26s} " + " ".join(f"{m.short + m.arrow:>{width[m.key]}s}" for m in columns),
    ]
    if s.get("threshold_note"):
        lines.insert(1, f"note: {s['threshold_note']}")
    rows = [*s["methods"].items(), *((f"baseline {k}", v) for k, v in s["baselines"].items())]
    for name, r in rows:
        cells = " ".join(f"{m.format(r.get(m.key)):>{width[m.key]}s}" for m in columns)
        flag = f"  ({r['n_non_finite']} non-finite maps left out)" if r.get("n_non_finite") else ""
        lines.append(f"{name:26s} {cells}{flag}")
    lines.append(
        "intervals: " + s.get("interval", "none") + "; a method beats the strongest baseline on "
        "a score when its whole interval lies on the better side of that baseline's mean"
    )
    for m in columns[:4]:
        if m.direction == "neither":
            continue
        beat = [
            k for k, r in s["methods"].items() if r.get("versus", {}).get(m.key, {}).get("beats")
        ]
        lines.append(f"  {m.short}: {len(beat)} of {len(s['methods'])} beat the strongest baseline")
    for key, r in s.get("sanity", {}).get("methods", {}).items():
        if r.get("reason") == "undefined":
            lines.append(
                f"sanity: {key} has no rank correlation once the model is randomised (in every "
                "pair a map is constant or non-finite): nothing shows it depends on the weights"
            )
        elif r["flagged"]:
            low, high = r.get("correlation_ci", [[float("nan")] * 2])[-1]
            lines.append(
                f"sanity: {key} barely changes when the model is randomised "
                f"(rank correlation {r['correlation'][-1]:.2f}, 95 % interval [{low:.2f}, "
                f"{high:.2f}] over photos)"
            )
    return "\n".join(lines)
