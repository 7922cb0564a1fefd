"""``python -m svhn_xai COMMAND``: train, test, explain, evaluate, methods, download.

Every command takes ``--json`` for machine-readable output. Errors about the user's input or
environment print one line to stderr and exit with status 2; nothing already on disk is touched.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from svhn_xai.errors import SvhnXaiError

if TYPE_CHECKING:  # imported lazily at run time: every command loads only what it uses
    from svhn_xai.calibration import Calibration
    from svhn_xai.protocol import Protocol

DIGITS_ALL = tuple(range(10))


def _digit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a digit 0-9") from None
    if not 0 <= value <= 9:
        raise argparse.ArgumentTypeError(f"{value} is not a digit 0-9")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _digit_or_all(text: str) -> int | str:
    return "all" if text == "all" else _digit(text)


def _digits(text: str) -> tuple[int, ...]:
    if text == "all":
        return DIGITS_ALL
    values = tuple(_digit(t) for t in text.split(","))
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"digits repeat in {text!r}")
    return values


def _shortcut(text: str) -> str:
    from svhn_xai.data.synthetic import Cue

    try:
        Cue.from_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _data_options(p: argparse.ArgumentParser, split: str) -> None:
    p.add_argument(
        "--data",
        choices=("synthetic", "svhn"),
        default="synthetic",
        help="synthetic house numbers (offline default) or real SVHN Format 1",
    )
    p.add_argument("--root", help="svhn: folder holding the split folders (ROOT/test/1.png …)")
    p.add_argument("--split", choices=("train", "test", "extra"), default=split)
    p.add_argument(
        "--indices",
        help="0-based slice 'START:STOP' of the split (e.g. 0:128), or several: '0:64,128:192'",
    )


def _threshold_options(p: argparse.ArgumentParser) -> None:
    """The mask rule's options; every default is :data:`svhn_xai.protocol.DEFAULT_PROTOCOL`'s."""
    from svhn_xai.protocol import (
        DEFAULT_PROTOCOL,
        SMOOTH_HIGH,
        SMOOTH_LOW,
        THRESHOLD_MODES,
    )

    p.add_argument(
        "--threshold-mode",
        choices=tuple(THRESHOLD_MODES),
        help=f"how the heatmap becomes a mask (default: {DEFAULT_PROTOCOL.mode}); "
        + "; ".join(f"{m.key}: {m.help}" for m in THRESHOLD_MODES.values()).replace("%", "%%"),
    )
    p.add_argument(
        "--threshold",
        type=float,
        help="the mode's parameter (default: the protocol's, or the mode's own); "
        + "; ".join(
            f"{m.key}: {m.param} in [{m.low:g}, {m.high:g}]"
            for m in THRESHOLD_MODES.values()
            if m.param
        ).replace("%", "%%"),
    )
    p.add_argument(
        "--smooth",
        type=float,
        metavar="SIGMA",
        help=f"Gaussian smoothing of the map before thresholding, sigma in pixels "
        f"[{SMOOTH_LOW:g}, {SMOOTH_HIGH:g}] (default: {DEFAULT_PROTOCOL.sigma:g})",
    )


def _protocol(args: argparse.Namespace):
    """The mask rule asked for: the default protocol with the given options, range-checked."""
    from svhn_xai.errors import ParameterError
    from svhn_xai.localisation import resolve_protocol

    try:
        return resolve_protocol(args.threshold_mode, args.threshold, args.smooth)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


def _reading(args: argparse.Namespace, card: dict[str, Any]):
    """How maps are read: ``(protocol, calibration, note)``. With neither --threshold-mode nor
    --threshold, each method and baseline at its value in the checkpoint's calibration file
    (:mod:`svhn_xai.calibration`); otherwise, or without a usable file (``note`` says why), the
    one fixed rule for all."""
    from svhn_xai.calibration import load_calibration
    from svhn_xai.provenance import file_sha256

    protocol = _protocol(args)
    if args.threshold_mode is not None or args.threshold is not None:
        return protocol, None, None
    calibration, why = load_calibration(card["path"], file_sha256(card["path"]))
    if calibration is not None and args.smooth not in (None, calibration.protocol.sigma):
        why = (
            f"--smooth {args.smooth:g} differs from the calibration's sigma "
            f"{calibration.protocol.sigma:g} px: the fixed rule applies"
        )
        calibration = None
    if calibration is None:
        return protocol, None, why
    return calibration.protocol, calibration, None


def _print(payload: dict[str, Any], as_json: bool, text: Callable[[dict[str, Any]], str]) -> None:
    print(json.dumps(payload, indent=2) if as_json else text(payload))


def cmd_train(args: argparse.Namespace) -> int:
    from svhn_xai.config import TrainConfig
    from svhn_xai.train import main

    digits = (args.target_digit,) if args.target_digit is not None else args.digits
    cfg = TrainConfig(
        data=args.data,
        root=args.root,
        split=args.split,
        indices=args.indices,
        train_size=args.train_size,
        test_split=args.test_split,
        test_indices=args.test_indices,
        test_size=args.test_size,
        mix_synthetic=args.mix_synthetic,
        real_eval=args.real_eval,
        real_eval_indices=args.real_eval_indices,
        shortcut=args.shortcut,
        digits=digits,
        input_size=args.input_size,
        stem=args.stem,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        augment=not args.no_augment,
        init=args.init,
        device=args.device,
        amp=args.amp,
        seed=args.seed,
        workers=args.workers,
        wandb=args.wandb,
        out=args.out,
        resume=args.resume,
    )
    on_epoch = on_batch = None
    if args.progress:
        on_epoch, on_batch, progress = _progress_callbacks(args, cfg)
    try:
        metrics = main(
            cfg,
            on_epoch=on_epoch,
            on_batch=on_batch,
            command="python -m svhn_xai " + shlex.join(args.argv),
        )
    except Exception as exc:
        if args.progress:
            progress.event("error", message=str(exc) or type(exc).__name__)
        raise
    if args.progress:
        progress.event("done")
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 reports
        return 0
    final = metrics.get("test", {})
    payload = {
        "checkpoint": cfg.out,
        "epochs": cfg.epochs,
        "balanced_accuracy": final.get("balanced_accuracy"),
        "real_balanced_accuracy": metrics.get("real", {}).get("balanced_accuracy"),
        "history": metrics.get("history", []),
    }
    _print(payload, args.json, lambda p: f"saved {p['checkpoint']}")
    return 0


def _progress_callbacks(args: argparse.Namespace, cfg: Any) -> tuple[Any, Any, Any]:
    """``--progress``/``--export``: report batches and epochs to a file, write the slim
    checkpoint after every epoch, and unwind cleanly on SIGTERM (a cancel)."""
    from pathlib import Path

    from svhn_xai.checkpoint import card_path
    from svhn_xai.export import slim
    from svhn_xai.jobs import ProgressLog, raise_on_sigterm

    raise_on_sigterm()
    card = card_path(cfg.out)
    start_epoch = json.loads(card.read_text())["epoch"] if cfg.resume and card.is_file() else 0
    progress = ProgressLog(args.progress, cfg.epochs, start_epoch)

    def on_epoch(record: dict[str, Any]) -> None:
        if args.export:
            slim(cfg.out, args.export)
        progress.on_epoch(record)
        if args.export:
            progress.event("exported", checkpoint=Path(args.export).name)

    return on_epoch, progress.on_batch, progress


def cmd_test(args: argparse.Namespace) -> int:
    from svhn_xai.checkpoint import load_model
    from svhn_xai.config import TrainConfig
    from svhn_xai.scoring import score_split
    from svhn_xai.shards import join, leave
    from svhn_xai.train import resolve_device, use_amp

    if args.batch_size < 1:
        raise SvhnXaiError(f"--batch-size must be at least 1, got {args.batch_size}")
    model, card = load_model(args.checkpoint)
    device = resolve_device(args.device)
    cfg = TrainConfig(
        root=args.root, input_size=model.input_size, margin=card["config"].get("margin", 0.15)
    )
    size = args.size if args.data == "synthetic" else None
    amp = use_amp(args.amp, device)
    # under torchrun: this process's share of the batches, on its own GPU (LOCAL_RANK)
    shard = join(device)
    try:
        scores = score_split(
            model.to(device), cfg, args.data, args.split, args.indices, size, device, amp,
            args.batch_size, shard,
        )  # fmt: skip
    finally:
        leave(shard)
    if scores is None:  # another rank's share, now with rank 0
        return 0
    payload = {
        "checkpoint": card["path"],
        "data": args.data,
        "split": args.split,
        "processes": scores["processes"],
        "n_images": scores["n_images"],
        "balanced_accuracy": scores["balanced_accuracy"],
        "accuracy": scores["accuracy"],
        "loss": scores["loss"],
        "per_digit": scores["per_digit"],
    }

    def text(p: dict[str, Any]) -> str:
        lines = [f"{p['n_images']} images  balanced accuracy {p['balanced_accuracy']:.4f}"]
        for d, s in p["per_digit"].items():
            bal = "n/a" if s["balanced_accuracy"] is None else f"{s['balanced_accuracy']:.4f}"
            lines.append(f"  digit {d}: balanced accuracy {bal}  positives {s['positives']}")
        return "\n".join(lines)

    _print(payload, args.json, text)
    return 0


def _box(text: str):
    from svhn_xai.data.marks import parse_marked_box

    try:
        return parse_marked_box(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"a parameter is name=value, got {text!r}")
    return name.strip(), value.strip()


def _model_input(args: argparse.Namespace, input_size: int, margin: float):
    """The explained image (model input, boxes of every digit) from --image or --data."""
    from svhn_xai.data.image_io import load_rgb
    from svhn_xai.data.marks import box_labels
    from svhn_xai.data.sources import open_source
    from svhn_xai.data.target import marked_photo_input, to_model_input

    if args.image is not None:
        if not args.box:
            raise SvhnXaiError(
                "--image needs at least one --box x0,y0,x1,y1[:LABEL] around a digit"
            )
        labels = box_labels(args.box, args.digit)
        image = load_rgb(args.image)
        boxes = [m.box for m in args.box]
        try:
            return marked_photo_input(image, boxes, labels, input_size, margin, not args.no_crop)
        except ValueError as exc:
            raise SvhnXaiError(f"--box: {exc}") from None
    source = open_source(args.data, args.split, args.root)
    if not 0 <= args.index < len(source):
        raise SvhnXaiError(f"--index {args.index} is outside 0..{len(source) - 1} of {args.split}")
    return to_model_input(source[args.index], input_size, margin)


def cmd_explain(args: argparse.Namespace) -> int:
    import numpy as np

    from svhn_xai.checkpoint import load_model
    from svhn_xai.explain import explain
    from svhn_xai.localisation import localise

    _protocol(args)  # a bad rule is refused before the model is loaded
    if not 0 < args.clip_percentile <= 100:
        raise SvhnXaiError(f"--clip-percentile must be in (0, 100], got {args.clip_percentile:g}")
    model, card = load_model(args.checkpoint)
    protocol, calibration, why = _reading(args, card)
    if args.digit == "all":
        return _explain_all(args, model, card, protocol, calibration, why)
    model_input = _model_input(args, model.input_size, card["config"].get("margin", 0.15))
    item = model_input.item
    params = dict(args.param or [])
    explanation = explain(
        model, item.image, args.digit, args.method, contrast=args.contrast, **params
    )
    result = localise(
        explanation,
        item.boxes_of(args.digit),
        protocol,
        reduction=args.reduction,
        clip_percentile=args.clip_percentile,
        calibration=calibration,
    )
    if why:
        result["notes"].append(why)
    result["image"] = args.image or f"{args.data}/{args.split}/{args.index}"
    result["checkpoint"] = card["path"]
    if args.save_attribution:
        np.save(args.save_attribution, explanation.attribution)
    if args.save_overlay:
        from PIL import Image

        from svhn_xai.figures import overlay

        heat = explanation.heatmap(args.reduction, args.clip_percentile, protocol.sigma)
        picture = overlay(
            item.image, heat, gt_boxes=item.boxes_of(args.digit), heat_box=result.get("heatmap_box")
        )
        Image.fromarray(picture).save(args.save_overlay)

    def text(r: dict[str, Any]) -> str:
        head = f"{r['method']} for digit {r['digit']}: p = {r['probability']:.3f}"
        if "contrast" in r:
            head = f"{r['method']} for digit {r['digit']} and not {r['contrast']}: "
            head += f"logit difference {r['logit']:.3f}, p({r['digit']}) = {r['probability']:.3f}"
        head += f", {r['seconds']:.3f} s"
        if not r["scored"]:
            return head + "\n" + "\n".join(r["notes"])
        reading = (
            f"{r['protocol']['mode']} {r['protocol']['value']:g} calibrated for {r['method']}"
            if r["threshold_source"] == "calibrated"
            else protocol.describe()
        )
        lines = [
            head + f"; mask: {reading}, {r['active_fraction']:.1%} of the pixels",
            f"  {'':24s} " + " ".join(f"{m.short + m.arrow:>10s}" for m in _pair_columns()),
            f"  {r['method']:24s} "
            + " ".join(f"{m.format(r[m.key]):>10s}" for m in _pair_columns()),
        ]
        for name, b in r["baselines"].items():
            cells = " ".join(f"{m.format(b.get(m.key)):>10s}" for m in _pair_columns())
            lines.append(f"  {'baseline ' + name:24s} {cells}")
        for m in _pair_columns():
            if m.key in r["versus"]:
                v = r["versus"][m.key]
                lines.append(
                    f"  {m.short}: {v['difference']:+.3f} against the strongest baseline on it, "
                    f"{v['baseline']} ({m.direction} is better)"
                )
        return "\n".join(lines + [f"  note: {n}" for n in r["notes"]])

    _print(result, args.json, text)
    return 0


def _explain_all(
    args: argparse.Namespace,
    model,
    card: dict[str, Any],
    protocol: Protocol,
    calibration: Calibration | None,
    why: str | None,
) -> int:
    """``explain --digit all``: every head on one photo, and the method's class sensitivity.

    Every head is scored under ``protocol`` (the --threshold-mode/--threshold/--smooth rule), as
    a single digit is. Class sensitivity reads the unsmoothed heatmaps, as ``evaluate`` and the
    app's All digits page do: like relevance mass, it is a share of heat in the boxes, which the
    mask rule's smoothing is not meant to move.
    """
    from svhn_xai.class_sensitivity import class_sensitivity, pair_outcomes
    from svhn_xai.explain import explain
    from svhn_xai.localisation import localise

    if args.contrast is not None:
        raise SvhnXaiError("--contrast explains one digit against another: give --digit D")
    if args.save_overlay or args.save_attribution:
        raise SvhnXaiError("--save-overlay/--save-attribution save one digit: give --digit D")
    model_input = _model_input(args, model.input_size, card["config"].get("margin", 0.15))
    item = model_input.item
    params = dict(args.param or [])
    digits: dict[str, Any] = {}
    heatmaps, boxes = {}, {}
    for d in model.digits:
        e = explain(model, item.image, d, args.method, **params)
        r = localise(
            e, item.boxes_of(d), protocol, reduction=args.reduction,
            clip_percentile=args.clip_percentile, calibration=calibration,
        )  # fmt: skip
        r["notes"] += [why] if why and r["scored"] else []
        digits[str(d)] = r
        heatmaps[d], boxes[d] = e.heatmap(args.reduction, args.clip_percentile), item.boxes_of(d)
    outcomes = pair_outcomes(heatmaps, boxes)
    payload = {
        "method": args.method,
        "image": args.image or f"{args.data}/{args.split}/{args.index}",
        "checkpoint": card["path"],
        "digits": digits,
        "class_sensitivity": {**class_sensitivity(outcomes), "outcomes": outcomes},
    }

    def text(p: dict[str, Any]) -> str:
        lines = [f"{p['method']} on {p['image']}, every head:"]
        for d, r in p["digits"].items():
            row = f"  digit {d}: p = {r['probability']:.3f}"
            if r["scored"]:
                row += (
                    f"  IoU_1 {r['iou_1']:.3f}  IoU_2 {r['iou_2']:.3f}  pointing "
                    f"{r['pointing_game']:.2f}  mass in box {r['relevance_mass']:.3f}"
                )
            else:
                row += "  (not in the photo: not scored)"
            lines.append(row)
        cs = p["class_sensitivity"]
        if cs["score"] is None:
            lines.append("class sensitivity: needs two different digits in the photo")
        else:
            lines.append(f"class sensitivity {cs['score']:.2f} over {cs['pairs']} pairs")
            lines.append(f"  ({cs['direction']})")
            for o in cs["outcomes"]:
                verdict = {1.0: "own box", 0.5: "tie", 0.0: "other box"}[o["win"]]
                lines.append(
                    f"  map of {o['digit']}: heat {o['own']:.3f} on its box, "
                    f"{o['other_box']:.3f} on {o['other']}'s -> {verdict}"
                )
        return "\n".join(lines)

    _print(payload, args.json, text)
    return 0


def cmd_methods(args: argparse.Namespace) -> int:
    from svhn_xai.explain import REGISTRY

    payload = {key: spec.to_dict() for key, spec in REGISTRY.items()}

    def text(p: dict[str, Any]) -> str:
        lines = []
        for key, spec in p.items():
            lines.append(f"{key:24s} {spec['name']} ({spec['family']}): {spec['description']}")
            for name, param in spec["params"].items():
                allowed = param.get("range") or param.get("choices") or ""
                lines.append(f"    {name} = {param['default']!r}  {allowed}")
        return "\n".join(lines)

    _print(payload, args.json, text)
    return 0


def _pair_columns():
    """The per-map scores a terminal table shows for one photo, from the metric registry."""
    from svhn_xai.metric_registry import family

    return [m for m in family("mask", "threshold-free") if m.key != "pointing_game_tolerant"]


# leaderboard columns, by metric key: label, format and arrow come from the metric registry
_COLUMNS = (
    "iou_1", "iou_2", "max_box_acc", "pxap", "pointing_game", "relevance_mass", "rank_accuracy",
    "auc_deletion_black", "auc_insertion_blur", "road_morf", "road_lerf", "seconds",
)  # fmt: skip


HELD_OUT = "192:256"  # 0-based: photos 193-256 of the shared sample, held out for every table


def _leaderboard_text(s: dict[str, Any]) -> str:
    from svhn_xai.metric_registry import METRICS

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


def _methods(spec: str) -> list[str]:
    """The method keys of ``--methods``: comma-separated, or ``all``; an unknown one refused."""
    from svhn_xai.explain import REGISTRY

    methods = list(REGISTRY) if spec == "all" else spec.split(",")
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown:
        raise SvhnXaiError(f"unknown method(s) {', '.join(unknown)}; see `methods`")
    return methods


class _Inputs:
    """Model inputs of a data source, cropped when read, so that --limit and --resume cost
    nothing up front; ``labels(i)`` where the source knows them without decoding."""

    def __init__(
        self, data: str, split: str, root: str | None, indices: str | None, size: int, margin: float
    ) -> None:
        from svhn_xai.data.sources import open_source

        self.source = open_source(data, split, root, indices=indices)
        self.size, self.margin = size, margin

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int):
        from svhn_xai.data.target import to_model_input

        return to_model_input(self.source[i], self.size, self.margin).item

    @property
    def labels(self):  # the crop keeps every digit: the source's labels(i), where it has one
        return self.source.labels


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Choose each method's and baseline's threshold on development images and write the
    checkpoint's calibration file (:mod:`svhn_xai.calibration`)."""
    from pathlib import Path

    from tqdm import tqdm

    from svhn_xai.calibration import Calibration, calibrate, calibration_path
    from svhn_xai.checkpoint import load_model
    from svhn_xai.protocol import THRESHOLD_MODES
    from svhn_xai.provenance import file_sha256, git_commit

    protocol = _protocol(args)
    if THRESHOLD_MODES[protocol.mode].param is None:
        raise SvhnXaiError(f"threshold mode {protocol.mode!r} has no parameter to calibrate")
    if args.data == "svhn" and args.split == "train" and _overlap(args.indices, HELD_OUT, None):
        raise SvhnXaiError(
            f"--indices overlap {HELD_OUT}, the held-out photos 193-256 of the shared sample "
            "that every reported table scores: calibrate on development photos (e.g. 0:64)"
        )
    commit = git_commit()
    model, card = load_model(args.checkpoint)
    methods = _methods(args.methods)
    margin = card["config"].get("margin", 0.15)
    items = _Inputs(args.data, args.split, args.root, args.indices, model.input_size, margin)
    bar = tqdm(desc="calibrating", unit="pair", disable=args.quiet)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    found = calibrate(
        model, items, methods, protocol, progress=progress, batch_size=args.batch_size
    )
    bar.close()
    where = f"{args.data} {args.split}" + (f" [{args.indices}]" if args.indices else "")
    made = {
        "data": args.data,
        "split": args.split,
        "indices": args.indices,
        "data_description": f"{where}, {found['n_pairs']} (image, digit) pairs",
        "n_pairs": found["n_pairs"],
        "grid": found["grid"],
        "mean_iou_1": {k: [round(v, 4) for v in vs] for k, vs in found["mean_iou_1"].items()},
        "command": "python -m svhn_xai " + shlex.join(args.argv),
        "commit": commit,
    }
    calibration = Calibration(protocol, found["values"], file_sha256(card["path"]), made)
    out = Path(args.out) if args.out else calibration_path(card["path"])
    out.write_text(json.dumps(calibration.to_dict(), indent=2) + "\n")

    def text(p: dict[str, Any]) -> str:
        lines = [f"{calibration.describe()}; written to {out.name}"]
        lines += [f"  {k:26s} {v:g}" for k, v in p["values"].items()]
        return "\n".join(lines)

    _print(calibration.to_dict(), args.json, text)
    return 0


