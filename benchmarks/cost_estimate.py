"""How close the dashboard's run-time estimate comes to the real time, at large budgets.

    python -m benchmarks.cost_estimate [--out results/cost_estimate.json]

For each setting: the calibrated estimate (svhn_xai.explain.cost: two timed small-budget runs,
seconds = a + b x passes), the old passes-only estimate (passes x forward cost, no surrogate fit
or per-sample overhead), and the measured time of the real run on one real photo. Prints a table
and writes it, with the command, commit, checkpoint SHA-256 and machine, to --out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.explain import explain
from svhn_xai.explain.cost import estimated_passes, estimated_seconds, seconds_per_image
from svhn_xai.model.checkpoint import DEFAULT_CHECKPOINT, load_model

SETTINGS = [
    ("kernel_shap", {"n_samples": 2000}),
    ("lime", {"n_samples": 2000}),
    ("occlusion", {"stride": 1}),
    ("shapley_value_sampling", {"n_samples": 8}),
    ("integrated_gradients", {"n_steps": 256}),
]


def machine() -> dict:
    cpu = platform.processor()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if "model name" in line)
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default="results/cost_estimate.json")
    parser.add_argument("--folder", default="../shared/svhn-sample")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    model, _ = load_model()
    item = to_model_input(open_source("svhn", "train", args.folder)[0], model.input_size).item
    digit = item.labels[0]
    rows = []
    for method, params in SETTINGS:
        tic = time.perf_counter()
        estimate = estimated_seconds(model, method, params)
        calibration = time.perf_counter() - tic
        passes_only = estimated_passes(method, params, model.input_size) * seconds_per_image(model)
        tic = time.perf_counter()
        explain(model, item.image, digit, method, **params)
        actual = time.perf_counter() - tic
        rows.append(
            {
                "method": method,
                "params": params,
                "estimate_s": round(estimate, 2),
                "passes_only_estimate_s": round(passes_only, 2),
                "actual_s": round(actual, 2),
                "estimate_over_actual": round(estimate / actual, 2),
                "calibration_s": round(calibration, 2),
            }
        )
        r = rows[-1]
        print(f"{method:24s} {json.dumps(params):22s} estimate {r['estimate_s']:7.2f} s  "
              f"passes only {r['passes_only_estimate_s']:7.2f} s  actual {r['actual_s']:7.2f} s  "
              f"ratio {r['estimate_over_actual']:.2f}  (calibration {r['calibration_s']:.2f} s)",
              flush=True)  # fmt: skip
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    payload = {
        "command": "python -m benchmarks.cost_estimate " + " ".join(sys.argv[1:]),
        "commit": commit.strip(),
        "checkpoint_sha256": hashlib.sha256(DEFAULT_CHECKPOINT.read_bytes()).hexdigest(),
        "machine": machine(),
        "image": "shared sample train index 0",
        "rows": rows,
    }
    Path(args.out).write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
