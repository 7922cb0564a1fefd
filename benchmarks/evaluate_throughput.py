"""How fast ``evaluate`` scores (image, digit) pairs: one at a time, batched, and in 2 processes.

    python -m benchmarks.evaluate_throughput [--photos 8] [--one-pass-photos 32]
        [--batch-size 32] [--repeats 3] [--out results/evaluate_throughput.json]

Part 1, ``evaluate`` as users run it (the CLI, localisation scores only, ``--faithfulness
none``), on real photos in the official layout, the shared sample's development photos (the
first ``--photos``; the test split is read the same way): pairs per second one pair at a time
(``--batch-size 1``) and batched (``--batch-size B``), for four groups of methods. Time is the
evaluation's own wall time as the results file records it (no interpreter start-up), and the
peak resident memory of the process (the largest rank's for torchrun).

The one-pass group's runs take seconds: they use ``--one-pass-photos`` photos (several batches,
so that first-call costs are spread as on a real split), its ways run in turn ``--repeats``
times and each keeps its median, and it adds a third way, batched in 2 processes (``torchrun
--nproc_per_node=2``, one thread each): torchrun shares out whole batches, which needs several.
One row adds the faithfulness curves (``--faithfulness basic``), 68 model passes per map.

Part 2, each method alone: seconds per pair of ``explain()`` one pair at a time and of
``explain_batch()`` on B pairs (each the median of ``--repeats`` runs), and the batched floor:
the method's model passes as plain batched passes of the model (forward only, in batches of up
to 64, for perturbation methods and gradient-free CAMs; one forward plus input gradient over
all the passes' images for the rest), timed in turn with the method, median of as many runs. Last,
the projected time of the whole SVHN test split (13,068 photos) at the measured pairs per
second.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.explainers import backward_run, forward_run
from benchmarks.record import default_path, save
from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.explain import REGISTRY, explain, explain_batch
from svhn_xai.explain.base import as_input
from svhn_xai.model.checkpoint import load_model

GROUPS = {
    "one-pass gradient": "saliency,input_x_gradient,guided_backprop,deconvolution",
    "gradient": "integrated_gradients,saliency,deep_lift,deep_lift_shap,gradient_shap,"
    "input_x_gradient,guided_backprop,guided_gradcam,deconvolution,lrp",
    "perturbation": "feature_ablation,occlusion,rise,score_cam",
    "all": "all",
}
TEST_SPLIT_PHOTOS = 13_068  # the official SVHN test split
# real photos in the official layout, as the test split is read: the shared sample's
# development photos (1.png onwards; the held-out 193-256 are left alone)
SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "svhn-sample"
DEVELOPMENT = 192


def _evaluate(args: list[str], processes: int, out: Path) -> dict:
    """One CLI evaluate run; its summary (with ``peak_rss_mb``, its largest process's)."""
    if processes == 1:
        prefix = [sys.executable]
    else:
        prefix = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        prefix.append(f"--nproc_per_node={processes}")
    # each of N processes gets cores / N threads, so that they share the machine, not fight
    threads = max(1, (os.cpu_count() or 1) // processes)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [*prefix, "-m", "svhn_xai", "evaluate", *args, "--quiet", "--json", str(out)]
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def throughput(
    photos: int,
    batch: int,
    faithfulness: str,
    methods: str,
    repeats: int = 1,
    processes: tuple[int, ...] = (1,),
) -> list[dict]:
    """Part 1 for one group: pairs per second one at a time and batched (in each number of
    ``processes``), on the same photos; with ``repeats``, the ways run in turn that many times
    and each keeps its median (a short run's figure moves with the machine's load)."""
    base = ["--data", "svhn", "--root", str(SAMPLE), "--split", "train"]
    base += ["--indices", f"0:{photos}", "--sanity", "0"]
    base += ["--methods", methods, "--faithfulness", faithfulness]
    modes = [("one at a time", 1, 1)] + [
        (f"batched ({batch})" + (f", {n} processes" if n > 1 else ""), batch, n) for n in processes
    ]
    runs: dict[str, list[dict]] = {label: [] for label, _, _ in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(repeats):
            for label, size, processes in modes:
                args = [*base, "--batch-size", str(size)]
                runs[label].append(_evaluate(args, processes, Path(tmp) / "run.json"))
    rows = []
    for label, size, processes in modes:
        seconds = statistics.median(s["seconds"] for s in runs[label])
        pairs = runs[label][0]["n_pairs"]
        peak = max(s["peak_rss_mb"] for s in runs[label])
        rows.append(
            {
                "mode": label,
                "photos": photos,
                "batch_size": size,
                "processes": processes,
                "pairs": pairs,
                "seconds": seconds,
                "repeats": repeats,
                "pairs_per_second": pairs / seconds,
                "peak_rss_mb": peak,
            }
        )
        print(
            f"  {label:30s} {pairs:4d} pairs {seconds:8.1f} s {pairs / seconds:7.2f} pairs/s  "
            f"peak {peak:.0f} MB" + (f"  (median of {repeats})" if repeats > 1 else ""),
            flush=True,
        )
    return rows


def per_method(batch: int, repeats: int) -> list[dict]:
    """Part 2: each method's explain() and explain_batch() against its batched floor."""
    model, _ = load_model(None)
    source = open_source("synthetic", "test")
    items = [to_model_input(source[i], model.input_size).item for i in range(batch)]
    images = [item.image for item in items]
    digits = [int(item.labels[0]) for item in items]
    x = as_input(images[0], model.input_size)
    head = model.head(digits[0])
    rows = []
    for key, spec in REGISTRY.items():
        one = statistics.median(_time(lambda k=key: explain(model, images[0], digits[0], k))
                                for _ in range(repeats))  # fmt: skip
        batched = explain_batch(model, images, digits, key)  # warm-up, and the pass count
        passes = batched[0].model_passes * batch
        if spec.cost.gradient_free:
            size = min(passes, 64)  # forward passes, in batches of up to 64 images
            floor_run, per_pair = forward_run(model, x, size), passes / size / batch
        else:
            floor_run, per_pair = backward_run(model, x, passes, head), 1 / batch
        floor_run()  # warm-up
        # the method and its floor timed in turn, so that a slow spell of the machine (they
        # move 10-15 % from minute to minute here) hits both
        many_times, floor_times = [], []
        for _ in range(repeats):
            many_times.append(_time(lambda k=key: explain_batch(model, images, digits, k)))
            floor_times.append(_time(floor_run))
        many = statistics.median(many_times) / batch
        floor = statistics.median(floor_times) * per_pair
        rows.append(
            {
                "method": key,
                "batched": spec.batched,
                "one_seconds": one,
                "batched_seconds": many,
                "speed_up": one / many,
                "floor_seconds": floor,
                "over_floor": many / floor,
            }
        )
        print(
            f"  {key:24s} one {one:7.3f} s  batched {many:7.3f} s/pair  "
            f"x{one / many:5.1f}  floor {floor:7.3f}  /floor {many / floor:5.2f}",
            flush=True,
        )
    return rows


def _time(fn) -> float:
    tic = time.perf_counter()
    fn()
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=8, help="real photos per run")
    parser.add_argument(
        "--one-pass-photos", type=int, default=32, help="real photos per one-pass group run"
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(default_path("evaluate_throughput")))
    args = parser.parse_args()
    if not (SAMPLE / "train").is_dir():
        raise SystemExit(f"needs the shared SVHN sample beside the repository: {SAMPLE}")
    if args.photos > DEVELOPMENT or args.one_pass_photos > DEVELOPMENT:
        raise SystemExit(f"the sample's development photos are the first {DEVELOPMENT}")
    torch.set_num_threads(os.cpu_count() or 1)
    groups = []
    for name, methods in GROUPS.items():
        print(f"{name}:", flush=True)
        if name == "one-pass gradient":  # seconds a run: more photos, repeated, and torchrun
            rows = throughput(
                args.one_pass_photos, args.batch_size, "none", methods, args.repeats, (1, 2)
            )
        else:
            rows = throughput(args.photos, args.batch_size, "none", methods)
        groups.append({"group": name, "methods": methods, "faithfulness": "none", "rows": rows})
    print("one-pass gradient, with the faithfulness curves:", flush=True)
    rows = throughput(args.photos, args.batch_size, "basic", GROUPS["one-pass gradient"])
    groups.append(
        {"group": "one-pass gradient", "methods": GROUPS["one-pass gradient"],
         "faithfulness": "basic", "rows": rows}
    )  # fmt: skip
    print("each method, explain() vs explain_batch():", flush=True)
    methods = per_method(args.batch_size, args.repeats)
    every = next(g for g in groups if g["group"] == "all")
    best = max(r["pairs_per_second"] for r in every["rows"])
    pairs_per_photo = every["rows"][0]["pairs"] / args.photos
    projected = TEST_SPLIT_PHOTOS * pairs_per_photo / best
    print(
        f"whole test split, all methods, no curves: {TEST_SPLIT_PHOTOS} photos x "
        f"{pairs_per_photo:.2f} pairs / {best:.2f} pairs/s = {projected / 3600:.1f} h on this CPU"
    )
    save(
        args.out,
        {
            "photos": args.photos,
            "one_pass_photos": args.one_pass_photos,
            "data": f"svhn-sample/train[0:{args.photos}] (real photos, development split)",
            "batch_size": args.batch_size,
            "groups": groups,
            "per_method": methods,
            "test_split": {
                "photos": TEST_SPLIT_PHOTOS,
                "pairs_per_photo": pairs_per_photo,
                "pairs_per_second": best,
                "hours": projected / 3600,
                "gpu_hours": None,  # no GPU machine was lent to this measurement
            },
        },
    )


if __name__ == "__main__":
    main()
