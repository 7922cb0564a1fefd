"""Are bfloat16 passes the same map? Each perturbation method, float32 against bfloat16.

    python -m benchmarks.precision_agreement [--photos 0:16]
        [--out results/precision_agreement.json]

For each method that takes ``precision`` (the seven whose passes only read the model's
outputs), at its defaults and ``seed=1`` where it draws: the same development photo and digit
explained with ``precision=float32`` and ``precision=bfloat16``, the two maps (channels summed)
compared by Spearman's rank correlation, as ``benchmarks.sampling_stability`` compares two seeds.
Per method: the median ρ over photos with a 95 % bootstrap interval (photos resampled), the
lowest ρ, and the median seconds of one call in each precision. The bfloat16 map is "the same
map" where its ρ with float32's is far above the seed-to-seed ρ of the sampling methods (0.9 at
their defaults): the rounding then moves the map less than a second draw does.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch

from benchmarks.record import default_path, save
from benchmarks.sampling_stability import (
    SHARED_SAMPLE,
    development_photos,
    development_span,
    median_ci,
)
from svhn_xai.explain import REGISTRY, explain
from svhn_xai.explain.precision import native_bfloat16
from svhn_xai.explain.stability import rank_agreement
from svhn_xai.model.checkpoint import load_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(SHARED_SAMPLE), help="folder holding train/")
    parser.add_argument("--photos", default="0:16", help="0-based slice of photos 1-192")
    parser.add_argument("--out", default=str(default_path("precision_agreement")))
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    start, stop = development_span(args.photos, parser, "--photos")
    if not native_bfloat16(torch.device("cpu")):
        raise SystemExit("this CPU has no native bfloat16: nothing to measure")
    model, card = load_model()
    items = development_photos(args.root, args.photos, model, card)
    methods = {}
    for key, spec in REGISTRY.items():
        if not spec.takes("precision"):
            continue
        given = {"seed": 1} if spec.takes("seed") else {}
        explain(model, items[0].image, items[0].labels[0], key, **given)  # lazy imports, warm-up
        rhos, seconds = [], {"float32": [], "bfloat16": []}
        for item in items:
            maps = {}
            for precision in seconds:
                tic = time.perf_counter()
                e = explain(model, item.image, item.labels[0], key, precision=precision, **given)
                seconds[precision].append(time.perf_counter() - tic)
                maps[precision] = e.attribution
            rhos.append(rank_agreement(maps["float32"], maps["bfloat16"]))
        rho, ci = median_ci(rhos)
        single, half = (statistics.median(seconds[p]) for p in ("float32", "bfloat16"))
        methods[key] = {
            "rho": rho,
            "rho_ci": ci,
            "rho_min": min(rhos),
            "seconds_float32": single,
            "seconds_bfloat16": half,
            "speed_up": single / half,
            "photos": len(items),
        }
        print(f"{key:24s} rho {rho:.4f} [{ci[0]:.4f}, {ci[1]:.4f}] min {min(rhos):.4f}  "
              f"{single:.3f} s -> {half:.3f} s  x{single / half:.2f}", flush=True)  # fmt: skip
    measured = {
        "data": f"svhn-sample/train photos {start + 1}-{stop} (development)",
        "seed": 1,
        "methods": methods,
    }
    save(args.out, measured, card["path"])


if __name__ == "__main__":
    main()