def _evaluation_reading(args: argparse.Namespace, card: dict[str, Any]):
    """:func:`_reading` for ``evaluate``: the calibration file's values as a dict (with the
    file's name), unless the file was made on images this run scores."""
    from svhn_xai.calibration import calibration_path

    protocol, calibration, why = _reading(args, card)
    if calibration is None:
        return protocol, None, why
    made = calibration.made
    same = (made.get("data"), made.get("split")) == (args.data, args.split)
    if same and _overlap(made.get("indices"), args.indices, args.limit):
        why = (
            "the calibration file was made on images this run evaluates: the fixed rule "
            "applies (never read a photo at a threshold chosen on it)"
        )
        return _protocol(args), None, why
    return protocol, {**calibration.to_dict(), "file": calibration_path(card["path"]).name}, None


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from svhn_xai.calibration import calibrate
    from svhn_xai.checkpoint import load_model
    from svhn_xai.evaluate import evaluate_localisation, randomisation_check
    from svhn_xai.protocol import THRESHOLD_MODES
    from svhn_xai.provenance import file_sha256, git_commit, machine, provenance
    from svhn_xai.shards import join, leave
    from svhn_xai.train import resolve_device

    protocol = _protocol(args)
    commit = git_commit()  # the code that makes the numbers, before anything can change it
    if args.calibrate_on and THRESHOLD_MODES[protocol.mode].param is None:
        raise SvhnXaiError(
            f"--calibrate-on needs a threshold mode with a parameter, not {protocol.mode!r}"
        )
    model, card = load_model(args.checkpoint)
    digest = file_sha256(card["path"])
    methods = _methods(args.methods)
    margin = card["config"].get("margin", 0.15)

    inputs = _Inputs(args.data, args.split, args.root, args.indices, model.input_size, margin)
    digits = None if args.digit == "all" else [_digit(args.digit)]
    # under torchrun: this process's share of the batches, on its own GPU (LOCAL_RANK)
    device = resolve_device(args.device)
    model.to(device)
    shard = join(device)
    bar = tqdm(desc="evaluating", unit="pair", disable=args.quiet or shard.rank > 0)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    protocol, calibration, why = (
        (protocol, None, None) if args.calibrate_on else _evaluation_reading(args, card)
    )
    if args.calibrate_on:
        data, _, split = args.calibrate_on.partition(":")
        split = split or args.split
        if (data, split) == (args.data, args.split) and _overlap(
            args.calibrate_indices, args.indices, args.limit
        ):
            raise SvhnXaiError(
                "the calibration images overlap the evaluated ones: give --calibrate-indices "
                "disjoint from --indices (never choose a threshold on the images it scores)"
            )
        calibration_items = _Inputs(
            data, split, args.root, args.calibrate_indices, model.input_size, margin
        )
        bar.set_description("calibrating")
        calibration = calibrate(
            model, calibration_items, methods, protocol, digits, progress=progress
        )
        calibration.update({"data": data, "split": split, "indices": args.calibrate_indices})
        bar.reset()
        bar.set_description("evaluating")
    partial = None
    if args.json:
        partial = Path(args.json).with_suffix(".partial.jsonl")
        if not args.resume:
            Path(shard.name(partial)).unlink(missing_ok=True)
    summary = evaluate_localisation(
        model,
        inputs,
        methods,
        digits,
        protocol,
        limit=args.limit,
        partial=partial,
        progress=progress,
        road_too=args.faithfulness in ("road", "all"),
        checkpoint_sha256=digest,
        resume=args.resume,
        calibrated=calibration["values"] if calibration else None,
        batch_size=args.batch_size,
        curves=args.faithfulness != "none",
        shard=shard,
    )
    bar.close()
    leave(shard)
    if summary is None:  # another rank's records, now with rank 0
        return 0
    if calibration:
        summary["calibration"] = calibration
    if why:
        summary["threshold_note"] = why
    if args.sanity:
        count = min(args.sanity, len(inputs))
        pairs = [(inputs[i].image, inputs[i].labels[0]) for i in range(count)]
        summary["sanity"] = randomisation_check(model, pairs, methods)
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


