"""Cross-validated balanced accuracy of training recipes ("levers") on the real photos.

    python -m benchmarks.real_cv [--root ../shared/svhn-sample] [--levers all] [--folds 3]
        [--final best] [--device auto] [--out results/real_cv.json]

The estimate every model change is judged by: each lever is trained once per fold of the
development photos (1-192 by default: indices 0:192) and scored on the fold it never saw; the
pooled out-of-fold predictions give its balanced accuracy with a 95 % bootstrap interval, and
its paired difference from the shipped model (scored on the same photos) with another. The
held-out photos (193-256) are not touched here until ``--final`` has picked a lever by its
cross-validated score alone; then that lever is trained on all development photos and scored
once on the held-out ones, beside the shipped model. The results file is rewritten after every
lever, so a run stopped half way keeps what it measured.

The baseline, called "shipped" in the results file because it was the shipped model when the
levers were measured, is ``checkpoints/synthetic.pt``: the synthetic-only model that
``default.pt`` was fine-tuned from. ``default.pt`` itself trained on photos 1-192, so scoring it
on their folds would measure what it memorised; such a baseline is refused.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.record import default_path, save
from svhn_xai.data.indices import learnt
from svhn_xai.model.checkpoint import load_checkpoint, model_from_checkpoint
from svhn_xai.model.classification import presence_scores
from svhn_xai.model.config import TrainConfig
from svhn_xai.model.crossval import (
    OutOfFold,
    cross_validate,
    kfold,
    score_checkpoint,
    thresholds_out_of_fold,
)
from svhn_xai.model.export import slim
from svhn_xai.model.predict import predict, resolve_device
from svhn_xai.model.run_data import load_tensors
from svhn_xai.model.tta import predict_tta
from svhn_xai.provenance import file_sha256, provenance, shown_path
from svhn_xai.scoring.bootstrap import balanced_accuracy_interval, paired_difference


@dataclass(frozen=True)
class Lever:
    """A training recipe: what it changes from the plain config, in words and in fields."""

    description: str
    fields: dict[str, Any] = field(default_factory=dict)
    init_from_shipped: bool = False  # fine-tune the shipped model rather than start afresh
    trains: bool = True  # False: the shipped model as it is, its heads' thresholds tuned
    reference: str | None = None  # the lever that differs from this one in one respect only


LEVERS: dict[str, Lever] = {
    "shipped_tuned_thresholds": Lever(
        "no training: the shipped model with each head's threshold tuned per fold on the "
        "fold's training photos (is the gap a matter of calibration?)",
        init_from_shipped=True,
        trains=False,
    ),
    "finetune": Lever(
        "fine-tune the shipped model: training photos repeated to match 4,096 synthetic "
        "images, 4 epochs, peak lr 2e-3 (the lead the issue names)",
        {"mix_synthetic": 4096, "epochs": 4},
        init_from_shipped=True,
    ),
    "finetune_low_lr": Lever(
        "as finetune, peak lr 5e-4: moves the synthetic model less",
        {"mix_synthetic": 4096, "epochs": 4, "lr": 5e-4},
        init_from_shipped=True,
    ),
    "finetune_gentle": Lever(
        "as finetune, peak lr 2e-4, 8,192 synthetic images, 6 epochs",
        {"mix_synthetic": 8192, "epochs": 6, "lr": 2e-4},
        init_from_shipped=True,
    ),
    "finetune_long": Lever(
        "fine-tune longer on more synthetic images: 16,384, 8 epochs, peak lr 1e-3",
        {"mix_synthetic": 16384, "epochs": 8, "lr": 1e-3},
        init_from_shipped=True,
    ),
    # the data itself (issue: "A model that reads real house numbers"): each at
    # finetune_low_lr's rate, epochs and size, so that only the images differ
    "finetune_recomposed": Lever(
        "as finetune_low_lr, half the 4,096 added images recomposed from the fold's own "
        "training digits (copy-paste), half synthetic",
        {"mix_synthetic": 2048, "mix_recomposed": 2048, "epochs": 4, "lr": 5e-4},
        init_from_shipped=True,
        reference="finetune_low_lr",
    ),
    "finetune_real_backgrounds": Lever(
        "as finetune_low_lr, the synthetic digits drawn on walls cut from the fold's training "
        "photos",
        {"mix_synthetic": 4096, "real_backgrounds": True, "epochs": 4, "lr": 5e-4},
        init_from_shipped=True,
        reference="finetune_low_lr",
    ),
    "finetune_typefaces": Lever(
        "as finetune_low_lr, the synthetic digits in 78 typefaces, not matplotlib's 22",
        {"mix_synthetic": 4096, "typefaces": "extended", "epochs": 4, "lr": 5e-4},
        init_from_shipped=True,
        reference="finetune_low_lr",
    ),
    "finetune_camera": Lever(
        "as finetune_low_lr, the synthetic plates also seen in perspective and half smeared "
        "by motion",
        {"mix_synthetic": 4096, "perspective": True, "motion_blur": True, "epochs": 4, "lr": 5e-4},
        init_from_shipped=True,
        reference="finetune_low_lr",
    ),
    "finetune_recomposed_camera": Lever(
        "the two best data levers tried apart, together: as finetune_recomposed, every added "
        "image (recomposed or synthetic) also seen in perspective and half smeared by motion",
        {
            "mix_synthetic": 2048,
            "mix_recomposed": 2048,
            "perspective": True,
            "motion_blur": True,
            "epochs": 4,
            "lr": 5e-4,
        },
        init_from_shipped=True,
        reference="finetune_recomposed",
    ),
    "finetune_real_data": Lever(
        "every data lever at once: 2,048 recomposed and 2,048 synthetic images in 78 "
        "typefaces on real walls, in perspective, half smeared",
        {
            "mix_synthetic": 2048,
            "mix_recomposed": 2048,
            "typefaces": "extended",
            "real_backgrounds": True,
            "perspective": True,
            "motion_blur": True,
            "epochs": 4,
            "lr": 5e-4,
        },
        init_from_shipped=True,
        reference="finetune_low_lr",
    ),
    "scratch_imagenet_stem": Lever(
        "from scratch, ImageNet stem: training photos and 16,384 synthetic images, 10 epochs",
        {"mix_synthetic": 16384, "epochs": 10},
    ),
    "scratch_small_stem": Lever(
        "from scratch, small stem (finer feature maps): the same data and epochs",
        {"mix_synthetic": 16384, "epochs": 10, "stem": "small"},
    ),
}


def _recipe(args: argparse.Namespace, lever: Lever) -> TrainConfig:
    cfg = TrainConfig(
        data="svhn",
        root=args.root,
        split="train",
        device=args.device,
        workers=args.workers,
        seed=args.seed,
        **lever.fields,
    )
    if args.epochs is not None:  # a quick check of the machinery, not a measurement
        cfg = replace(cfg, epochs=args.epochs)
    if args.mix is not None:
        cfg = replace(cfg, mix_synthetic=args.mix)
    if lever.init_from_shipped:
        cfg = replace(cfg, init=str(args.baseline))
    return cfg


def _summary(
    oof: OutOfFold, baseline: OutOfFold | None, resamples: int, seconds: float
) -> dict[str, Any]:
    digits = tuple(range(oof.probabilities.shape[1]))
    scores = presence_scores(oof.probabilities, oof.presence, digits)
    out: dict[str, Any] = {
        "balanced_accuracy": balanced_accuracy_interval(
            oof.probabilities, oof.presence, digits, resamples
        ).to_dict(),
        "per_digit": {d: s["balanced_accuracy"] for d, s in scores["per_digit"].items()},
        "folds": oof.folds,
        "seconds": round(seconds, 1),
        # kept so that any later comparison can be re-computed from this file alone
        "probabilities": np.round(oof.probabilities, 6).tolist(),
    }
    if baseline is not None:
        out["vs_shipped"] = paired_difference(
            oof.probabilities, baseline.probabilities, oof.presence, digits, resamples
        ).to_dict()
    return out


def _shipped_once(args: argparse.Namespace) -> dict[str, Any]:
    """The shipped model on the held-out photos and the synthetic test split, with intervals:
    what its model card reports (it never trained on a real photo, so these need no folds).

    And test-time augmentation, a measured option only (``test --tta``): on the development
    and the held-out photos, its balanced accuracy and its paired difference from the plain
    prediction, which is what every other number here is."""
    cfg = TrainConfig(data="svhn", root=args.root, split="train", workers=args.workers)
    device = resolve_device(args.device)
    model = model_from_checkpoint(load_checkpoint(args.baseline), args.baseline).to(device)
    out: dict[str, Any] = {}
    for name, tensors in (
        ("heldout", load_tensors(cfg, "svhn", "train", args.heldout, None, 0.0)),
        ("synthetic_test", load_tensors(cfg, "synthetic", "test", None, 2000, 0.0)),
    ):
        probs = predict(model, tensors.images, device)
        out[name] = balanced_accuracy_interval(
            probs, tensors.presence.numpy(), model.digits, args.resamples
        ).to_dict()
        out[name]["photos"] = len(tensors)
    out["tta"] = {}
    for name, photos in (("dev", args.dev), ("heldout", args.heldout)):
        tensors = load_tensors(cfg, "svhn", "train", photos, None, 0.0)
        truth = tensors.presence.numpy()
        plain = predict(model, tensors.images, device)
        augmented = predict_tta(model, tensors.images, device)
        out["tta"][name] = {
            "photos": photos,
            "balanced_accuracy": balanced_accuracy_interval(
                augmented, truth, model.digits, args.resamples
            ).to_dict(),
            "vs_plain": paired_difference(
                augmented, plain, truth, model.digits, args.resamples
            ).to_dict(),
        }
    return out


def _familywise(results: dict[str, Any], resamples: int) -> None:
    """Each lever's paired difference from the shipped model at a Bonferroni-adjusted level,
    1 - 0.05 / (levers tried): the chance that any one of them looks better by luck stays
    below 5 %. Computed from the stored out-of-fold probabilities, so levers measured in
    earlier runs (--keep) are adjusted for every lever tried since."""
    levers = results["levers"]
    shipped = results["shipped"]
    presence = np.asarray(shipped["presence"])
    level = 1 - 0.05 / max(len(levers), 1)
    for name, lever in levers.items():
        lever["vs_shipped_familywise"] = paired_difference(
            np.asarray(lever["probabilities"]),
            np.asarray(shipped["probabilities"]),
            presence,
            resamples=resamples,
            level=level,
        ).to_dict()
        # what the one respect in which it differs from its reference lever adds (95 %)
        reference = LEVERS[name].reference if name in LEVERS else None
        if reference in levers:
            lever["vs_reference"] = {
                "lever": reference,
                **paired_difference(
                    np.asarray(lever["probabilities"]),
                    np.asarray(levers[reference]["probabilities"]),
                    presence,
                    resamples=resamples,
                ).to_dict(),
            }


def _line(name: str, result: dict[str, Any]) -> str:
    ba = result["balanced_accuracy"]
    text = f"{name:24s} {ba['estimate']:.4f} [{ba['low']:.4f}, {ba['high']:.4f}]"
    if "vs_shipped" in result:
        d = result["vs_shipped"]
        text += f"  vs shipped {d['estimate']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]"
    synthetic = [f["synthetic_test_balanced_accuracy"] for f in result["folds"]]
    if None in synthetic:
        return text
    return text + f"  synthetic {min(synthetic):.4f}-{max(synthetic):.4f}"


def _run_lever(
    args: argparse.Namespace, name: str, folds: list, shipped: OutOfFold
) -> dict[str, Any]:
    lever = LEVERS[name]
    tic = time.perf_counter()
    extra: dict[str, Any] = {}
    if lever.trains:
        oof = cross_validate(_recipe(args, lever), folds, Path(args.workdir) / name)
    else:
        decided, extra["thresholds_per_fold"] = thresholds_out_of_fold(shipped, folds)
        records, start = [], 0
        for record in shipped.folds:  # the same folds, re-scored with the tuned thresholds
            span = slice(start, start + record["photos"])
            start += record["photos"]
            scores = presence_scores(decided[span], shipped.presence[span], tuple(range(10)))
            records.append(
                {
                    **record,
                    "balanced_accuracy": scores["balanced_accuracy"],
                    "synthetic_test_balanced_accuracy": None,  # thresholds tuned on photos only
                }
            )
        oof = OutOfFold(decided, shipped.presence, records)
    return {
        "description": lever.description,
        "fields": lever.fields,
        "init": "shipped" if lever.init_from_shipped else None,
        **extra,
        **_summary(oof, shipped, args.resamples, time.perf_counter() - tic),
        "provenance": provenance(),
    }


def _final(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """Train lever ``name`` on all development photos; score it and the shipped model once on
    the held-out photos (the training run's per-epoch test is those photos: the epoch count
    is fixed by the recipe, the last epoch is kept)."""
    lever = LEVERS[name]
    out = Path(args.workdir) / "final.pt"
    cfg = replace(
        _recipe(args, lever),
        indices=args.dev,
        test_indices=args.heldout,
        test_split="train",
        out=str(out),
        extra={"lever": name, "cross_validation": shown_path(args.out)},
    )
    from svhn_xai.model.train import main as train

    tic = time.perf_counter()
    train(cfg)
    seconds = time.perf_counter() - tic
    device = resolve_device(args.device)
    heldout = load_tensors(cfg, "svhn", "train", args.heldout, None, 0.0)
    synthetic = load_tensors(cfg, "synthetic", "test", None, 2000, 0.0)
    truth = heldout.presence.numpy()
    probs = {}
    for who, path in (("candidate", out), ("shipped", Path(args.baseline))):
        model = model_from_checkpoint(load_checkpoint(path), path).to(device)
        probs[who] = (
            predict(model, heldout.images, device),
            predict(model, synthetic.images, device),
        )
    digits = tuple(range(10))
    record = {
        "lever": name,
        "train_seconds": round(seconds, 1),
        "heldout": args.heldout,
        "heldout_photos": len(truth),
        "candidate": balanced_accuracy_interval(probs["candidate"][0], truth, digits).to_dict(),
        "shipped": balanced_accuracy_interval(probs["shipped"][0], truth, digits).to_dict(),
        "candidate_vs_shipped": paired_difference(
            probs["candidate"][0], probs["shipped"][0], truth, digits
        ).to_dict(),
        "synthetic_test": {
            who: presence_scores(p[1], synthetic.presence.numpy(), digits)["balanced_accuracy"]
            for who, p in probs.items()
        },
    }
    if args.slim is not None:
        slim(out, args.slim)
        record["slim"] = Path(args.slim).name
    return record


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", default="../shared/svhn-sample", help="holds train/ (the sample)")
    p.add_argument("--dev", default="0:192", help="development photos, cross-validated")
    p.add_argument("--heldout", default="192:256", help="held-out photos, scored by --final")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument(
        "--levers", default="all", help=f"all, none, or comma-separated: {', '.join(LEVERS)}"
    )
    p.add_argument(
        "--baseline",
        default="checkpoints/synthetic.pt",
        help="the model levers are judged against and fine-tune (it must not have trained on "
        "--dev)",
    )
    p.add_argument(
        "--final",
        default="best",
        help="best (highest cross-validated balanced accuracy), a lever's name, or none",
    )
    p.add_argument("--slim", help="also write the final model's half-precision weights here")
    p.add_argument("--resamples", type=int, default=10_000, help="bootstrap resamples")
    p.add_argument("--device", default="auto")
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, help="override every lever's epochs (quick checks)")
    p.add_argument("--mix", type=int, help="override every lever's synthetic images (same)")
    p.add_argument("--workdir", default="checkpoints/runs/cv", help="fold checkpoints go here")
    p.add_argument("--out", default=str(default_path("real_cv")))
    p.add_argument(
        "--keep",
        action="store_true",
        help="add to the levers (and final) already in --out, measured on the same photos",
    )
    args = p.parse_args()
    names = {"all": list(LEVERS), "none": []}.get(args.levers, args.levers.split(","))
    unknown = [n for n in names if n not in LEVERS]
    if args.final not in ("best", "none"):
        unknown += [] if args.final in LEVERS else [args.final]
    if unknown:
        p.error(f"unknown lever(s) {', '.join(unknown)}; choose from {', '.join(LEVERS)}")

    card = load_checkpoint(args.baseline)
    if learnt(card.get("provenance") or {}, "svhn", "train", args.dev):
        p.error(
            f"--baseline {Path(args.baseline).name} trained on photos "
            f"{card['provenance'].get('indices') or 'all'}, "
            f"which overlap --dev {args.dev}: cross-validate against a model that never saw them"
        )
    folds = kfold(args.dev, args.folds)
    plain = TrainConfig(data="svhn", root=args.root, split="train", device=args.device)
    tic = time.perf_counter()
    shipped = score_checkpoint(args.baseline, plain, folds)
    results: dict[str, Any] = {
        "root": Path(args.root).name,
        "dev": args.dev,
        "heldout": args.heldout,
        "folds": args.folds,
        "resamples": args.resamples,
        "overrides": {"epochs": args.epochs, "mix_synthetic": args.mix},
        "baseline": Path(args.baseline).name,
        "shipped": {
            **_summary(shipped, None, args.resamples, time.perf_counter() - tic),
            **_shipped_once(args),
            "presence": shipped.presence.astype(int).tolist(),  # the photos' truth, in order
        },
        "levers": {},
    }
    if args.keep and Path(args.out).is_file():
        earlier = json.loads(Path(args.out).read_text())
        same = ("root", "dev", "heldout", "folds", "resamples", "overrides")
        weights = earlier["provenance"].get("checkpoint", {}).get("sha256")
        if any(earlier.get(k) != results[k] for k in same) or weights != file_sha256(args.baseline):
            p.error(f"--keep: {args.out} differs in the baseline's weights or one of {same}")
        results["levers"] = {
            # levers measured before carry the provenance of the run that measured them
            name: {"provenance": earlier["provenance"], **lever}
            for name, lever in earlier.get("levers", {}).items()
        }
        if "final" in earlier:
            results["final"] = earlier["final"]
    print(_line("shipped (no training)", results["shipped"]), flush=True)
    for name in names:
        results["levers"][name] = _run_lever(args, name, folds, shipped)
        print(_line(name, results["levers"][name]), flush=True)
        _familywise(results, args.resamples)
        save(args.out, results, checkpoint=args.baseline)
    _familywise(results, args.resamples)
    if args.final != "none" and results["levers"]:
        # with --keep, the levers measured earlier too; a lever that does not train has no
        # weights to ship
        scored = {n: r for n, r in results["levers"].items() if LEVERS[n].trains}
        name = (
            max(scored, key=lambda n: scored[n]["balanced_accuracy"]["estimate"])
            if args.final == "best"
            else args.final
        )
        results["final"] = _final(args, name)
        print(json.dumps({k: v for k, v in results["final"].items()}, indent=1), flush=True)
    save(args.out, results, checkpoint=args.baseline)


if __name__ == "__main__":
    main()
