"""Choose the default mask rule: every candidate rule on cached attributions of development images,
every method family and every baseline scored identically, in NumPy.

    python -m benchmarks.protocol_choice benchmarks/results/attributions/real_dev \
        benchmarks/results/attributions/synthetic_dev --out results/studies/protocol_choice.json

The attributions come from ``python -m benchmarks.attribution_cache`` (each method explained once
per pair). Development images only: real photos 1-192 (indices 0:192 of the sample) and
synthetic test images 1000 and up, disjoint from the synthetic images the reported tables use.

Candidate rules: value thresholds, top-k %, Otsu and top-k at the truth's area share, each on
the raw map and on the map smoothed by a Gaussian of sigma 1 to 8 pixels (the grid reaches past
the chosen sigma, so that no choice sits at its edge).

Every pair's IoU_1 and IoU_2 under every rule are kept (``--pairs FILE``), and the choice is
bootstrapped over photos (all of a photo's pairs together, each data set resampled on its own):
how often the chosen rule wins again, and the interval of its worst margin minus the best other
rule's.

The rule was written for the sixteen methods of the time; the methods added since (the CAM
family and RISE, :data:`ADDED_AFTER_THE_RULE`) are scored under every rule and reported beside
the others, but do not vote: a rule is not chosen again each time a method joins.

Selection rule, written down before any result was looked at:
    For a rule, a data set (real / synthetic) and a metric (IoU_1 / IoU_2), a family's margin
    is the mean of its methods' mean scores minus the score of the strongest baseline (whole
    image, centre Gaussian, uniform random) under the same rule. The default is the rule with
    the largest worst margin over families x data sets x {IoU_1, IoU_2}. Ties (within 0.005)
    go to the rule without smoothing, then to the one without a parameter.

Adoption rule, written down when the re-run found a plateau (before the lead below was computed):
    The study's winner replaces the shipped default (:data:`DEFAULT_PROTOCOL`) only when its worst
    margin minus the default's has a 95 % bootstrap interval over photos that lies above zero;
    otherwise the default stays, since moving it re-calibrates and re-measures every table.

``--rebootstrap FILE`` re-draws the bootstrap of a results file from its stored per-pair scores
(three decimals), without the attribution caches.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
from pathlib import Path

import numpy as np

from svhn_xai.explain import REGISTRY
from svhn_xai.provenance import git_commit, machine
from svhn_xai.scoring.bootstrap import photo_weights
from svhn_xai.scoring.heatmap import mask_box, normalise, reduce_channels, smooth, threshold
from svhn_xai.scoring.localisation import baseline_maps
from svhn_xai.scoring.metrics import BASELINES, box_iou, box_mask, iou_pixels
from svhn_xai.scoring.protocol import DEFAULT_PROTOCOL, Protocol

SIGMAS = (0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
RESAMPLES = 1000
RULES = (
    *(Protocol("value", v) for v in (0.1, 0.2, 0.3, 0.5)),
    *(Protocol("topk", k) for k in (5.0, 10.0, 15.0, 20.0, 30.0)),
    Protocol("otsu", 0.0),
    Protocol("truth_area", 0.0),
)
TIE = 0.005
# issue 11's methods, added after the selection rule was written (see the module docstring)
ADDED_AFTER_THE_RULE = frozenset(
    {"grad_cam", "grad_cam_plus_plus", "xgrad_cam", "layer_cam", "score_cam", "eigen_cam", "rise"}
)


def candidates() -> list[Protocol]:
    return [r.replace(sigma=s) for r, s in itertools.product(RULES, SIGMAS)]


def ious(heat: np.ndarray, boxes: np.ndarray, truth: np.ndarray, rule: Protocol) -> tuple:
    cut = threshold(heat, rule.mode, rule.value, area=int(truth.sum()))
    hbox = mask_box(cut.mask)
    iou_2 = max(box_iou(hbox, b) for b in boxes) if hbox is not None else 0.0
    return iou_pixels(cut.mask, truth), iou_2


def score_folder(folder: Path, rules: list[Protocol]) -> dict:
    """Mean IoU_1 / IoU_2 per rule and per method or baseline over every cached pair, and every
    pair's own (``per_pair``: name -> metric -> (pairs, rules), NaN where a map was not finite)."""
    files = sorted(folder.glob("*_*.npz"))
    files = [f for f in files if not f.name.endswith(".tmp.npz")]
    per_pair: dict[str, dict[str, np.ndarray]] = {}
    for p, f in enumerate(files):
        d = np.load(f)
        boxes = d["boxes"]
        truth = box_mask(boxes, d["image"].shape[:2])
        maps = {
            str(m): reduce_channels(a, REGISTRY[str(m)].reduction)
            for m, a, ok in zip(d["methods"], d["attributions"], d["finite"])
            if ok
        }
        maps.update(baseline_maps(boxes, d["image"].shape[:2]))
        for name, relevance in maps.items():
            acc = per_pair.setdefault(
                name, {k: np.full((len(files), len(rules)), np.nan) for k in ("iou_1", "iou_2")}
            )
            by_sigma = {s: normalise(smooth(relevance, s)) for s in SIGMAS}
            for i, rule in enumerate(rules):
                acc["iou_1"][p, i], acc["iou_2"][p, i] = ious(
                    by_sigma[rule.sigma], boxes, truth, rule
                )
    return {
        "n_pairs": len(files),
        "pairs": [f.stem for f in files],  # {index}_{digit}
        "scores": _means(per_pair, np.ones((1, len(files))))[0],
        "per_pair": per_pair,
    }


