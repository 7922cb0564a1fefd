"""Print an evaluation results file (``evaluate --json``) as a Markdown table for the README.

python benchmarks/leaderboard_table.py results/synthetic_test.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main() -> None:
    s = json.loads(Path(sys.argv[1]).read_text())
    print(
        f"{s['n_images']} images, {s['n_pairs']} (image, digit) pairs, threshold "
        f"{s['threshold_mode']} {s['threshold']}\n"
    )
    print(
        "| method | IoU₁ | IoU₂ | AUC IoU₁ | best IoU₁ | pointing | mass in box | "
        "deletion ↓ | insertion ↑ | s / image |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    rows = [*s["methods"].items(), *((f"*baseline: {k}*", v) for k, v in s["baselines"].items())]
    for name, r in rows:

        def f(key: str, r: dict = r) -> str:
            return f"{r[key]:.3f}" if key in r else "–"

        print(
            f"| {name} | {f('iou_1')} ± {r['iou_1_ci95']:.3f} | {f('iou_2')} ± "
            f"{r['iou_2_ci95']:.3f} | {f('auc_iou_1')} | {f('best_iou_1')} | "
            f"{f('pointing_game')} | {f('relevance_mass')} | {f('auc_deletion')} | "
            f"{f('auc_insertion')} | {f('seconds')} |"
        )
    flagged = [k for k, r in s.get("sanity", {}).get("methods", {}).items() if r["flagged"]]
    if flagged:
        print(
            f"\nRandomisation check: {', '.join(flagged)} barely "
            f"{'change' if len(flagged) > 1 else 'changes'} when the model's "
            "weights are randomised (Spearman ρ > 0.5 after re-initialising every layer)."
        )


if __name__ == "__main__":
    main()
