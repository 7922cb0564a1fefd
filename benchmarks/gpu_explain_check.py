"""Every method on a CUDA GPU: does it run, does it agree with the CPU, how fast does it go.

    python -m benchmarks.gpu_explain_check [--pairs 32] [--compare 4]
        [--out results/gpu_explain_check.json]

For each registered method at its defaults: ``explain_batch`` of ``--compare`` (image, digit)
pairs on the CPU and on the GPU (TF32 off, so that the two differ by float rounding, not by a
10-bit mantissa), the largest difference relative to the map's largest magnitude, and then the
GPU's seconds per pair on ``--pairs`` pairs (after a warm-up, synchronised). Methods that draw
random samples draw them from device-specific generators, so their GPU maps need not equal the
CPU's; they are reported, not judged. Needs a GPU: there is none in CI, so this is a device
check, run when a GPU machine is lent (see docs/speed.md).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.record import default_path, save
from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.explain import REGISTRY, explain_batch
from svhn_xai.model.checkpoint import load_model

# maps drawn from random samples (noise, subsets, orderings) on the device's own generators
SAMPLED = {"gradient_shap", "lime", "kernel_shap", "shapley_value_sampling"}


def _maps(model: torch.nn.Module, images: list, digits: list, key: str) -> np.ndarray:
    return np.stack([e.attribution for e in explain_batch(model, images, digits, key)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=32)
    parser.add_argument("--compare", type=int, default=4)
    parser.add_argument("--out", default=str(default_path("gpu_explain_check")))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU is visible: this check needs one")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    cpu, card = load_model(None)
    gpu, _ = load_model(None)
    gpu.to("cuda")
    source = open_source("synthetic", "test")
    items = [to_model_input(source[i], cpu.input_size).item for i in range(args.pairs)]
    images = [item.image for item in items]
    digits = [int(item.labels[0]) for item in items]
    n = args.compare
    rows = []
    for key in REGISTRY:
        row: dict = {"method": key}
        try:
            on_cpu = _maps(cpu, images[:n], digits[:n], key)
            on_gpu = _maps(gpu, images[:n], digits[:n], key)
            scale = max(float(np.abs(on_cpu).max()), 1e-12)
            row["max_relative_difference"] = float(np.abs(on_gpu - on_cpu).max()) / scale
            row["judged"] = key not in SAMPLED
            explain_batch(gpu, images, digits, key)  # warm-up: kernels, cuDNN's choices
            torch.cuda.synchronize()
            tic = time.perf_counter()
            explain_batch(gpu, images, digits, key)
            torch.cuda.synchronize()
            row["gpu_seconds_per_pair"] = (time.perf_counter() - tic) / args.pairs
            row["ok"] = not row["judged"] or row["max_relative_difference"] < 1e-3
        except Exception as exc:  # reported per method: one failure must not hide the others
            row.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        rows.append(row)
        print(row, flush=True)
    save(
        args.out,
        {
            "device": torch.cuda.get_device_name(),
            "torch": torch.__version__,
            "checkpoint": Path(card["path"]).name,
            "pairs": args.pairs,
            "compare": n,
            "methods": rows,
        },
    )


if __name__ == "__main__":
    main()
