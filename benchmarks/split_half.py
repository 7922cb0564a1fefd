"""Does a map's split-half stability tell what a second draw would? Both, on the same photos.

    python -m benchmarks.split_half [--photos 0:16] [--methods a,b]
        [--out results/split_half.json]

``explain --json`` and the app report a sampling method's seed-to-seed agreement ρ from the
two halves of the map's own samples, stepped up to the whole map by Spearman-Brown
(:func:`svhn_xai.explain.stability.split_half`), where the method splits its samples; before,
they drew the map a second time and compared the two. Here each method, at its defaults, maps
the first target digit of each development photo ``--photos`` (a 0-based slice of photos 1-192
of the shared sample) with seeds 1, 2, 3 and 4, and per photo:

- ``split_half``: the split-half estimate from the seed-1 map, and ``split_half_again`` from
  the seed-3 map (an independent draw: how much the reported number moves from run to run);
- ``second_draw``: ρ between the seed-1 and seed-2 maps (the estimate it replaces), and
  ``second_draw_again`` between seeds 3 and 4;
- ``reference``: the mean ρ over all six pairs of the four maps, the closest this benchmark
  comes to the photo's true seed-to-seed agreement.

Per method: the median of each over photos, with a 95 % bootstrap interval over photos (the
unit that is independent); the median gap of each estimate to the reference; the median
run-to-run change of each; and on how many photos each gives the same verdict (ρ at or above
``STABLE_RHO``) as the reference.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from typing import Any

import numpy as np

from benchmarks.record import default_path, save
from benchmarks.sampling_stability import SHARED_SAMPLE, development_photos, median_ci
from svhn_xai.explain import REGISTRY, explain
from svhn_xai.explain.params import validate
from svhn_xai.explain.stability import STABLE_RHO, rank_agreement, split_half
from svhn_xai.model.checkpoint import load_model

METHODS = ("gradient_shap", "shapley_value_sampling", "lime", "kernel_shap", "rise")
SEEDS = (1, 2, 3, 4)
ESTIMATES = ("split_half", "split_half_again", "second_draw", "second_draw_again", "reference")


def per_photo(model, item, method: str) -> dict[str, float]:
    """Every estimate of one photo's seed-to-seed agreement (see the module's docstring)."""
    digit = item.labels[0]
    maps = [explain(model, item.image, digit, method, seed=seed) for seed in SEEDS]
    pairs = {
        (a, b): rank_agreement(maps[a].attribution, maps[b].attribution)
        for a, b in itertools.combinations(range(len(maps)), 2)
    }
    return {
        "split_half": split_half(maps[0])["rho"],
        "split_half_again": split_half(maps[2])["rho"],
        "second_draw": pairs[0, 1],
        "second_draw_again": pairs[2, 3],
        "reference": statistics.fmean(pairs.values()),
    }


def summary(rows: list[dict[str, float]]) -> dict[str, Any]:
    """Medians with intervals, gaps to the reference, run-to-run changes and verdicts."""
    out: dict[str, Any] = {"photos": len(rows)}
    for key in ESTIMATES:
        median, ci = median_ci([r[key] for r in rows])
        out[key] = {"median": median, "ci": ci}
    for estimate in ("split_half", "second_draw"):
        again = f"{estimate}_again"
        out[estimate]["gap_to_reference"] = float(
            np.median([abs(r[estimate] - r["reference"]) for r in rows])
        )
        out[estimate]["run_to_run"] = float(np.median([abs(r[estimate] - r[again]) for r in rows]))
        out[estimate]["same_verdict"] = sum(
            (r[estimate] >= STABLE_RHO) == (r["reference"] >= STABLE_RHO) for r in rows
        )
    return out


def _defaults(method: str) -> dict[str, Any]:
    """The method's default parameters, but its seed (the benchmark draws several)."""
    params = validate(REGISTRY[method].params, {}, method)
    return {k: v for k, v in params.items() if k != "seed"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(SHARED_SAMPLE), help="folder holding train/")
    parser.add_argument("--photos", default="0:16", help="0-based slice of photos 1-192")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--out", default=str(default_path("split_half")))
    args = parser.parse_args()
    model, card = load_model()
    items = development_photos(args.root, args.photos, model, card)
    methods = {}
    for method in args.methods.split(","):
        rows = [per_photo(model, item, method) for item in items]
        methods[method] = {
            "params": _defaults(method),
            **summary(rows),
            "per_photo": [{k: round(v, 4) for k, v in r.items()} for r in rows],
        }
        s = methods[method]
        print(
            f"{method:24s} split-half {s['split_half']['median']:.3f} "
            f"(gap {s['split_half']['gap_to_reference']:.3f}, run to run "
            f"{s['split_half']['run_to_run']:.3f})  second draw {s['second_draw']['median']:.3f} "
            f"(gap {s['second_draw']['gap_to_reference']:.3f}, run to run "
            f"{s['second_draw']['run_to_run']:.3f})  reference {s['reference']['median']:.3f}",
            flush=True,
        )
    data = f"svhn-sample/train[{args.photos}] (real photos, development split), first digit"
    save(args.out, {"data": data, "seeds": list(SEEDS), "methods": methods}, card["path"])


if __name__ == "__main__":
    main()