def _class_sensitivity_text(cs: dict[str, Any]) -> str:
    lines = [f"class sensitivity over {cs['photos']} photos with two or more different digits"]
    lines.append(f"  ({cs['direction']})")
    for key, r in cs["methods"].items():
        score = "  n/a" if r["score"] is None else f"{r['score']:.3f}"
        lines.append(f"  {key:24s} {score}  ({r['pairs']} pairs)")
    return "\n".join(lines)


def _overlap(a: str | None, b: str | None, limit: int | None) -> bool:
    """Whether two index specs of one split ('START:STOP', several joined by commas; None: all
    of it) share an image; ``limit`` caps ``b`` to its first images, as evaluate's --limit does."""

    def spans(text: str | None) -> list[tuple[int, float]]:
        if text is None:
            return [(0, float("inf"))]
        out = []
        for part in text.split(","):
            start, _, stop = part.partition(":")
            out.append((int(start or 0), float(stop) if stop.strip() else float("inf")))
        return out

    b_spans = spans(b)
    if limit is not None:  # only the first `limit` images of b, span by span
        capped, left = [], float(limit)
        for b0, b1 in b_spans:
            if left > 0:
                capped.append((b0, min(b1, b0 + left)))
                left -= min(b1, b0 + left) - b0
        b_spans = capped
    return any(a0 < b1 and b0 < a1 for a0, a1 in spans(a) for b0, b1 in b_spans)