def _means(per_pair: dict[str, dict[str, np.ndarray]], weights: np.ndarray) -> list[dict]:
    """``scores`` as :func:`choose` reads them, under each row of pair ``weights`` (B, pairs):
    a name's mean over the pairs it has a finite map on, and how many those are."""
    out: list[dict] = [{} for _ in weights]
    for name, acc in per_pair.items():
        have = np.isfinite(acc["iou_1"][:, 0])
        w = weights[:, have]
        totals = w.sum(1, keepdims=True)
        means = {k: (w @ v[have]) / totals for k, v in acc.items()}
        for b, row in enumerate(out):
            row[name] = {k: m[b].tolist() for k, m in means.items()} | {"n": int(have.sum())}
    return out


def bootstrap_choice(
    results: dict[str, dict],
    rules: list[Protocol],
    chosen: int,
    resamples: int = RESAMPLES,
    default: Protocol = DEFAULT_PROTOCOL,
) -> dict:
    """The choice again on photos drawn with replacement (each data set on its own, all of a
    photo's pairs together): the share of resamples whose choice is ``chosen``, the 95 %
    interval of ``chosen``'s worst margin minus the best other rule's, and minus the
    ``default``'s; ``adopt`` applies the adoption rule of the module docstring."""
    at_default = rules.index(default) if default in rules else chosen  # none to lead
    drawn = {}
    for data, r in results.items():
        photos = [stem.split("_")[0] for stem in r["pairs"]]
        weights = photo_weights(photos, resamples, seed=len(drawn))
        drawn[data] = _means(r["per_pair"], weights)
    wins, leads, over_default = 0, [], []
    for b in range(resamples):
        sample = {
            data: {"n_pairs": r["n_pairs"], "scores": drawn[data][b]} for data, r in results.items()
        }
        index, rows = choose(sample, rules)
        wins += index == chosen
        worst = [row["worst_margin"] for row in rows]
        leads.append(worst[chosen] - max(w for i, w in enumerate(worst) if i != chosen))
        over_default.append(worst[chosen] - worst[at_default])
    low, high = np.percentile(leads, [2.5, 97.5])
    d_low, d_high = np.percentile(over_default, [2.5, 97.5])
    return {
        "resamples": resamples,
        "chosen_again": wins / resamples,
        "lead_over_the_next_rule": float(np.median(leads)),
        "lead_ci": [float(low), float(high)],
        "default": default.to_dict(),
        "lead_over_the_default": float(np.median(over_default)),
        "lead_over_the_default_ci": [float(d_low), float(d_high)],
        "adopt": chosen != at_default and bool(d_low > 0),
        "unit": "photos, each data set resampled on its own",
    }


def rebootstrap(path: Path, resamples: int) -> dict:
    """:func:`bootstrap_choice` again for a results file, from the per-pair scores stored in
    its ``pairs_file``; returns the file's content with the new ``bootstrap``."""
    saved = json.loads(path.read_text())
    stored = json.loads(Path(saved["pairs_file"]).read_text())
    rules = [Protocol(**r) for r in saved["rules"]]
    results = {
        data: {
            "n_pairs": len(part["pairs"]),
            "pairs": part["pairs"],
            "per_pair": {
                name: {k: np.asarray(v, dtype=float) for k, v in acc.items()}
                for name, acc in part["scores"].items()
            },
        }
        for data, part in stored.items()
    }
    chosen = rules.index(Protocol(**saved["chosen"]))
    saved["bootstrap"] = bootstrap_choice(results, rules, chosen, resamples)
    saved["bootstrap"]["command"] = f"python -m benchmarks.protocol_choice --rebootstrap {path}"
    return saved


