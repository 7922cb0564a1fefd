"""What a sampling map's stability costs: from its own halves, or from a second draw.

    python -m benchmarks.stability_cost [--photos 0:4] [--repeats 2]
        [--out results/stability_cost.json]

``explain --json`` and Explain's page report, for a sampling method, how much another draw of
the map would agree with it. Where the method keeps its samples' halves apart (every default),
that comes from the map itself (:func:`svhn_xai.explain.stability.stability`); before, the map
was drawn a second time. For each sampling method at its defaults, on the first target digit
of each development photo ``--photos``, both are timed here, in turn, ``--repeats`` times: the
map with its stability from its halves, and the map drawn twice (what a second draw costs).
Reports the median seconds of each per photo and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.record import default_path, save
from benchmarks.sampling_stability import SHARED_SAMPLE, development_photos
from svhn_xai.explain import explain
from svhn_xai.explain.stability import second_draw, stability
from svhn_xai.model.checkpoint import load_model

METHODS = ("gradient_shap", "shapley_value_sampling", "lime", "kernel_shap", "rise")


def _split_half(model, item, method: str) -> float:
    tic = time.perf_counter()
    e = explain(model, item.image, item.labels[0], method, seed=1)
    if "half_rho" not in stability(model, item.image, e):
        raise RuntimeError(f"{method}'s defaults keep no halves: nothing to compare")
    return time.perf_counter() - tic


def _second_draw(model, item, method: str) -> float:
    tic = time.perf_counter()
    e = explain(model, item.image, item.labels[0], method, seed=1)
    explain(model, item.image, item.labels[0], method, **second_draw(e.params, 1))
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=str(SHARED_SAMPLE), help="folder holding train/")
    parser.add_argument("--photos", default="0:4", help="0-based slice of photos 1-192")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(default_path("stability_cost")))
    args = parser.parse_args()
    model, card = load_model()
    items = development_photos(args.root, args.photos, model, card)
    methods = {}
    for method in METHODS:
        _split_half(model, items[0], method)  # untimed: lazy imports stay out of the timings
        split, second = [], []
        for _ in range(args.repeats):
            for item in items:  # in turn, so that a slow spell of the machine hits both
                split.append(_split_half(model, item, method))
                second.append(_second_draw(model, item, method))
        methods[method] = {
            "split_half_s": statistics.median(split),
            "second_draw_s": statistics.median(second),
            "ratio": statistics.median(second) / statistics.median(split),
        }
        m = methods[method]
        print(f"{method:24s} split-half {m['split_half_s']:.2f} s  second draw "
              f"{m['second_draw_s']:.2f} s  ({m['ratio']:.2f}x)", flush=True)  # fmt: skip
    data = f"svhn-sample/train[{args.photos}] (real photos, development split), first digit"
    save(args.out, {"data": data, "repeats": args.repeats, "methods": methods}, card["path"])


if __name__ == "__main__":
    main()