def cmd_export(args: argparse.Namespace) -> int:
    from svhn_xai.export import export

    metrics = export(
        args.checkpoint,
        args.out,
        args.real_eval,
        args.real_eval_indices,
        args.synthetic_size,
        not args.float32,
        command="python -m svhn_xai " + shlex.join(args.argv),
    )
    payload = {
        "checkpoint": args.out,
        "synthetic_balanced_accuracy": metrics["test"]["balanced_accuracy"],
        "real_balanced_accuracy": metrics.get("real", {}).get("balanced_accuracy"),
    }
    _print(
        payload,
        args.json,
        lambda p: (
            f"wrote {p['checkpoint']}: synthetic "
            f"{p['synthetic_balanced_accuracy']:.4f}, real {p['real_balanced_accuracy']}"
        ),
    )
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from svhn_xai.data.download import download_split

    folder = download_split(args.split, args.root, base_url=args.base_url)
    _print(
        {"split": args.split, "folder": str(folder)}, args.json, lambda p: f"ready: {p['folder']}"
    )
    return 0


# --- shortcut lab (issue 12): one self-contained block ------------------------------------------


def cmd_shortcut(args: argparse.Namespace) -> int:
    from svhn_xai import shortcut
    from svhn_xai.checkpoint import DEFAULT_CHECKPOINT, load_model
    from svhn_xai.errors import CheckpointError, ParameterError
    from svhn_xai.explain import REGISTRY
    from svhn_xai.provenance import file_sha256, git_commit, machine

    if args.limit < 1 or args.accuracy_images < 2:
        raise ParameterError("--limit must be at least 1 and --accuracy-images at least 2")
    methods = list(REGISTRY) if args.methods == "all" else args.methods.split(",")
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown:
        raise ParameterError(f"unknown methods {unknown}; choose from {', '.join(REGISTRY)}")
    path = args.checkpoint
    if path is None:
        shipped = shortcut.shipped_checkpoints()
        if not shipped:
            raise CheckpointError("no checkpoints/shortcut-D.pt shipped: pass --checkpoint")
        path = shipped[0]
    reference_path = args.reference or DEFAULT_CHECKPOINT
    model, ckpt = load_model(path)
    cue = shortcut.checkpoint_cue(ckpt, path)
    reference, _ = load_model(reference_path)
    bar = None
    if not args.quiet:
        from tqdm import tqdm

        bar = tqdm(total=2 * args.limit * len(methods), desc="explaining", leave=False)
    result = shortcut.run_lab(
        model,
        cue,
        reference,
        methods,
        args.limit,
        args.accuracy_images,
        on_step=None if bar is None else lambda: bar.update(1),
    )
    if bar is not None:
        bar.close()
    result["provenance"] = {
        "command": "python -m svhn_xai " + shlex.join(args.argv),
        "commit": git_commit(),
        "checkpoint": {"path": os.path.relpath(path), "sha256": file_sha256(path)},
        "reference": {
            "path": os.path.relpath(reference_path),
            "sha256": file_sha256(reference_path),
        },
        "machine": machine(),
    }
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)
            f.write("\n")

    def text(p: dict[str, Any]) -> str:
        a = p["accuracy"]
        lines = [
            f"digit {p['digit']}: balanced accuracy {a['with_cue']:.3f} with the cue, "
            f"{a['cue_removed']:.3f} without; says present on {a['cue_pasted']:.1%} of images "
            f"without {p['digit']} once the cue is pasted "
            f"(false positives {a['false_positive_rate']:.1%})",
            f"{'method':28s} cue_mass  ref.cue  digit_mass  cue_pointing  catches",
        ]
        for key, m in p["methods"].items():
            left_out = m.get("n_non_finite", 0) + m.get("reference_n_non_finite", 0)
            lines.append(
                f"{key:28s} {m['cue_mass']:8.3f} {m['reference_cue_mass']:8.3f} "
                f"{m['digit_mass']:11.3f} {m['cue_pointing']:13.3f}  "
                f"{'yes' if m['catches'] else 'no'}"
                + (f"  ({left_out} non-finite maps left out)" if left_out else "")
            )
        for key, m in p["baselines"].items():
            lines.append(
                f"{'(baseline) ' + key:28s} {m['cue_mass']:8.3f} {'':8s} {m['digit_mass']:11.3f} "
                f"{m['cue_pointing']:13.3f}"
            )
        return "\n".join(lines)

    _print(result, args.json, text)
    return 0


