"""Explain every (image, digit present) pair once with every method and keep the raw attributions,
so that mask rules can be compared in NumPy without explaining again.

    nice -n 5 python -m benchmarks.attribution_cache --data svhn --indices 0:96 \
        --out benchmarks/results/attributions/real_dev
    nice -n 5 python -m benchmarks.attribution_cache --data synthetic --indices 1000:1040 \
        --out benchmarks/results/attributions/synthetic_dev

One ``.npz`` per pair (``{index}_{digit}.npz``): ``attributions`` float32 (M, 3, S, S) in the
order of ``methods`` (names stored beside them), ``finite``, ``probability`` and ``seconds``
(M,), ``boxes`` (K, 4) of the digit in model-input pixels, ``image`` uint8 (S, S, 3). A pair
already on disk is skipped, so an interrupted run resumes. The folder is ignored by git
(``benchmarks/results/``).
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np

from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.explain import REGISTRY, explain
from svhn_xai.model.checkpoint import load_model
from svhn_xai.provenance import file_sha256

SHARED_SAMPLE = Path(__file__).resolve().parents[1].parent / "shared" / "svhn-sample"


def main() -> None:
    warnings.filterwarnings("ignore", category=UserWarning, module=r"captum(\.|$)")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", choices=("synthetic", "svhn"), required=True)
    ap.add_argument("--root", default=str(SHARED_SAMPLE), help="svhn: folder holding train/")
    ap.add_argument("--split", default=None, help="default: train for svhn, test for synthetic")
    ap.add_argument("--indices", required=True, help="0-based slice START:STOP")
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--out", required=True)
    ap.add_argument("--methods", default="all", help="all, or comma-separated registry keys")
    args = ap.parse_args()
    split = args.split or ("train" if args.data == "svhn" else "test")
    model, card = load_model(args.checkpoint)
    margin = card["config"].get("margin", 0.15)
    source = open_source(args.data, split, args.root, indices=args.indices)
    start = int(args.indices.split(":")[0] or 0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    methods = list(REGISTRY) if args.methods == "all" else args.methods.split(",")
    meta = {
        "data": args.data,
        "split": split,
        "indices": args.indices,
        "methods": methods,
        "checkpoint_sha256": file_sha256(card["path"]),
    }
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    for n in range(len(source)):
        item = to_model_input(source[n], model.input_size, margin).item
        for digit in sorted(set(item.labels)):
            if digit not in model.digits:
                continue
            path = out / f"{start + n}_{digit}.npz"
            if path.exists():
                continue
            runs = [explain(model, item.image, digit, m) for m in methods]
            np.savez_compressed(
                path.with_suffix(".tmp.npz"),
                methods=np.array(methods),
                attributions=np.stack([e.attribution for e in runs]).astype(np.float32),
                finite=np.array([e.finite for e in runs]),
                probability=np.array([e.probability for e in runs]),
                seconds=np.array([e.seconds for e in runs]),
                boxes=item.boxes_of(digit),
                image=item.image,
            )
            path.with_suffix(".tmp.npz").rename(path)
            print(f"{path.name} {sum(e.seconds for e in runs):.1f} s", flush=True)


if __name__ == "__main__":
    main()
