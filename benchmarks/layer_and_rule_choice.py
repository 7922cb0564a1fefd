"""Why Guided GradCAM defaults to layer3 and LRP to its default rule: localisation of each
choice on synthetic images the model never saw and on real development photos, beside the
whole-image baseline.

    python -m benchmarks.layer_and_rule_choice [--limit 30] [--data synthetic|svhn --root DIR
        --split train --indices 0:192] [--out results/layer_and_rule_choice_DATA.json]

Prints pointing game, area under the IoU_1-vs-threshold curve and relevance mass in the box
for Guided GradCAM at every stage (16, 8, 4 and 2 px wide at a 64 px input), for every LRP
rule (epsilon 1e-6) and for the epsilon and gamma rules at other strengths, over every (image,
digit present) pair, and writes them to ``--out``. None of these depends on a threshold, and
no faithfulness curve is computed: the choice is about where the relevance lands. This is a
choice, so real photos come from the development part of the shared sample (0-based indices
0:192), never from the held-out photos; the shipped model was fine-tuned on them, so the
synthetic images are the ones it never saw.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from benchmarks.record import default_path, save
from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.explain import explain
from svhn_xai.explain.lrp import RULES
from svhn_xai.model.checkpoint import load_model
from svhn_xai.model.network import STAGES
from svhn_xai.scoring.localisation import localise
from svhn_xai.scoring.protocol import DEFAULT_PROTOCOL

SCORES = ("pointing_game", "relevance_mass")


def _scores(model, items, method: str, params: dict[str, Any]) -> tuple[dict, dict]:
    """Mean pointing game, AUC of IoU_1 and relevance mass of ``method`` over every (image,
    digit present) pair, and the baselines' pointing game and mass on the same pairs."""
    rows, baselines = [], {}
    for item in items:
        for digit in sorted(set(item.labels) & set(model.digits)):
            e = explain(model, item.image, digit, method, **params)
            r = localise(
                e, item.boxes_of(digit), DEFAULT_PROTOCOL.mode, DEFAULT_PROTOCOL.value, curve=True
            )
            rows.append({**{k: r[k] for k in SCORES}, "auc_iou_1": r["curve"]["auc_iou_1"]})
            for name, b in r["baselines"].items():
                baselines.setdefault(name, []).append({k: b[k] for k in SCORES})
    mean = {k: float(np.mean([row[k] for row in rows])) for k in rows[0]}
    base = {
        n: {k: float(np.mean([b[k] for b in bs])) for k in SCORES} for n, bs in baselines.items()
    }
    return {**mean, "n_pairs": len(rows)}, base


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--root")
    parser.add_argument("--split", default="test")
    parser.add_argument("--indices")
    parser.add_argument("--out", help="default: results/layer_and_rule_choice_DATA.json")
    args = parser.parse_args()
    model, card = load_model(args.checkpoint)
    source = open_source(args.data, args.split, args.root, indices=args.indices)
    margin = card["config"].get("margin", 0.15)
    items = [to_model_input(source[i], model.input_size, margin).item for i in range(args.limit)]
    sizes = model.stage_sizes()
    print(f"{args.limit} {args.data} images; {'':28s} pointing  AUC IoU_1  mass")
    variants = [("guided_gradcam", {"layer": s}, f"{s} ({sizes[s]}x{sizes[s]})") for s in STAGES]
    variants += [("lrp", {"rule": r, "epsilon": 1e-6}, f"{r} (eps 1e-6)") for r in RULES]
    variants += [("lrp", {"rule": "epsilon", "epsilon": e}, f"epsilon (eps {e})") for e in (0.1, 1)]
    variants += [("lrp", {"rule": "gamma", "gamma": g}, f"gamma (gamma {g})") for g in (0.1, 1)]
    rows, baselines = [], {}
    for method, params, label in variants:
        r, baselines = _scores(model, items, method, params)
        print(
            f"{method:16s} {label:28s} {r['pointing_game']:8.3f} {r['auc_iou_1']:9.3f} "
            f"{r['relevance_mass']:6.3f}",
            flush=True,
        )
        rows.append({"method": method, "params": params, **r})
    for name, r in baselines.items():
        print(f"baseline {name:36s} {r['pointing_game']:8.3f} {'':9s} {r['relevance_mass']:6.3f}")
    measured = {
        "data": args.data,
        "split": args.split,
        "indices": args.indices,
        "n_images": len(items),
        "n_pairs": rows[0]["n_pairs"],
        "stage_sizes": sizes,
        "variants": rows,
        "baselines": baselines,
    }
    save(args.out or default_path(f"layer_and_rule_choice_{args.data}"), measured, card["path"])


if __name__ == "__main__":
    main()
