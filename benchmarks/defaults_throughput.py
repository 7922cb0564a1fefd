"""The all-methods group before and after a change of the methods' defaults, in one run.

    python -m benchmarks.defaults_throughput [--before af7e869] [--photos 8] [--batch-size 32]
        [--repeats 1] [--bfloat16] [--out results/defaults_throughput.json]

``evaluate`` as users run it (the CLI, every method, localisation scores only), batched, on the
shared sample's first ``--photos`` development photos, once from a git worktree of commit
``--before`` (the sampling defaults before they were moved for stable maps) and once from this
checkout, in turn ``--repeats`` times (a slow spell of the machine hits both). Reports pairs per
second and peak memory of each, and each method's seconds per pair before and after, from the
runs' own summaries (no interpreter start-up). With ``--bfloat16``, this checkout runs a third
time in each turn with ``--precision bfloat16`` (the perturbation methods' passes in bfloat16,
``svhn_xai/explain/precision.py``), and its row follows.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.evaluate_throughput import DEVELOPMENT, SAMPLE
from benchmarks.record import default_path, save

REPO = Path(__file__).resolve().parents[1]


def _evaluate(cwd: Path, args: list[str], out: Path) -> dict:
    """One ``python -m svhn_xai evaluate`` run from ``cwd`` (whose ``svhn_xai`` it imports)."""
    command = [sys.executable, "-m", "svhn_xai", "evaluate", *args, "--quiet", "--json", str(out)]
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    subprocess.run(command, check=True, cwd=cwd, env=env, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def _row(label: str, commit: str, runs: list[dict]) -> dict:
    seconds = statistics.median(r["seconds"] for r in runs)
    pairs = runs[0]["n_pairs"]
    methods = runs[0]["methods"]
    return {
        "label": label,
        "commit": commit,
        "pairs": pairs,
        "seconds": seconds,
        "pairs_per_second": pairs / seconds,
        "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
        "repeats": len(runs),
        # each method's own time per pair, as the summary records it (median over the runs)
        "seconds_per_pair": {
            key: statistics.median(r["methods"][key]["seconds"] for r in runs) for key in methods
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="af7e869", help="the commit to compare with")
    parser.add_argument("--photos", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--bfloat16", action="store_true", help="also this checkout with --precision bfloat16"
    )
    parser.add_argument("--out", default=str(default_path("defaults_throughput")))
    args = parser.parse_args()
    if not (SAMPLE / "train").is_dir():
        raise SystemExit(f"needs the shared SVHN sample beside the repository: {SAMPLE}")
    if args.photos > DEVELOPMENT:
        raise SystemExit(f"the sample's development photos are the first {DEVELOPMENT}")
    before = subprocess.run(
        ["git", "rev-parse", args.before], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()
    after = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, check=True, capture_output=True, text=True
    ).stdout.strip()
    common = ["--data", "svhn", "--root", str(SAMPLE), "--split", "train"]
    common += ["--indices", f"0:{args.photos}", "--sanity", "0", "--methods", "all"]
    common += ["--faithfulness", "none", "--batch-size", str(args.batch_size)]
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), before], cwd=REPO,
                       check=True, capture_output=True)  # fmt: skip
        # (label, checkout, arguments, commit) of each run in a turn
        turn = [("before", tree, common, before), ("after", REPO, common, after)]
        if args.bfloat16:
            half = [*common, "--precision", "bfloat16"]
            turn.append(("after, bfloat16 passes", REPO, half, after))
        try:
            for _ in range(args.repeats):
                for i, (label, cwd, given, _commit) in enumerate(turn):
                    got = _evaluate(cwd, given, Path(tmp) / f"{i}.json")
                    runs.setdefault(label, []).append(got)
                    print(f"  {label}: {runs[label][-1]['seconds']:.1f} s", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO,
                           check=True, capture_output=True)  # fmt: skip
    rows = [_row(label, commit, runs[label]) for label, _cwd, _given, commit in turn]
    for row in rows:
        rate, peak = row["pairs_per_second"], row["peak_rss_mb"]
        print(f"{row['label']:22s} {row['commit'][:7]}  {row['pairs']} pairs  {rate:.3f} pairs/s"
              f"  peak {peak:.0f} MB")  # fmt: skip
    slower = {
        key: rows[1]["seconds_per_pair"][key] / rows[0]["seconds_per_pair"][key]
        for key in rows[1]["seconds_per_pair"]
        if rows[0]["seconds_per_pair"].get(key)
    }
    for key, ratio in sorted(slower.items(), key=lambda kv: -kv[1]):
        print(f"  {key:24s} x{ratio:5.2f}")
    save(
        args.out,
        {
            "photos": args.photos,
            "data": f"svhn-sample/train[0:{args.photos}] (real photos, development split)",
            "batch_size": args.batch_size,
            "rows": rows,
            "ratio_after_to_before": slower,
        },
    )


if __name__ == "__main__":
    main()