def _add_shortcut_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "shortcut",
        help="shortcut lab: does the model rely on its planted cue, and which explainers show it",
    )
    p.add_argument(
        "--checkpoint", help="a shortcut checkpoint (default: checkpoints/shortcut-D.pt)"
    )
    p.add_argument("--reference", help="a model without the cue (default: checkpoints/default.pt)")
    p.add_argument("--methods", default="all", help="all, or comma-separated registry keys")
    p.add_argument(
        "--limit",
        type=int,
        default=24,
        metavar="N",
        help="explain the first N held-out images with the digit and its cue (both models)",
    )
    p.add_argument(
        "--accuracy-images",
        type=int,
        default=1000,
        metavar="N",
        help="held-out images for the with/without/pasted accuracy",
    )
    p.add_argument("--out", metavar="JSON", help="also write the result to this file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_shortcut)


# --- end of the shortcut lab block ----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m svhn_xai", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "train", help="train a model and write a checkpoint with its card and curves"
    )
    _data_options(p, "train")
    p.add_argument("--train-size", type=int, help="synthetic: images in the training split")
    p.add_argument("--test-split", choices=("train", "test", "extra"), default="test")
    p.add_argument("--test-indices", help="0-based slice of the test split")
    p.add_argument("--test-size", type=int, help="synthetic: images in the test split")
    p.add_argument(
        "--mix-synthetic",
        type=int,
        default=0,
        metavar="N",
        help="add N synthetic images (the data repeated to match): fine-tuning on few photos",
    )
    p.add_argument(
        "--real-eval",
        metavar="FOLDER",
        help="also score this real SVHN split folder after every epoch",
    )
    p.add_argument("--real-eval-indices", help="0-based slice of --real-eval")
    p.add_argument(
        "--shortcut",
        type=_shortcut,
        metavar="D[:RATE[:SIZE]]",
        help="synthetic: plant a cue (a magenta square of SIZE model-input pixels, default 3) "
        "in a fraction RATE (default 0.9) of the images with digit D and a few without: a "
        "model that cheats on purpose",
    )
    p.add_argument(
        "--digits",
        type=_digits,
        default=DIGITS_ALL,
        help="comma-separated digits to learn one head each for (default: all)",
    )
    p.add_argument(
        "--target-digit",
        type=_digit,
        help="train the single-head binary classifier for this digit only",
    )
    p.add_argument("--input-size", type=int, default=64)
    p.add_argument("--stem", choices=("imagenet", "small"), default="imagenet")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--weight-decay", type=float, default=0.05)
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--init", metavar="CHECKPOINT", help="start from these weights (fine-tune)")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 …")
    p.add_argument(
        "--amp",
        choices=("auto", "on", "off"),
        default="auto",
        help="bf16 autocast; auto = on CUDA and on CPUs with native bf16",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, help="processes preparing images (default: all cores)")
    p.add_argument("--wandb", choices=("online", "offline", "disabled"), default="disabled")
    p.add_argument("--out", default="checkpoints/run.pt", help="checkpoint to write")
    p.add_argument("--resume", action="store_true", help="continue --out from its last epoch")
    p.add_argument(
        "--progress",
        metavar="JSONL",
        help="append progress records here (batches, epochs, done/error): how the app follows "
        "a background run",
    )
    p.add_argument(
        "--export",
        metavar="PT",
        help="after every epoch, also write this half-precision copy without optimizer state",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("test", help="score a checkpoint: balanced accuracy per digit")
    _data_options(p, "test")
    p.add_argument("--size", type=int, default=2000, help="synthetic: images in the split")
    p.add_argument("--checkpoint", help="default: checkpoints/default.pt")
    p.add_argument(
        "--batch-size",
        type=int,
        default=512,
        help="images per predicted batch; under torchrun the processes share whole batches",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when present; under torchrun each rank its LOCAL_RANK's GPU), cpu, cuda",
    )
    p.add_argument(
        "--amp",
        choices=("auto", "on", "off"),
        default="off",
        help="bf16 autocast while scoring: faster, but it can flip borderline predictions "
        "(default off, so scores match the model card's)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_test)

    p = sub.add_parser("explain", help="explain one image for one digit and score the heatmap")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help="a photo (PNG/JPEG/WebP …) of a house number")
    source.add_argument("--index", type=int, help="0-based image of --data/--split (1.png is 0)")
    p.add_argument(
        "--box",
        type=_box,
        action="append",
        metavar="x0,y0,x1,y1[:LABEL]",
        help="with --image: a digit's box in the photo's pixels and the digit in it "
        "(repeatable; mark every digit). A box without :LABEL holds --digit",
    )
    p.add_argument(
        "--no-crop",
        action="store_true",
        help="with --image: the photo already is a crop around the house number; by default it "
        "is cropped to the union of all boxes grown 15 %% per side, as the dataset is",
    )
    p.add_argument("--data", choices=("synthetic", "svhn"), default="synthetic")
    p.add_argument("--root", help="svhn: folder holding the split folders")
    p.add_argument("--split", choices=("train", "test", "extra"), default="test")
    p.add_argument(
        "--digit",
        type=_digit_or_all,
        required=True,
        help="the digit to explain, or all: every head, scored against its own boxes, "
        "with the method's class sensitivity on the photo",
    )
    p.add_argument(
        "--contrast",
        type=_digit,
        metavar="E",
        help="explain why --digit and not E: the difference of the two heads' logits",
    )
    p.add_argument("--method", default="integrated_gradients", help="see `methods`")
    p.add_argument("--param", type=_param, action="append", help="name=value (repeatable)")
    _threshold_options(p)
    p.add_argument(
        "--reduction",
        choices=("sum", "abs", "positive"),
        help="channel reduction of the heatmap (default: the method's own)",
    )
    p.add_argument(
        "--clip-percentile",
        type=float,
        default=100.0,
        help="saturate the heatmap above this percentile (outlier clipping)",
    )
    p.add_argument("--checkpoint", help="default: checkpoints/default.pt")
    p.add_argument("--save-overlay", metavar="PNG")
    p.add_argument("--save-attribution", metavar="NPY")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser(
        "evaluate",
        help="localisation leaderboard with baselines, faithfulness "
        "and a randomisation sanity check, over a dataset",
    )
    _data_options(p, "test")
    p.add_argument("--methods", default="all", help="all, or comma-separated registry keys")
    p.add_argument("--digit", default="all", help="a digit 0-9, or all (every digit present)")
    p.add_argument("--limit", type=int, help="use the first N images")
    p.add_argument(
        "--device",
        default="auto",
        help="auto (CUDA when present; under torchrun each rank its LOCAL_RANK's GPU), cpu, "
        "cuda, cuda:1 …",
    )
    _threshold_options(p)
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
        "none: localisation scores only (the curves cost 68 model passes per map)",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=32,  # svhn_xai.evaluate.BATCH_SIZE, without importing torch for --help
        help="(image, digit) pairs explained together: one batched call per method, their "
        "curves in shared passes (1: one pair at a time). Under torchrun --nproc_per_node=N "
        "the batches are shared out among the N processes",
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
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "calibrate",
        help="choose each method's threshold on development images: the checkpoint's "
        "calibration file, the default reading of explain, evaluate and the app",
    )
    _data_options(p, "train")
    _threshold_options(p)
    p.add_argument("--methods", default="all", help="comma-separated keys, or all")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="pairs explained together")
    p.add_argument("--checkpoint", help="default: checkpoints/default.pt")
    p.add_argument("--out", help="default: beside the checkpoint, NAME.calibration.json")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("methods", help="list the explainers and their parameters")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_methods)

    p = sub.add_parser("export", help="ship a checkpoint: half precision, measured model card")
    p.add_argument("checkpoint", help="the trained checkpoint")
    p.add_argument("--out", required=True, help="e.g. checkpoints/default.pt")
    p.add_argument("--real-eval", metavar="FOLDER", help="real SVHN split folder to score on")
    p.add_argument("--real-eval-indices", help="the part of --real-eval not trained on")
    p.add_argument("--synthetic-size", type=int, default=2000)
    p.add_argument("--float32", action="store_true", help="keep float32 weights")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("download", help="fetch and unpack an official SVHN Format 1 split")
    p.add_argument("--split", choices=("train", "test", "extra"), default="test")
    p.add_argument("--root", default="data/svhn", help="where the split folder goes")
    p.add_argument("--base-url", help="mirror to fetch from (default: the official site)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_download)

    _add_shortcut_parser(sub)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Captum narrates its hooks and gradient settings on every call; the CLI's output is ours
    warnings.filterwarnings("ignore", category=UserWarning, module=r"captum(\.|$)")
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command == "train" and args.target_digit is not None and args.digits != DIGITS_ALL:
        parser.error("--target-digit and --digits exclude each other")
    try:
        return args.func(args)
    except (SvhnXaiError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