def families(methods: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for m in methods:
        out.setdefault(REGISTRY[m].family, []).append(m)
    return out


def choose(results: dict[str, dict], rules: list[Protocol]) -> tuple[int, list[dict]]:
    """Apply the selection rule of the module docstring; returns the index and every row.

    A row's ``margins`` are the voting families' (the sixteen methods the rule was written for),
    ``added_margins`` those of the methods added since, grouped by family the same way."""
    rows = []
    for i, rule in enumerate(rules):
        margins: dict[str, float] = {}
        added: dict[str, float] = {}
        for data, r in results.items():
            scores = r["scores"]
            # only methods cached for every pair: family means over one and the same sample
            methods = [m for m in scores if m in REGISTRY and scores[m]["n"] == r["n_pairs"]]
            for metric in ("iou_1", "iou_2"):
                strongest = max(scores[b][metric][i] for b in BASELINES)
                for out, voting in ((margins, True), (added, False)):
                    group = [m for m in methods if (m in ADDED_AFTER_THE_RULE) != voting]
                    for fam, members in families(group).items():
                        mean = float(np.mean([scores[m][metric][i] for m in members]))
                        # an added method alone in its family is named (RISE, not "perturbation")
                        name = members[0] if not voting and len(members) == 1 else fam
                        out[f"{data}/{metric}/{name}"] = mean - strongest
        rows.append(
            {
                "rule": rule.to_dict(),
                "describe": rule.describe(),
                "margins": margins,
                "worst_margin": min(margins.values()),
                "added_margins": added,
            }  # fmt: skip
        )
    best = max(r["worst_margin"] for r in rows)
    tied = [i for i, r in enumerate(rows) if r["worst_margin"] >= best - TIE]
    tied.sort(
        key=lambda i: (
            rules[i].sigma > 0,
            rules[i].mode in ("value", "topk"),
            -rows[i]["worst_margin"],
        )
    )
    return tied[0], rows


def table(path: Path, top: int = 12) -> str:
    """The rules x families margins of a results file, best worst-margin first, as Markdown."""
    saved = json.loads(path.read_text())
    rows = sorted(saved["rows"], key=lambda r: -r["worst_margin"])
    keys = list(rows[0]["margins"])
    head = "| rule | " + " | ".join(k.replace("/", " ") for k in keys) + " | worst ↑ |"
    lines = [head, "|" + " --- |" * (len(keys) + 2)]
    for r in rows[:top]:
        cells = " | ".join(f"{r['margins'][k]:+.3f}" for k in keys)
        lines.append(f"| {r['describe']} | {cells} | {r['worst_margin']:+.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="*", type=Path, help="attribution_cache output folders")
    ap.add_argument("--out", default="results/studies/protocol_choice.json")
    ap.add_argument("--table", type=Path, help="print this results file's table and stop")
    ap.add_argument("--top", type=int, default=12)
    ap.add_argument("--pairs", help="also write every pair's scores under every rule here")
    ap.add_argument("--resamples", type=int, default=RESAMPLES, help="bootstrap of the choice")
    ap.add_argument("--rebootstrap", type=Path, help="re-draw this results file's bootstrap")
    args = ap.parse_args()
    if args.table:
        print(table(args.table, args.top))
        return
    if args.rebootstrap:
        saved = rebootstrap(args.rebootstrap, args.resamples)
        args.rebootstrap.write_text(json.dumps(saved, indent=1) + "\n")
        print(_verdict(saved["chosen_describe"], saved["bootstrap"]))
        return
    commit = git_commit()  # before the results files below make the tree differ from it
    rules = candidates()
    results = {}
    for folder in args.folders:
        meta = json.loads((folder / "meta.json").read_text())
        name = "real" if meta["data"] == "svhn" else "synthetic"
        results[name] = {**score_folder(folder, rules), "source": meta}
        print(f"{name}: {results[name]['n_pairs']} pairs", file=sys.stderr)
    index, rows = choose(results, rules)
    chosen = rules[index]
    stability = bootstrap_choice(results, rules, index, args.resamples)
    if args.pairs:  # compact: 3 decimals, one line (a few MB)
        pairs = {
            data: {
                "pairs": r["pairs"],
                "rules": [rule.to_dict() for rule in rules],
                "scores": {
                    name: {k: np.round(v, 3).tolist() for k, v in acc.items()}
                    for name, acc in r["per_pair"].items()
                },
            }
            for data, r in results.items()
        }
        Path(args.pairs).write_text(json.dumps(pairs, separators=(",", ":")) + "\n")
    for r in results.values():
        del r["per_pair"]
    out = {
        "selection_rule": __doc__.split("Selection rule")[1].split(":", 1)[1].strip(),
        "rules": [r.to_dict() for r in rules],
        "data": results,
        "rows": rows,
        "chosen": chosen.to_dict(),
        "chosen_describe": chosen.describe(),
        "bootstrap": stability,
        "pairs_file": args.pairs,
        "command": "python -m benchmarks.protocol_choice " + shlex.join(sys.argv[1:]),
        "commit": commit,
        "machine": machine(),
    }
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    ranked = sorted(rows, key=lambda r: -r["worst_margin"])
    for r in ranked[:12]:
        print(f"{r['describe']:45s} worst margin {r['worst_margin']:+.3f}")
    print(_verdict(chosen.describe(), stability))


def _verdict(chosen: str, b: dict) -> str:
    low, high = b["lead_over_the_default_ci"]
    return (
        f"chosen: {chosen}; chosen again in {b['chosen_again']:.0%} of {b['resamples']} "
        f"resamples of photos; lead over the next rule {b['lead_over_the_next_rule']:+.3f} "
        f"[{b['lead_ci'][0]:+.3f}, {b['lead_ci'][1]:+.3f}]; over the default "
        f"{b['lead_over_the_default']:+.3f} [{low:+.3f}, {high:+.3f}]: "
        + ("adopt it" if b["adopt"] else "keep the default")
    )


if __name__ == "__main__":
    main()
