"""``calibrate``: each method's threshold chosen on development images, saved by the checkpoint."""

from __future__ import annotations

import argparse
import json
import shlex
from typing import Any

from svhn_xai.cli.options import (
    HELD_OUT,
    ModelInputs,
    add_data_options,
    add_threshold_options,
    emit,
    method_keys,
    positive_int,
    protocol_of,
)
from svhn_xai.data.indices import learnt, overlap
from svhn_xai.errors import SvhnXaiError
from svhn_xai.report.words import images_of


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="choose each method's threshold on development images: the checkpoint's "
        "calibration file, the default reading of explain, evaluate and the app",
    )
    add_data_options(p, "train")
    add_threshold_options(p)
    p.add_argument("--methods", default="all", help="comma-separated keys, or all")
    p.add_argument("--batch-size", type=positive_int, default=32, help="pairs explained together")
    p.add_argument("--checkpoint", help="default: checkpoints/default.pt")
    p.add_argument("--out", help="default: beside the checkpoint, NAME.calibration.json")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Choose each method's and baseline's threshold on development images and write the
    checkpoint's calibration file (:mod:`svhn_xai.scoring.calibration`)."""
    from pathlib import Path

    from tqdm import tqdm

    from svhn_xai.model.checkpoint import load_model
    from svhn_xai.provenance import file_sha256, git_commit
    from svhn_xai.scoring.calibration import Calibration, calibrate, calibration_path
    from svhn_xai.scoring.protocol import THRESHOLD_MODES

    protocol = protocol_of(args)
    if THRESHOLD_MODES[protocol.mode].param is None:
        raise SvhnXaiError(f"threshold mode {protocol.mode!r} has no parameter to calibrate")
    if args.data == "svhn" and args.split == "train" and overlap(args.indices, HELD_OUT, None):
        raise SvhnXaiError(
            f"--indices overlap {HELD_OUT}, the held-out photos 193-256 of the shared sample "
            "that every reported table scores: calibrate on images the model never saw (e.g. "
            "--data synthetic --split extra --indices 0:64)"
        )
    commit = git_commit()
    model, card = load_model(args.checkpoint)
    if learnt(card.get("provenance") or {}, args.data, args.split, args.indices):
        seen = card["provenance"].get("indices") or "all"
        raise SvhnXaiError(
            f"--indices overlap {seen}, the {args.split} photos this "
            "model was trained on: its maps there are of photos it has learnt, so calibrate on "
            "images it never saw (e.g. --data synthetic --split extra)"
        )
    methods = method_keys(args.methods)
    margin = card["config"].get("margin", 0.15)
    items = ModelInputs(args.data, args.split, args.root, args.indices, model.input_size, margin)
    bar = tqdm(desc="calibrating", unit="pair", disable=args.quiet)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    found = calibrate(
        model, items, methods, protocol, progress=progress, batch_size=args.batch_size
    )
    bar.close()
    where = images_of(args.data, args.split, args.indices)
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

    emit(calibration.to_dict(), args.json, text)
    return 0
