"""``shortcut``: does the model rely on its planted cue, and which explainers show it?"""

from __future__ import annotations

import argparse
import json
import os
import shlex
from typing import Any

from svhn_xai.cli.options import emit


def add_parser(sub: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from svhn_xai.errors import CheckpointError, ParameterError
    from svhn_xai.evaluation import shortcut
    from svhn_xai.explain import REGISTRY
    from svhn_xai.model.checkpoint import DEFAULT_CHECKPOINT, load_model
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

    emit(result, args.json, text)
    return 0
