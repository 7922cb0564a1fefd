"""``export``: ship a checkpoint in half precision with a measured model card."""

from __future__ import annotations

import argparse
import shlex

from svhn_xai.cli.options import emit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="ship a checkpoint: half precision, measured model card")
    p.add_argument("checkpoint", help="the trained checkpoint")
    p.add_argument("--out", required=True, help="e.g. checkpoints/default.pt")
    p.add_argument("--real-eval", metavar="FOLDER", help="real SVHN split folder to score on")
    p.add_argument("--real-eval-indices", help="the part of --real-eval not trained on")
    p.add_argument("--synthetic-size", type=int, default=2000)
    p.add_argument("--float32", action="store_true", help="keep float32 weights")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from svhn_xai.model.export import export

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
    emit(
        payload,
        args.json,
        lambda p: (
            f"wrote {p['checkpoint']}: synthetic "
            f"{p['synthetic_balanced_accuracy']:.4f}, real {p['real_balanced_accuracy']}"
        ),
    )
    return 0
