"""``test``: score a checkpoint, balanced accuracy per digit."""

from __future__ import annotations

import argparse
from typing import Any

from svhn_xai.cli.options import add_data_options, emit
from svhn_xai.errors import SvhnXaiError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("test", help="score a checkpoint: balanced accuracy per digit")
    add_data_options(p, "test")
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
    p.add_argument(
        "--tta",
        action="store_true",
        help="also score test-time augmentation (the mean over 7 shifted and zoomed views): "
        "balanced_accuracy_tta beside the plain balanced_accuracy, which never includes it",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from svhn_xai.model.accuracy import score_split
    from svhn_xai.model.checkpoint import load_model
    from svhn_xai.model.config import TrainConfig
    from svhn_xai.model.predict import resolve_device, use_amp
    from svhn_xai.provenance import shown_path
    from svhn_xai.shards import join, leave

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
            args.batch_size, shard, args.tta,
        )  # fmt: skip
    finally:
        leave(shard)
    if scores is None:  # another rank's share, now with rank 0
        return 0
    payload = {
        "checkpoint": shown_path(card["path"]),
        "data": args.data,
        "split": args.split,
        "processes": scores["processes"],
        "n_images": scores["n_images"],
        "balanced_accuracy": scores["balanced_accuracy"],
        "accuracy": scores["accuracy"],
        "loss": scores["loss"],
        "per_digit": scores["per_digit"],
    }
    if args.tta:
        payload["balanced_accuracy_tta"] = scores["balanced_accuracy_tta"]
        payload["per_digit_tta"] = scores["per_digit_tta"]

    def text(p: dict[str, Any]) -> str:
        lines = [f"{p['n_images']} images  balanced accuracy {p['balanced_accuracy']:.4f}"]
        if "balanced_accuracy_tta" in p:
            lines[0] += f"  (with test-time augmentation {p['balanced_accuracy_tta']:.4f})"
        for d, s in p["per_digit"].items():
            bal = "n/a" if s["balanced_accuracy"] is None else f"{s['balanced_accuracy']:.4f}"
            lines.append(f"  digit {d}: balanced accuracy {bal}  positives {s['positives']}")
        return "\n".join(lines)

    emit(payload, args.json, text)
    return 0
