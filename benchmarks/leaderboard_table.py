"""Print an evaluation results file (``evaluate --json``) as Markdown tables for the docs.

python -m benchmarks.leaderboard_table results/real_sample_heldout.json

Two tables: localisation and faithfulness. Baselines get every column methods get; each
column's arrow is the results file's own ``directions`` (↑ higher is better, ↓ lower).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

LOCALISATION = (
    ("iou_1", "IoU₁"),
    ("iou_2", "IoU₂"),
    ("oracle_iou_1", "oracle IoU₁"),
    ("pointing_game", "pointing"),
    ("pointing_game_tolerant", "pointing ±4.3 px"),
    ("relevance_mass", "mass in box"),
    ("rank_accuracy", "rank acc."),
)
FAITHFULNESS = (
    ("auc_deletion_black", "deletion black"),
    ("auc_deletion_blur", "deletion blur"),
    ("auc_insertion_black", "insertion black"),
    ("auc_insertion_blur", "insertion blur"),
    ("road_morf", "ROAD MoRF"),
    ("road_lerf", "ROAD LeRF"),
)
ARROWS = {"higher": " ↑", "lower": " ↓"}


def markdown(s: dict, columns: tuple[tuple[str, str], ...], ci: bool) -> str:
    directions = s.get("directions", {})
    columns = tuple((k, h) for k, h in columns if k in directions)
    rows = [*s["methods"].items(), *((f"*baseline: {k}*", v) for k, v in s["baselines"].items())]
    head = "| method | " + " | ".join(h + ARROWS.get(directions[k], "") for k, h in columns)
    lines = [head + " |", "| --- |" + " --- |" * len(columns)]
    for name, r in rows:
        cells = []
        for key, _ in columns:
            if key not in r:
                cells.append("–")
            elif ci and f"{key}_ci95" in r and key in ("iou_1", "iou_2"):
                cells.append(f"{r[key]:.3f} ± {r[f'{key}_ci95']:.3f}")
            else:
                cells.append(f"{r[key]:.3f}")
        flag = f" ({r['n_non_finite']} non-finite maps left out)" if r.get("n_non_finite") else ""
        lines.append(f"| {name}{flag} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    s = json.loads(Path(sys.argv[1]).read_text())
    p = s.get("protocol", {"mode": s["threshold_mode"], "value": s["threshold"], "sigma": 0})
    print(
        f"{s['n_images']} images, {s['n_pairs']} (image, digit) pairs; mask rule {p['mode']} "
        f"{p['value']:g}, smoothing sigma {p['sigma']:g} px; checkpoint "
        f"{s.get('checkpoint_sha256', '?')[:12]}, commit {s.get('commit', '?')}\n"
    )
    print(markdown(s, LOCALISATION, ci=True))
    print()
    print(markdown(s, FAITHFULNESS, ci=False))
    flagged = [k for k, r in s.get("sanity", {}).get("methods", {}).items() if r["flagged"]]
    if flagged:
        print(
            f"\nRandomisation check: {', '.join(flagged)} barely "
            f"{'change' if len(flagged) > 1 else 'changes'} when the model's "
            "weights are randomised (Spearman ρ > 0.5 after re-initialising every layer)."
        )


if __name__ == "__main__":
    main()
