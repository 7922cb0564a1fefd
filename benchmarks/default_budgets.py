"""How large the deterministic budgets must be: each map against a converged one.

    python -m benchmarks.default_budgets [--photos 0:8] [--checkpoint PATH] [--methods a,b]
        [--out results/default_budgets.json]

Two methods have a budget that draws nothing at random: Integrated Gradients' path points
(``n_steps``) and Feature Permutation's donors (``batch_size``, fixed synthetic images). For
each and a ladder of budgets, prints the median Spearman rank correlation of the heatmap with
the map at a large reference budget, on development photos (1-8 of the shared sample, the
first target digit of each), and the median seconds per image. For Integrated Gradients it also
prints the completeness gap |sum(attribution) - (f(x) - f(x'))| relative to |f(x) - f(x')|. A
default is good enough where its maps rank pixels almost as the converged ones do; below that,
extra speed is paid for in a different explanation. The methods that draw samples are
``benchmarks.sampling_stability``'s: their budget decides whether two draws agree.
Everything printed is also written to ``--out``.
"""

from __future__ import annotations

import argparse
import statistics
import warnings
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

from benchmarks.record import default_path, save
from svhn_xai.cli.options import HELD_OUT
from svhn_xai.data.indices import overlap
from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.explain import REGISTRY, explain
from svhn_xai.explain.references import baseline
from svhn_xai.model.checkpoint import load_model

SHARED_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "svhn-sample"
# method: (budget parameter, ladder, reference budget)
LADDERS = {
    "integrated_gradients": ("n_steps", (8, 12, 16, 24, 32, 50), 256),
    "feature_permutation": ("batch_size", (2, 3, 5, 9, 17), 33),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint")
    parser.add_argument("--root", default=str(SHARED_SAMPLE), help="folder holding train/")
    parser.add_argument("--photos", default="0:8", help="0-based slice of photos 1-192")
    parser.add_argument("--methods", default=",".join(LADDERS))
    parser.add_argument("--out", default=str(default_path("default_budgets")))
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=UserWarning)
    model, card = load_model(args.checkpoint)
    margin = card["config"].get("margin", 0.15)
    start, stop = (int(v) for v in args.photos.split(":"))
    if overlap(args.photos, HELD_OUT, None):
        parser.error(f"--photos must be development photos, outside {HELD_OUT}")
    source = open_source("svhn", "train", args.root, indices=args.photos)
    items = [to_model_input(source[i], model.input_size, margin).item for i in range(len(source))]
    data = f"svhn-sample/train photos {start + 1}-{stop} (development), the first digit of each"
    print(f"{data}; rho = median Spearman vs the reference map")
    methods = []
    for key in args.methods.split(","):
        name, ladder, reference = LADDERS[key]
        refs = [explain(model, it.image, it.labels[0], key, **{name: reference}) for it in items]
        default = next(p.default for p in REGISTRY[key].params if p.name == name)
        print(f"\n{key} ({name}; reference {reference}, default {default})")
        steps = []
        methods.append(
            {
                "method": key,
                "parameter": name,
                "default": default,
                "reference": reference,
                "ladder": steps,
            }
        )
        for budget in ladder:
            rhos, seconds, gaps = [], [], []
            for item, ref in zip(items, refs):
                e = explain(model, item.image, item.labels[0], key, **{name: budget})
                rhos.append(spearmanr(e.heatmap().ravel(), ref.heatmap().ravel())[0])
                seconds.append(e.seconds)
                if key == "integrated_gradients":
                    x = torch.from_numpy(item.image).permute(2, 0, 1).float().div(255)[None]
                    with torch.no_grad():
                        base = float(
                            model(baseline(x, e.params["baseline"]))[0, model.head(e.digit)]
                        )
                    gaps.append(abs(e.relevance.sum() - (e.logit - base)) / abs(e.logit - base))
            line = f"  {name}={budget:5d}  rho {statistics.median(rhos):.3f}"
            line += f"  min {min(rhos):.3f}  {statistics.median(seconds):.3f} s"
            if gaps:
                line += f"  completeness gap {np.median(gaps):.3f}"
            print(line, flush=True)
            steps.append(
                {
                    "budget": budget,
                    "rho_median": float(statistics.median(rhos)),
                    "rho_min": float(min(rhos)),
                    "seconds_median": float(statistics.median(seconds)),
                    "completeness_gap_median": float(np.median(gaps)) if gaps else None,
                }
            )
    measured = {"data": data, "n_images": len(items), "methods": methods}
    save(args.out, measured, card["path"])


if __name__ == "__main__":
    main()
