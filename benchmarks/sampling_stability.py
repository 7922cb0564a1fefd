"""Are a sampling method's maps the same map twice? Seed-to-seed agreement against budget.

    python -m benchmarks.sampling_stability [--photos 0:16] [--methods a,b] [--quick]
        [--out results/sampling_stability.json]

For each method that draws random samples (GradientShap, DeepLiftShap's baselines, Shapley
Value Sampling, LIME, KernelShap, RISE) and each budget on a ladder that starts at its default:
the same development photo and digit explained with ``seed=1`` and ``seed=2``, the two
attributions (channels summed, as ``--save-attribution`` writes them) compared by Spearman's
rank correlation. Per budget: the median ρ over photos with a 95 % percentile bootstrap
interval (photos resampled: the unit that is independent), the median seconds of one call, and
the model passes. Photos are the development ones (1-192 of the shared sample, the first
target digit of each); the held-out ones are never used here.

Writes ``{"methods": {KEY: {"default", "previous_default", "curve"}}, "provenance"}``: the
defaults are those at the measuring commit; ``previous_default`` holds the settings the
defaults had before this benchmark existed (commit af7e869), measured the same way.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.record import default_path, save
from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.explain import REGISTRY, explain
from svhn_xai.explain.cost import estimated_passes
from svhn_xai.explain.stability import rank_agreement
from svhn_xai.model.checkpoint import load_model

SHARED_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "svhn-sample"
# method: (budget parameter, multiples of the default on the ladder)
LADDERS = {
    "gradient_shap": ("n_samples", (1, 2, 4, 8)),
    "deep_lift_shap": ("n_baselines", (1, 2, 4, 8)),
    "shapley_value_sampling": ("n_samples", (1, 2, 4, 8)),
    "lime": ("n_samples", (1, 2, 4, 8)),
    "kernel_shap": ("n_samples", (1, 2, 4, 8)),
    "rise": ("n_masks", (1, 2, 4, 8)),
}
# the defaults when the instability was reported (commit af7e869)
PREVIOUS_DEFAULTS = {
    "gradient_shap": {"n_samples": 32},
    "deep_lift_shap": {"n_baselines": 4},
    "shapley_value_sampling": {"n_samples": 4},
    "lime": {"n_samples": 256},
    "kernel_shap": {"n_samples": 256},
    "rise": {"n_masks": 512},
}
SEEDS = (1, 2)
RESAMPLES = 2000


def median_ci(values: list[float], seed: int = 0) -> tuple[float, list[float]]:
    """The median and its 95 % percentile bootstrap interval over ``values`` (one per photo)."""
    v = np.asarray(values, float)
    rng = np.random.default_rng(seed)
    medians = np.median(v[rng.integers(0, len(v), (RESAMPLES, len(v)))], axis=1)
    return float(np.median(v)), [float(q) for q in np.quantile(medians, [0.025, 0.975])]


def agreement(model, items: list, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """ρ between the maps of seeds 1 and 2 on each item, with seconds and passes."""
    rhos, seconds = [], []
    for item in items:
        maps = []
        for seed in SEEDS:
            tic = time.perf_counter()
            e = explain(model, item.image, item.labels[0], method, **params, seed=seed)
            seconds.append(time.perf_counter() - tic)
            maps.append(e.attribution)
        rhos.append(rank_agreement(*maps))
    rho, ci = median_ci(rhos)
    return {
        "params": params,
        "passes": estimated_passes(method, params, model.input_size),
        "seconds": float(np.median(seconds)),
        "rho": rho,
        "rho_ci": ci,
        "rho_per_photo": [round(r, 4) for r in rhos],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(SHARED_SAMPLE), help="folder holding train/")
    parser.add_argument("--photos", default="0:16", help="0-based slice of photos 1-192")
    parser.add_argument("--methods", default=",".join(LADDERS))
    parser.add_argument("--quick", action="store_true", help="the default and 2x only")
    parser.add_argument("--out", default=str(default_path("sampling_stability")))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    start, stop = (int(v) for v in args.photos.split(":"))
    if not 0 <= start < stop <= 192:
        parser.error("--photos must lie within the development photos 0:192")
    model, card = load_model()
    source = open_source("svhn", "train", args.root, indices=args.photos)
    margin = card["config"].get("margin", 0.15)
    items = [to_model_input(source[i], model.input_size, margin).item for i in range(len(source))]
    print(f"{len(items)} development photos; rho = median Spearman between seeds 1 and 2")
    methods = {}
    for method in args.methods.split(","):
        name, ladder = LADDERS[method]
        default = next(p.default for p in REGISTRY[method].params if p.name == name)
        high = next(p.high for p in REGISTRY[method].params if p.name == name)
        curve = []
        for multiple in ladder[:2] if args.quick else ladder:
            budget = min(int(default * multiple), int(high))
            row = agreement(model, items, method, {name: budget})
            curve.append({k: row[k] for k in ("params", "passes", "seconds", "rho", "rho_ci")})
            print(f"{method:24s} {name}={budget:6d}  passes {row['passes']:6d}  "
                  f"{row['seconds']:7.3f} s  rho {row['rho']:.3f} "
                  f"[{row['rho_ci'][0]:.3f}, {row['rho_ci'][1]:.3f}]", flush=True)  # fmt: skip
            if multiple == 1:
                first = row
        previous = PREVIOUS_DEFAULTS[method]
        same = previous == {name: default}
        methods[method] = {
            "parameter": name,
            "default": first,
            "previous_default": first if same else agreement(model, items, method, previous),
            "curve": curve,
        }
    measured = {
        "data": f"svhn-sample/train photos {start + 1}-{stop} (development)",
        "seeds": list(SEEDS),
        "methods": methods,
    }
    save(args.out, measured, card["path"])


if __name__ == "__main__":
    main()
