"""How close the dashboard's run-time estimate comes to the real time, for every method.

    python -m benchmarks.cost_estimate [--out results/cost_estimate.json] [--cap 60]

For each method: its defaults, then each of its cost parameters (``Param.cost``) one at a time
at its most expensive end (the largest budget, or the smallest superpixel, window or stride),
brought back towards the default until the method accepts it and the estimate is under ``--cap``
seconds (smoothing's parameters with smoothing on). Each setting is estimated as the app
estimates it for the photo in view (:func:`svhn_xai.explain.cost.estimated_seconds`: two small
timed runs, ``a + b x passes``, or passes x the measured pass time; SLIC methods count that
photo's segments), then run on one real photo and timed. Prints estimate / measured for every
row and writes them, with the command, commit, checkpoint SHA-256 and machine, to ``--out``.
The app's target is a ratio within [0.5, 2].
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.errors import ParameterError
from svhn_xai.explain import REGISTRY, explain
from svhn_xai.explain.cost import estimated_passes, estimated_seconds
from svhn_xai.model.checkpoint import load_model
from svhn_xai.provenance import git_commit, provenance

SHARED_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "svhn-sample"
# parameters whose cost grows as they shrink (more features or windows)
SMALLER_COSTS_MORE = {"superpixel", "window", "stride"}


def expensive_settings(method: str, cap: float, model) -> list[dict[str, Any]]:
    """The method's defaults, then each cost parameter at its expensive end, moved back towards
    the default (halving the distance) while the method refuses it (a window smaller than the
    default stride) or its estimate is over ``cap`` seconds. A smoothing parameter is set with
    smoothing on, since it costs nothing otherwise."""
    out: list[dict[str, Any]] = [{}]
    for p in REGISTRY[method].params:
        if not p.cost or p.kind != "int":
            continue
        base = {"smooth": "smoothgrad"} if p.name.startswith("smooth_") else {}
        value = int(p.low if p.name in SMALLER_COSTS_MORE else p.high)
        while value != p.default:
            try:
                if estimated_seconds(model, method, {**base, p.name: value}) <= cap:
                    break
            except ParameterError:
                pass
            value = int(round((value + p.default) / 2))
        if value != p.default or base:
            out.append({**base, p.name: value})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/cost_estimate.json")
    parser.add_argument("--root", default=str(SHARED_SAMPLE), help="folder holding train/")
    parser.add_argument("--methods", default="all")
    parser.add_argument("--cap", type=float, default=60.0, help="largest estimate to run (s)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    commit = git_commit()  # before the results file changes the tree
    model, card = load_model()
    source = open_source("svhn", "train", args.root)
    item = to_model_input(source[0], model.input_size, card["config"].get("margin", 0.15)).item
    digit = item.labels[0]
    methods = list(REGISTRY) if args.methods == "all" else args.methods.split(",")
    rows = []
    for method in methods:
        for params in expensive_settings(method, args.cap, model):
            estimate = estimated_seconds(model, method, params, item.image)
            tic = time.perf_counter()
            explain(model, item.image, digit, method, **params)
            measured = time.perf_counter() - tic
            rows.append(
                {
                    "method": method,
                    "params": params,
                    "passes": estimated_passes(method, params, model.input_size, item.image),
                    "estimate_s": round(estimate, 3),
                    "measured_s": round(measured, 3),
                    "ratio": round(estimate / measured, 2),
                }
            )
            r = rows[-1]
            print(f"{method:24s} {json.dumps(params):28s} passes {r['passes']:6d}  estimate "
                  f"{r['estimate_s']:8.2f} s  measured {r['measured_s']:8.2f} s  "
                  f"ratio {r['ratio']:.2f}", flush=True)  # fmt: skip
    within = sum(0.5 <= r["ratio"] <= 2 for r in rows)
    print(f"{within} of {len(rows)} estimates within [0.5, 2] of the measured time")
    payload = {
        "rows": rows,
        "within": [within, len(rows)],
        "cap_s": args.cap,
        "image": "shared sample train photo 1 (index 0)",
        "provenance": provenance(
            "python -m benchmarks.cost_estimate " + " ".join(sys.argv[1:]), card["path"], commit
        ),
    }
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
