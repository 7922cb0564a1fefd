"""How SmoothGrad changes localisation and faithfulness, and what it costs, on held-out photos.

    python -m benchmarks.smoothing [--methods saliency,input_x_gradient,guided_backprop,lrp]
        [--indices 192:256] [--limit N] [--out results/smoothing.json]

Each method is evaluated twice by ``run_evaluation`` on the same (photo, digit) pairs at
the default protocol (:data:`svhn_xai.scoring.protocol.DEFAULT_PROTOCOL`): plain, and with
``smooth=smoothgrad`` at its default samples and noise. Printed per method and variant: IoU₁,
IoU₂, pointing game, relevance mass (higher is better), deletion AUC (lower is better),
insertion AUC (higher is better) and seconds per explanation. Photos 193-256 of the shared
sample (indices 192:256) are the held-out part: nothing was chosen on them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.record import default_path, save
from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.evaluation.run import EvaluationOptions, run_evaluation
from svhn_xai.model.checkpoint import load_model
from svhn_xai.scoring.protocol import DEFAULT_PROTOCOL

SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "svhn-sample"
COLUMNS = (
    ("iou_1", "IoU₁ ↑"),
    ("iou_2", "IoU₂ ↑"),
    ("pointing_game", "pointing ↑"),
    ("relevance_mass", "mass ↑"),
    ("auc_deletion_black", "deletion black ↓"),
    ("auc_deletion_blur", "deletion blur ↓"),
    ("auc_insertion_black", "insertion black ↑"),
    ("auc_insertion_blur", "insertion blur ↑"),
    ("seconds", "s"),
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--methods", default="saliency,input_x_gradient,guided_backprop,lrp")
    parser.add_argument("--root", default=str(SAMPLE), help="folder holding train/")
    parser.add_argument("--indices", default="192:256", help="held-out photos of the sample")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--checkpoint")
    parser.add_argument("--out", default=str(default_path("smoothing")))
    args = parser.parse_args()
    model, card = load_model(args.checkpoint)
    margin = card["config"].get("margin", 0.15)
    source = open_source("svhn", "train", args.root, indices=args.indices)
    items = [to_model_input(source[i], model.input_size, margin).item for i in range(len(source))]
    protocol = DEFAULT_PROTOCOL
    rows = {}
    for method in args.methods.split(","):
        for variant, params in (("none", {}), ("smoothgrad", {"smooth": "smoothgrad"})):
            options = EvaluationOptions(
                [method], protocol=protocol, limit=args.limit, params={method: params}
            )
            summary = run_evaluation(model, items, options)
            row = summary["methods"][method]
            rows[f"{method}+{variant}"] = {
                "n": row["n"],
                **{k: row.get(k) for k, _ in COLUMNS},
                **{f"{k}_ci": row.get(f"{k}_ci") for k, _ in COLUMNS},
            }
    save(
        args.out,
        {
            "data": f"svhn-sample/train[{args.indices}]",
            "limit": args.limit,
            "protocol": protocol.to_dict(),
            "rows": rows,
        },
        card["path"],
    )  # saved before printing: a printing error must not lose the measurement
    print(f"{'method':34s}" + "".join(f"{label:>18s}" for _, label in COLUMNS))
    for name, row in rows.items():
        print(f"{name:34s}" + "".join(f"{row[k]:18.3f}" for k, _ in COLUMNS))


if __name__ == "__main__":
    main()
