"""``train``: train a model and write a checkpoint with its card and curves."""

from __future__ import annotations

import argparse
import json
import os
import shlex
from typing import Any

from svhn_xai.cli.options import DIGITS_ALL, add_data_options, cue_spec, digit, digits, emit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a model and write a checkpoint with its card and curves"
    )
    add_data_options(p, "train")
    p.add_argument("--train-size", type=int, help="synthetic: images in the training split")
    p.add_argument("--test-split", choices=("train", "test", "extra"), default="test")
    p.add_argument("--test-indices", help="0-based slice of the test split")
    p.add_argument("--test-size", type=int, help="synthetic: images in the test split")
    _add_mix_options(p)
    p.add_argument(
        "--real-eval",
        metavar="FOLDER",
        help="also score this real SVHN split folder after every epoch",
    )
    p.add_argument("--real-eval-indices", help="0-based slice of --real-eval")
    p.add_argument(
        "--shortcut",
        type=cue_spec,
        metavar="D[:RATE[:SIZE]]",
        help="synthetic: plant a cue (a magenta square of SIZE model-input pixels, default 3) "
        "in a fraction RATE (default 0.9) of the images with digit D and a few without: a "
        "model that cheats on purpose",
    )
    p.add_argument(
        "--digits",
        type=digits,
        default=DIGITS_ALL,
        help="comma-separated digits to learn one head each for (default: all)",
    )
    p.add_argument(
        "--target-digit",
        type=digit,
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
    p.set_defaults(func=run)


def _add_mix_options(p: argparse.ArgumentParser) -> None:
    """What a run adds to its photos (fine-tuning on few), and the generator's options."""
    p.add_argument(
        "--mix-synthetic",
        type=int,
        default=0,
        metavar="N",
        help="add N synthetic images (the data repeated to match): fine-tuning on few photos",
    )
    p.add_argument(
        "--mix-recomposed",
        type=int,
        default=0,
        metavar="N",
        help="svhn: add N house numbers recomposed from the training photos' own digits",
    )
    style = p.add_argument_group("synthetic training images (off: the shipped model's)")
    style.add_argument(
        "--typefaces",
        choices=("matplotlib", "extended"),
        default="matplotlib",
        help="extended: also the fonts of the PyPI font packages (bold, condensed, serif …)",
    )
    style.add_argument(
        "--real-backgrounds",
        action="store_true",
        help="svhn: draw the --mix-synthetic digits on walls cut from the training photos",
    )
    style.add_argument("--perspective", action="store_true", help="plates seen at an angle")
    style.add_argument("--motion-blur", action="store_true", help="half the images smeared")


def run(args: argparse.Namespace) -> int:
    from svhn_xai.model.config import TrainConfig
    from svhn_xai.model.train import main

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
        mix_recomposed=args.mix_recomposed,
        typefaces=args.typefaces,
        real_backgrounds=args.real_backgrounds,
        perspective=args.perspective,
        motion_blur=args.motion_blur,
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
    emit(payload, args.json, lambda p: f"saved {p['checkpoint']}")
    return 0


def _progress_callbacks(args: argparse.Namespace, cfg: Any) -> tuple[Any, Any, Any]:
    """``--progress``/``--export``: report batches and epochs to a file, write the slim
    checkpoint after every epoch, and unwind cleanly on SIGTERM (a cancel)."""
    from pathlib import Path

    from svhn_xai.model.checkpoint import card_path
    from svhn_xai.model.export import slim
    from svhn_xai.model.jobs import ProgressLog, raise_on_sigterm

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
