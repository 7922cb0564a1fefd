"""Why Guided GradCAM defaults to layer3 and LRP to its default rule: localisation of each
choice on held-out images, beside the whole-image baseline.

    python -m benchmarks.layer_and_rule_choice [--limit 30] [--data synthetic|svhn --root DIR
        --split train --indices 0:192] [--out results/layer_and_rule_choice_DATA.json]

Prints pointing game, area under the IoU_1-vs-threshold curve and relevance mass in the box
for Guided GradCAM at every stage (16, 8, 4 and 2 px wide at a 64 px input), for every LRP
rule (epsilon 1e-6) and for the epsilon and gamma rules at other strengths, and writes them to
``--out``. This is a choice, so real photos come from the development part of the shared
sample (0-based indices 0:192), never from the held-out photos.
"""

from __future__ import annotations

import argparse

from benchmarks.record import default_path, save
from svhn_xai.checkpoint import load_model
from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.evaluate import evaluate_localisation
from svhn_xai.explain.lrp import RULES
from svhn_xai.model import STAGES


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint")
    parser.add_argument("--limit", type=int, default=30)
    parser.add_argument("--data", default="synthetic")
    parser.add_argument("--root")
    parser.add_argument("--split", default="test")
    parser.add_argument("--indices")
    parser.add_argument(
        "--out", help="results file (default results/layer_and_rule_choice_DATA.json)"
    )
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
    summary, rows = None, []
    for method, params, label in variants:
        summary = evaluate_localisation(model, items, [method], params={method: params})
        r = summary["methods"][method]
        keys = ("pointing_game", "auc_iou_1", "relevance_mass")
        rows.append({"method": method, "params": params, **{k: r[k] for k in keys}})
        print(
            f"{method:16s} {label:28s} {r['pointing_game']:8.3f} {r['auc_iou_1']:9.3f} "
            f"{r['relevance_mass']:6.3f}"
        )
    for name, r in summary["baselines"].items():
        print(f"baseline {name:36s} {r['pointing_game']:8.3f} {'':9s} {r['relevance_mass']:6.3f}")
    measured = {
        "data": args.data,
        "split": args.split,
        "indices": args.indices,
        "n_images": len(items),
        "n_pairs": summary["n_pairs"],
        "stage_sizes": sizes,
        "variants": rows,
        "baselines": {
            k: {m: v[m] for m in ("pointing_game", "relevance_mass")}
            for k, v in summary["baselines"].items()
        },
    }
    save(args.out or default_path(f"layer_and_rule_choice_{args.data}"), measured, card["path"])


if __name__ == "__main__":
    main()
