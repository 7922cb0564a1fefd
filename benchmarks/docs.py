"""Write every measurement table in the docs from the committed results files.

    python -m benchmarks.docs            # rewrite the marked tables in README.md and docs/*.md
    python -m benchmarks.docs --check    # exit 1 and print a diff where a document differs
    python -m benchmarks.docs --render leaderboard results/synthetic_test.json   # print one

A table sits between two markers, each at the start of its line; everything between them is
generated and is overwritten:

    <!-- table: KIND FILE [FILE ...] -->
    ...
    <!-- end -->

KIND names a renderer below (one small function per kind of table, taking the loaded JSON of
the FILEs, paths relative to the repository root, and returning Markdown). The generator adds
a source line naming each file with the commit and machine its provenance records.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from svhn_xai.evaluation.summary import versus_baselines
from svhn_xai.provenance import file_sha256
from svhn_xai.report.words import photos
from svhn_xai.scoring.registry import METRICS, directions

ROOT = Path(__file__).resolve().parents[1]
# a marker starts its line (an indented example of one is not a marker)
BLOCK = re.compile(
    r"^(?P<open><!-- table: (?P<spec>[^\n]*?) -->\n)(?P<body>.*?)(?P<close>^<!-- end -->)",
    re.S | re.M,
)
Renderer = Callable[[Sequence[dict[str, Any]]], str]
RENDERERS: dict[str, Renderer] = {}


def renderer(kind: str) -> Callable[[Renderer], Renderer]:
    """Register a function as the renderer of the tables marked ``<!-- table: KIND ... -->``."""

    def register(fn: Renderer) -> Renderer:
        RENDERERS[kind] = fn
        return fn

    return register


def documents(root: Path | None = None) -> list[Path]:
    """The documents whose marked tables are generated: the README, docs/*.md and the model
    card (checkpoints/README.md)."""
    root = root or ROOT
    card = root / "checkpoints" / "README.md"
    return [
        root / "README.md",
        *sorted((root / "docs").glob("*.md")),
        *([card] if card.is_file() else []),
    ]


# --- formatting helpers ----------------------------------------------------------------------


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _source_line(paths: Sequence[str], data: Sequence[dict[str, Any]]) -> str:
    """Which file each table comes from, and the commit and machine that measured it."""
    parts = []
    for path, d in zip(paths, data):
        # older benchmarks kept commit and machine at the top level, not under "provenance"
        p = d.get("provenance") or {
            "commit": d.get("commit") or d.get("git_commit"),
            "machine": d.get("machine"),
        }
        where = [f"`{path}`"]
        if p.get("commit"):
            where.append(f"commit `{p['commit'][:7]}`")
        m = p.get("machine") or {}
        if m:
            features = "/".join(m.get("cpu_features") or [])
            cpu = f"{m.get('cpu', '?')}{f' ({features})' if features else ''}"
            gpu = f", {m['gpu']}" if m.get("gpu") else ""
            threads = m.get("torch_threads")
            threads = f" ({threads} torch thread{'s' * (threads != 1)})" if threads else ""
            where.append(
                f"{cpu}, {m.get('cores', '?')} cores{threads}{gpu}, torch {m.get('torch', '?')}"
            )
        parts.append(", ".join(where))
    return "<sub>Source: " + "; ".join(parts) + ".</sub>"


# --- leaderboards (``python -m svhn_xai evaluate --json``) -----------------------------------

# labels and directions of metrics: the metric registry's, and those of keys that older results
# files carry; any other metric in a results file is shown too, under its own name
LABELS = {
    "best_iou_1": "best IoU₁",
    "best_threshold": "best threshold",
    "auc_deletion": "deletion",
    "auc_insertion": "insertion",
    **{k: m.label for k, m in METRICS.items()},
}
# which way is better, for results files written before `evaluate` recorded "directions"
KNOWN_DIRECTIONS = {
    "best_iou_1": "higher",
    "auc_deletion": "lower",
    "auc_insertion": "higher",
    **directions(),
}
NOT_METRICS = {
    "n",
    "n_photos",
    "n_non_finite",
    "correct",
    "incorrect",
    "seconds_per_image",
}  # counts; a duplicate


def _arrow(direction: Any) -> str:
    """↑ or ↓ for the ways a results file may say which direction is better."""
    if isinstance(direction, dict):
        direction = direction.get("better", direction.get("direction"))
    if isinstance(direction, int | float) and not isinstance(direction, bool):
        return "↑" if direction > 0 else "↓" if direction < 0 else ""
    text = str(direction).lower()
    if text.startswith(("high", "max", "up", "↑", "+")) or text == "greater":
        return "↑"
    if text.startswith(("low", "min", "down", "↓", "-")) or text == "less":
        return "↓"
    return ""


def _rows(section: Any) -> list[tuple[str, dict[str, Any]]]:
    """(name, row) pairs of a ``methods`` or ``baselines`` section, a dict or a list."""
    if isinstance(section, dict):
        return [(str(k), v) for k, v in section.items()]
    return [(str(r.get("method", r.get("name", "?"))), r) for r in section or []]


def _metric_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every scalar metric any row has, in order of first appearance."""
    columns: list[str] = []
    for row in rows:
        for key, value in row.items():
            scalar = isinstance(value, int | float) and not isinstance(value, bool)
            metric = scalar and not key.endswith(("_ci", "_ci95")) and key not in NOT_METRICS
            if metric and key not in columns:
                columns.append(key)
    return columns


def _caption(s: dict[str, Any]) -> str:
    parts = []
    if s.get("data"):
        where = f"{s['data']} {s.get('split', '')}".rstrip()
        parts.append(where + (f" [{s['indices']}]" if s.get("indices") else ""))
    if "n_images" in s:
        parts.append(f"{s['n_images']} image{'s' * (s['n_images'] != 1)}")
    if "n_pairs" in s:
        parts.append(f"{s['n_pairs']} (image, digit) pair{'s' * (s['n_pairs'] != 1)}")
    protocol = s.get("protocol")
    if s.get("threshold_source") == "calibrated" and isinstance(protocol, dict):
        sigma = protocol.get("sigma", 0)
        parts.append(
            f"{protocol.get('mode')} threshold calibrated per method and baseline, σ {sigma:g} px"
        )
    elif isinstance(protocol, dict) and "mode" in protocol:
        parts.append("mask rule " + _rule_label({"value": 0, "sigma": 0, **protocol}))
    elif isinstance(protocol, dict):
        parts.append("mask rule " + ", ".join(f"{k} {v}" for k, v in protocol.items()))
    elif "threshold_mode" in s:
        parts.append(f"threshold {s['threshold_mode']} {s.get('threshold', '')}".rstrip())
    return ", ".join(parts)


def _interval_text(row: dict[str, Any], key: str) -> str:
    """`` [low, high]`` where the row records the 95 % interval of ``key`` (``KEY_ci``), ``±
    half`` for older files (``KEY_ci95``), nothing where there is none (one pair, say)."""
    ci = row.get(f"{key}_ci")
    if isinstance(ci, list | tuple) and len(ci) == 2 and all(math.isfinite(v) for v in ci):
        return f" [{_num(ci[0])}, {_num(ci[1])}]"
    half = row.get(f"{key}_ci95")
    return f" ± {_num(half)}" if isinstance(half, int | float) and math.isfinite(half) else ""


def _metric_table(named: Sequence[tuple[str, dict[str, Any]]], directions: dict[str, Any]) -> str:
    """One row per (name, row), one column per metric any row has (with its 95 % interval where
    one is recorded and finite), the better direction in the header."""
    columns = _metric_columns([r for _, r in named])
    header = ["method"]
    for key in columns:
        arrow = _arrow(directions.get(key, "")) if key in directions else ""
        header.append(f"{LABELS.get(key, key.replace('_', ' '))} {arrow}".rstrip())

    def cell(row: dict[str, Any], key: str) -> str:
        if key not in row:
            return "–"
        return _num(row[key]) + _interval_text(row, key)

    return _table(header, [[name, *(cell(r, k) for k in columns)] for name, r in named])


@renderer("leaderboard")
def leaderboard(data: Sequence[dict[str, Any]]) -> str:
    """Every method and every baseline of an ``evaluate --json`` file, every metric it holds
    (± the 95 % interval where recorded), with the direction that is better."""
    (s,) = data
    methods = _rows(s.get("methods"))
    baselines = [(f"*baseline: {k}*", r) for k, r in _rows(s.get("baselines"))]
    directions = s.get("directions") or KNOWN_DIRECTIONS
    out = [_caption(s), "", _metric_table(methods + baselines, directions)]
    sanity = _sanity_line(s)
    if sanity:
        out += ["", sanity]
    return "\n".join(out).lstrip("\n")


def _last_interval(row: dict[str, Any]) -> str:
    """`` [low, high]``: the interval of the correlation after the last layer, where recorded."""
    ci = row.get("correlation_ci")
    return f" [{_num(ci[-1][0])}, {_num(ci[-1][1])}]" if ci else ""


def _sanity_line(s: dict[str, Any]) -> str:
    """The randomisation check's verdict, where the file has one: the methods whose maps barely
    change (with the last layer's interval where recorded) and those with no correlation left."""
    sanity = s.get("sanity") or {}
    rows = _rows(sanity.get("methods"))
    flat = [(k, r) for k, r in rows if r.get("flagged") and r.get("reason", "flat") == "flat"]
    undefined = [k for k, r in rows if r.get("reason") == "undefined"]
    parts = []
    if flat:
        named = ", ".join(
            f"{k} (ρ {_num(r['correlation'][-1])}{_last_interval(r)})" for k, r in flat
        )
        parts.append(
            f"Randomisation check: {named} barely change{'' if len(flat) > 1 else 's'} when the "
            "model's weights are randomised."
        )
    if undefined:
        parts.append(
            "No rank correlation is left once the model is randomised (every map constant or "
            f"non-finite) for {', '.join(undefined)}: nothing shows they depend on the weights."
        )
    return " ".join(parts)


LOCALISATION = (
    "pxap",
    "max_box_acc",
    "iou_1",
    "iou_2",
    "pointing_game",
    "pointing_game_tolerant",
    "relevance_mass",
    "rank_accuracy",
    "oracle_iou_1",
    "class_sensitivity",
    "seconds",
)
FAITHFULNESS = (
    "auc_deletion_black",
    "auc_deletion_blur",
    "auc_insertion_black",
    "auc_insertion_blur",
    "road_morf",
    "road_lerf",
)


def _with_class_sensitivity(s: dict[str, Any], section: str) -> list[tuple[str, dict[str, Any]]]:
    """The rows of ``section`` with each one's class sensitivity (where the file has it)."""
    cs = (s.get("class_sensitivity") or {}).get(section) or {}
    rows = []
    for key, row in _rows(s.get(section)):
        score = (cs.get(key) or {}).get("score")
        rows.append((key, {**row, **({} if score is None else {"class_sensitivity": score})}))
    return rows


def _picked(rows: Sequence[tuple[str, dict[str, Any]]], keys: Sequence[str]) -> list:
    """Each row cut to the metrics ``keys`` (and their intervals)."""
    return [
        (name, {k: v for k, v in r.items() if re.sub(r"_ci(95)?$", "", k) in keys})
        for name, r in rows
    ]


HEADLINE = ("pxap", "max_box_acc", "iou_1")  # the scores the headline sentence reads


def _beats(s: dict[str, Any]) -> str:
    """The sentence a reader checks first: for each headline score, how many methods beat the
    strongest baseline on it (their whole interval on its better side) and the best three."""
    methods = [(k, r) for k, r in _rows(s.get("methods")) if r.get("n")]
    baselines = dict(_rows(s.get("baselines")))
    parts = []
    for metric in HEADLINE:
        scored = [(k, r) for k, r in methods if metric in r]
        if not scored or not any(metric in b for b in baselines.values()):
            continue
        versus = {k: versus_baselines(r, baselines).get(metric) for k, r in scored}
        bar = next(iter(versus.values()))
        winners = [k for k, v in versus.items() if v["beats"]]
        losers = [k for k, v in versus.items() if not v["beats"]]
        best = sorted(scored, key=lambda kr: kr[1][metric], reverse=True)[:3]
        parts.append(
            f"{LABELS[metric]}: {len(winners)} of {len(scored)} methods beat the strongest "
            f"baseline, {bar['baseline']} ({_num(bar['baseline_mean'])}"
            f"{_interval_text(baselines[bar['baseline']], metric)})"
            # the shorter list: who beats it when few do, who does not when most do
            + (
                f": {', '.join(winners)}"
                if 0 < len(winners) < len(losers)
                else f"; not: {', '.join(losers)}"
                if losers
                else ""
            )
            + "; best: "
            + ", ".join(f"{k} {_num(r[metric])}{_interval_text(r, metric)}" for k, r in best)
            + "."
        )
    if parts and not any(f"{HEADLINE[0]}_ci" in r for _, r in methods):
        parts.append("(This file records no intervals over photos: point estimates.)")
    elif parts:
        parts.append("Beating means the whole 95 % interval lies above the baseline's mean.")
    return " ".join(parts)


@renderer("localisation")
def localisation(data: Sequence[dict[str, Any]]) -> str:
    """Where the maps point, from an ``evaluate --json`` file: the localisation scores and class
    sensitivity of every method and baseline (± 95 % intervals), with the better direction, and
    a generated sentence on which methods beat the baselines."""
    (s,) = data
    cs = s.get("class_sensitivity") or {}
    directions = {
        **(s.get("directions") or KNOWN_DIRECTIONS),
        "class_sensitivity": "higher",
        "seconds": "lower",
    }
    methods = _picked(_with_class_sensitivity(s, "methods"), LOCALISATION)
    baselines = [
        (f"*baseline: {k}*", r)
        for k, r in _picked(_with_class_sensitivity(s, "baselines"), LOCALISATION)
    ]
    caption = _caption(s)
    if cs.get("photos"):
        caption += f"; class sensitivity over the {cs['photos']} photos with two or more digits"
    out = [caption, "", _metric_table(methods + baselines, directions)]
    for line in (_beats(s), _sanity_line(s)):
        if line:
            out += ["", line]
    return "\n".join(out)


def _winners(s: dict[str, Any]) -> list[str]:
    """``"deletion black: occlusion"`` for each faithfulness column of an evaluate file: the
    best method in that column's direction."""
    directions = s.get("directions") or KNOWN_DIRECTIONS
    methods = _rows(s.get("methods"))
    winners = []
    for key in FAITHFULNESS:
        scored = [(k, r[key]) for k, r in methods if key in r]
        if scored:
            lower = _arrow(directions.get(key, "")) == "↓"
            best = (min if lower else max)(scored, key=lambda kv: kv[1])
            winners.append(f"{LABELS[key]}: {best[0]}")
    return winners


@renderer("faithfulness")
def faithfulness_table(data: Sequence[dict[str, Any]]) -> str:
    """Deletion and insertion under two imputations, and ROAD where the file has it, for every
    method and baseline of an ``evaluate --json`` file; and the winner of each column."""
    (s,) = data
    directions = s.get("directions") or KNOWN_DIRECTIONS
    methods = _picked(_rows(s.get("methods")), FAITHFULNESS)
    baselines = [
        (f"*baseline: {k}*", r) for k, r in _picked(_rows(s.get("baselines")), FAITHFULNESS)
    ]
    out = [_caption(s), "", _metric_table(methods + baselines, directions)]
    winners = _winners(s)
    if winners:
        out += ["", "Best method per column: " + "; ".join(winners) + "."]
    return "\n".join(out)


@renderer("headline")
def headline(data: Sequence[dict[str, Any]]) -> str:
    """One item per ``evaluate`` file: who beats the baselines, and which method wins each
    faithfulness column (for the README)."""
    items = []
    for s in data:
        winners = _winners(s)
        faith = f" Faithfulness winners: {'; '.join(winners)}." if winners else ""
        items.append(f"- {_caption(s)}. {_beats(s)}{faith}")
    return "\n".join(items)


# --- choices made with benchmarks.layer_and_rule_choice --------------------------------------


def _defaults(method: str) -> dict[str, Any]:
    from svhn_xai.explain import REGISTRY  # torch and captum: imported only when needed

    return {p.name: p.default for p in REGISTRY[method].params}


def _dataset_label(d: dict[str, Any]) -> str:
    kind = "synthetic" if d.get("data") == "synthetic" else "real"
    return f"{d.get('n_images', '?')} {kind}"


def _choice_table(data: Sequence[dict[str, Any]], method: str, label: Callable) -> str:
    defaults = _defaults(method)
    header = ["variant"]
    for d in data:
        header += [f"pointing ↑, {_dataset_label(d)}", f"mass in box ↑, {_dataset_label(d)}"]
    names = [
        label(v, data[0]) for v in data[0]["variants"] if v["method"] == method
    ]  # every file ran the same variants in the same order
    rows = []
    for i, name in enumerate(names):
        variants = [[v for v in d["variants"] if v["method"] == method][i] for d in data]
        params = variants[0]["params"]
        is_default = all(defaults.get(k) == v for k, v in params.items() if k != "epsilon") and (
            "epsilon" not in params or math.isclose(params["epsilon"], defaults.get("epsilon", 0))
        )
        row = [f"**{name}** (default)" if is_default else name]
        for v in variants:
            row += [_num(v["pointing_game"], 2), _num(v["relevance_mass"], 2)]
        rows.append(row)
    base = ["whole-image baseline"]
    for d in data:
        b = d["baselines"].get("whole_image", {})
        base += [_num(b.get("pointing_game"), 2), _num(b.get("relevance_mass"), 2)]
    return _table(header, [*rows, base])


@renderer("layer_choice")
def layer_choice(data: Sequence[dict[str, Any]]) -> str:
    """Guided GradCAM at every stage of the network, one pair of columns per results file."""

    def label(v: dict[str, Any], d: dict[str, Any]) -> str:
        layer = v["params"]["layer"]
        size = d.get("stage_sizes", {}).get(layer)
        return f"{layer} ({size}×{size})" if size else layer

    return _choice_table(data, "guided_gradcam", label)


@renderer("rule_choice")
def rule_choice(data: Sequence[dict[str, Any]]) -> str:
    """Every LRP rule and strength measured, one pair of columns per results file."""

    defaults = _defaults("lrp")

    def label(v: dict[str, Any], d: dict[str, Any]) -> str:
        p = v["params"]
        rule = p["rule"]
        if rule == "gamma":
            return f"gamma, γ = {p.get('gamma', defaults['gamma']):g}"
        if rule == "epsilon":
            near_zero = " (≈ Input × Gradient)" if p["epsilon"] < 1e-3 else ""
            return f"epsilon, ε = {p['epsilon']:g}{near_zero}"
        return f"{rule} (ε = {p['epsilon']:g} on epsilon layers)" if "_" in rule else rule

    return _choice_table(data, "lrp", label)


# --- the scoring protocol's study (benchmarks.protocol_choice) and smoothing -----------------

TOP_RULES = 8  # rows of the margins table before the raw-map versions of those rules
# the mask rule `evaluate` used before the protocol study: shown so its margins can be compared
OLD_DEFAULT_RULE = {"mode": "value", "value": 0.5, "sigma": 0.0}
FAMILY_SHORT = {
    "gradient": "grad.",
    "perturbation": "pert.",
    "relevance propagation": "LRP",
    "cam": "CAM",
    "rise": "RISE",
}
DATA_SHORT = {"synthetic": "synth."}


def _rule_label(rule: dict[str, Any]) -> str:
    mode, value, sigma = rule["mode"], rule.get("value", 0), rule.get("sigma", 0)
    name = {
        "topk": f"top-k {value:g} %",
        "value": f"value {value:g}",
        "otsu": "Otsu",
        "truth_area": "top-k at truth's area",
    }.get(mode, f"{mode} {value:g}")
    return f"{name}, σ {sigma:g} px" if sigma else f"{name}, raw"


def _same_rule(a: dict[str, Any], b: dict[str, Any]) -> bool:
    keys = ("mode", "value", "sigma")
    return all(
        math.isclose(a.get(k, 0), b.get(k, 0)) if k != "mode" else a[k] == b[k] for k in keys
    )


@renderer("rule_margins")
def rule_margins(data: Sequence[dict[str, Any]]) -> str:
    """Mask rules × method families of a ``benchmarks.protocol_choice`` file: each family's
    margin over the strongest baseline, best worst-margin first; then the raw-map versions of
    those rules and the old default. The chosen rule is in bold."""
    (d,) = data
    ranked = sorted(d["rows"], key=lambda r: -r["worst_margin"])
    shown = ranked[:TOP_RULES]
    wanted = [{**r["rule"], "sigma": 0.0} for r in shown] + [OLD_DEFAULT_RULE]
    for rule in wanted:  # in rank order, each once
        for r in ranked:
            if _same_rule(r["rule"], rule) and r not in shown:
                shown.append(r)
    keys = list(ranked[0]["margins"])
    header = ["rule", *(_margin_label(k) for k in keys), "worst ↑"]
    rows = []
    for r in shown:
        chosen = _same_rule(r["rule"], d["chosen"])
        old = _same_rule(r["rule"], OLD_DEFAULT_RULE)
        name = _rule_label(r["rule"]) + (" (the old default)" if old else "")
        worst = f"{r['worst_margin']:+.3f}"
        rows.append(
            [
                f"**{name}** (chosen)" if chosen else name,
                *(f"{r['margins'][k]:+.3f}" for k in keys),
                f"**{worst}**" if chosen else worst,
            ]
        )
    from benchmarks.protocol_choice import ADDED_AFTER_THE_RULE
    from svhn_xai.explain import REGISTRY  # torch and captum: imported only when needed

    counts = []
    for where, part in d["data"].items():
        # as the study does: a family's mean is over the voting methods scored on every pair
        scored = [
            m
            for m, v in part["scores"].items()
            if m in REGISTRY and v["n"] == part["n_pairs"] and m not in ADDED_AFTER_THE_RULE
        ]
        fams: dict[str, int] = {}
        for m in scored:
            fams[REGISTRY[m].family] = fams.get(REGISTRY[m].family, 0) + 1
        per = ", ".join(f"{f} {n}" for f, n in fams.items())
        counts.append(f"{part['n_pairs']} {where} pairs (methods in the means: {per})")
    caption = (
        f"Margin = a family's mean score minus the strongest baseline's under the same rule "
        f"(↑ better), on {' and '.join(counts)}; {len(d['rows'])} rules measured, the best "
        f"{TOP_RULES} shown, then the raw-map versions of those and the old default."
    )
    out = caption + "\n\n" + _table(header, rows)
    added = list(ranked[0].get("added_margins") or {})
    if added:
        names = sorted(
            m for part in d["data"].values() for m in part["scores"] if m in ADDED_AFTER_THE_RULE
        )
        extra = [
            [_rule_label(r["rule"]), *(f"{r['added_margins'][k]:+.3f}" for k in added)]
            for r in shown
        ]
        out += (
            f"\n\nMethods added after the rule was written ({', '.join(dict.fromkeys(names))}), "
            "margins under the same rules; they do not vote:\n\n"
            + _table(["rule", *(_margin_label(k) for k in added)], extra)
        )
    return out


def _margin_label(key: str) -> str:
    where, metric, family = key.split("/")
    label = LABELS.get(metric, metric)
    return f"{DATA_SHORT.get(where, where)} {label} {FAMILY_SHORT.get(family, family)}"


def _smooth_name(key: str) -> str:
    method, _, smooth = key.partition("+")
    return (
        method
        if smooth in ("", "none")
        else f"{method} + {smooth.replace('smoothgrad', 'SmoothGrad')}"
    )


@renderer("smoothing")
def smoothing(data: Sequence[dict[str, Any]]) -> str:
    """Each method with and without smoothing (``benchmarks.smoothing``), every metric with its
    95 % interval; the caption states the data, pair count and mask rule the file records, and
    whether that rule is today's default."""
    from svhn_xai.scoring.protocol import DEFAULT_PROTOCOL

    (d,) = data
    named = [(_smooth_name(k), r) for k, r in d["rows"].items()]
    pairs = " / ".join(str(n) for n in sorted({r["n"] for _, r in named}))
    protocol = d.get("protocol")
    if protocol:
        rule = f"mask rule {_rule_label({'value': 0, 'sigma': 0, **protocol})}"
        default = DEFAULT_PROTOCOL.to_dict()
        if not _same_rule({"value": 0, "sigma": 0, **protocol}, default):
            rule += f", **not** today's default ({_rule_label(default)})"
    else:
        rule = "mask rule not recorded"
    caption = (
        f"{d.get('data', '?')}, first {d.get('limit', '?')} photos: {pairs} (photo, digit) "
        f"pairs; {rule}. " + _load_average(d)
    )
    return caption + "\n\n" + _metric_table(named, d.get("directions") or KNOWN_DIRECTIONS)


# --- speed and budgets -----------------------------------------------------------------------


@renderer("budgets")
def budgets(data: Sequence[dict[str, Any]]) -> str:
    """For each method with a deterministic budget: its map's agreement with the converged map
    (median Spearman ρ) one budget below the default, at the default, and the reference
    budget."""
    (d,) = data
    rows = []
    for m in d["methods"]:
        ladder = {step["budget"]: step for step in m["ladder"]}
        below = [b for b in ladder if b < m["default"]]
        small = f"{max(below)}: ρ {_num(ladder[max(below)]['rho_median'])}" if below else "–"
        step = ladder.get(m["default"])
        default = f"**{m['default']}**"
        if step is not None:
            default += f": ρ {_num(step['rho_median'])}"
            if step.get("completeness_gap_median") is not None:
                default += f", completeness gap {step['completeness_gap_median']:.1%}"
        seconds = _num(step["seconds_median"]) if step else "–"
        rows.append(
            [f"{m['method']} (`{m['parameter']}`)", small, default, seconds, str(m["reference"])]
        )
    header = ["method (budget)", "below default", "default", "s / image", "reference"]
    return d["data"] + "\n\n" + _table(header, rows)


@renderer("sampling_stability")
def sampling_stability(data: Sequence[dict[str, Any]]) -> str:
    """For each sampling method and lever (the plain estimator, each variance-reduction option
    or coarser grid): the seed-to-seed agreement of its map (median Spearman ρ over photos,
    95 % bootstrap interval) and the PxAP of its maps at each budget, with passes and seconds."""
    from benchmarks.sampling_stability import MAX_SLOWDOWN, PREVIOUS_DEFAULTS, SCREEN, TIE, choose
    from svhn_xai.explain import method_name  # torch and captum: imported only when needed
    from svhn_xai.explain.stability import STABLE_RHO

    (d,) = data
    rows = []
    for key, m in d["methods"].items():
        before, chosen = PREVIOUS_DEFAULTS[key], choose(m)
        levers = {"plain": {"options": {}, "curve": m["curve"]}, **m.get("levers", {})}
        for lever, got in levers.items():
            for point in got["curve"]:
                budget = f"`{m['parameter']}` {point['params'][m['parameter']]}"
                if point["params"] == chosen:
                    budget = f"**{budget} (default)**"
                elif {**before, **point["params"]} == before:
                    budget += " (before)"
                rows.append(
                    [method_name(key), lever, budget, str(point["passes"]),
                     f"{point['seconds']:.2f}", str(point.get("photos", "–")),
                     _with_ci(point, "rho"), _with_ci(point, "pxap")]
                )  # fmt: skip
    header = ["method", "lever", "budget", "passes", "s / call", "photos",
              "ρ seed 1 vs 2 ↑ [95 % CI]", "PxAP ↑ [95 % CI]"]  # fmt: skip
    rule = (
        f"**Default**: of the settings within {MAX_SLOWDOWN:.0f}× the time before, the fastest "
        f"whose median ρ holds (its 95 % interval lies at or above {STABLE_RHO}) and whose PxAP "
        "interval reaches the PxAP "
        "before; where none keeps its PxAP, the fastest whose ρ holds (a map that is the same "
        "map twice comes first); where none holds, the most stable. Settings within "
        f"{TIE:.0%} of the fastest one's time count as equally fast (run-to-run noise), and of "
        "those the one that changes the fewest settings besides the budget is taken; *before*: "
        "the defaults at commit af7e869."
    )
    caption = f"{d['data']}, seeds {' and '.join(map(str, d['seeds']))}. {rule}"
    if "refined_on" in d:
        caption += (
            f" The defaults before, and every setting the choice could fall on (median ρ within "
            f"{SCREEN} of {STABLE_RHO} on those photos), were measured again on "
            f"{d['refined_on']}, cheapest first, and the choice made on those (their rows count "
            "more photos; *before* is compared on the same photos)."
        )
    out = caption + "\n\n" + _table(header, rows)
    if "confirmation" in d:  # files before the choice was re-measured on other photos
        out += "\n\n" + _confirmation(d)
    return out


def _confirmation(d: dict[str, Any]) -> str:
    """The chosen defaults measured again on photos the choice was not made on."""
    from svhn_xai.explain import method_name

    rows = []
    for key, m in d["methods"].items():
        got = m["default"]
        budget = f"`{m['parameter']}` {got['params'][m['parameter']]}"
        commit = m.get("commit", d["provenance"]["commit"])[:7]
        machine = m.get("machine", d["provenance"]["machine"])
        where = f"`{commit}`, {', '.join(machine.get('cpu_features', [])) or 'CPU'}"
        rows.append([method_name(key), budget, str(got["passes"]), f"{got['seconds']:.2f}",
                     _with_ci(got, "rho"), _with_ci(got, "pxap"), where])  # fmt: skip
    header = ["method", "default", "passes", "s / call", "ρ seed 1 vs 2 ↑ [95 % CI]",
              "PxAP ↑ [95 % CI]", "measured at (commit, CPU)"]  # fmt: skip
    caption = (
        f"The defaults chosen above, measured again on {d['confirmation']}: photos the choice "
        "was not made on, so that a setting that held on the first photos by luck shows here."
    )
    return caption + "\n\n" + _table(header, rows)


def _with_ci(point: dict[str, Any], key: str) -> str:
    if key not in point:
        return "–"  # files written before the score was measured
    low, high = point[f"{key}_ci"]
    return f"{point[key]:.2f} [{low:.2f}, {high:.2f}]"


def _load_average(d: dict[str, Any]) -> str:
    """The 1-, 5- and 15-minute load averages a results file recorded, as a caveat line."""
    machine = (d.get("provenance") or d).get("machine") or {}
    loads = machine.get("load_average_1_5_15_min")
    cores = machine.get("cores", "?")
    if not loads:
        return f"This file records no load average of its {cores}-core machine."
    shown = " / ".join(f"{x:.1f}" for x in loads)
    return f"Load average (1 / 5 / 15 min) recorded on the {cores}-core machine: {shown}."


def _speed_rows(d: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """The rows of a ``benchmarks.explainers`` file in the current layout, and the name of the
    plain-library column; files written before the layout settled say ``rows`` and
    ``plain_library_*`` (pytorch-grad-cam's own classes for the CAMs, Captum for the rest)."""
    if "methods" in d:
        return d["methods"], "Captum s"
    rows = [
        {
            **r,
            "captum_seconds": r.get("plain_library_seconds"),
            "captum_estimated": r.get("plain_estimated"),
            "captum_error": r.get("plain_library_note"),
        }
        for r in d["rows"]
    ]
    return rows, "plain library s"


@renderer("split_half")
def split_half(data: Sequence[dict[str, Any]]) -> str:
    """A map's split-half stability against a second draw, per sampling method at its defaults
    (``benchmarks.split_half``)."""
    from svhn_xai.explain import method_name  # torch and captum: imported only when needed

    (d,) = data
    rows = []
    for key, m in d["methods"].items():
        first = m["photos"]
        cells = [method_name(key), str(first)]
        for estimate in ("split_half", "second_draw"):
            e = m[estimate]
            cells += [
                f"{_num(e['median'])} [{_num(e['ci'][0])}, {_num(e['ci'][1])}]",
                _num(e["gap_to_reference"]),
                _num(e["run_to_run"]),
                f"{e['same_verdict']} / {first}",
            ]
        cells.append(_num(m["reference"]["median"]))
        rows.append(cells)
    header = [
        "method", "photos",
        "split-half ρ [95 % CI]", "gap ↓", "run to run ↓", "same verdict ↑",
        "second draw ρ [95 % CI]", "gap ↓", "run to run ↓", "same verdict ↑",
        "reference ρ",
    ]  # fmt: skip
    return f"Photos: {d['data']}; seeds {', '.join(map(str, d['seeds']))}.\n\n" + _table(
        header, rows
    )


@renderer("stability_cost")
def stability_cost(data: Sequence[dict[str, Any]]) -> str:
    """Seconds of a sampling map with its stability, from its halves or a second draw
    (``benchmarks.stability_cost``)."""
    from svhn_xai.explain import method_name  # torch and captum: imported only when needed

    (d,) = data
    rows = [
        [method_name(key), f"{m['split_half_s']:.2f}", f"{m['second_draw_s']:.2f}",
         f"{m['ratio']:.2f}×"]
        for key, m in d["methods"].items()
    ]  # fmt: skip
    header = ["method (defaults)", "map + split-half (s) ↓", "map + second draw (s) ↓", "saved"]
    return f"Photos: {d['data']}; median of {d['repeats']} runs each.\n\n" + _table(header, rows)


@renderer("explainer_speed")
def explainer_speed(data: Sequence[dict[str, Any]]) -> str:
    """Seconds per explanation, model passes, the floor those passes cost, and the plain
    library (Captum, or pytorch-grad-cam for the CAMs), with the machine's load average."""
    (d,) = data
    methods, plain = _speed_rows(d)
    same_params = any("same_params_seconds" in r for r in methods)
    rows = []
    for r in methods:
        if r.get("captum_seconds") is not None:
            star = "*" if r.get("captum_estimated") else ""
            captum = f"{r['captum_seconds']:.3g}{star}"
            speedup = f"{r['captum_seconds'] / r['seconds']:.1f}×"
        else:
            captum, speedup = r.get("captum_error") or "–", "–"
        ratio = r["seconds"] / r["floor_seconds"]
        row = [
            r["method"],
            _num(r["seconds"]),
            str(r["passes"]),
            _num(r["floor_seconds"]),
            _num(ratio, 2),
            captum,
            speedup,
        ]
        if same_params:
            same, paired = r.get("same_params_seconds"), r.get("same_params_ratio")
            if paired:  # the median of paired rounds' ratios, with its interval
                low, high = paired["ci95"]
                speed = f"{paired['median']:.2f}× [{low:.2f}, {high:.2f}]"
            else:  # older files: the ratio of the two medians
                speed = f"{same / r['seconds']:.2f}×" if same else "–"
            row += [_num(same), speed]
        rows.append(row)
    header = ["method", "s", "passes", "floor s", "/ floor", plain, "speed-up"]
    paired_rounds = any(r.get("same_params_ratio") for r in methods)
    if same_params:
        header += [
            "same params s",
            "speed-up, paired [95 % CI] (≥ 1: not slower)" if paired_rounds
            else "speed-up (≥ 1: not slower)",
        ]  # fmt: skip
    batched = d.get("batched_forward_ms", d.get("batched_forward_ms_per_image"))
    runs = f"Median of {d['repeats']} runs"
    if "min_seconds" in d:
        runs = (
            f"Medians of at least {d['repeats']} rounds, and of at least {d['min_seconds']:g} s "
            "of each method, ours and the library's call alternating"
        )
    lines = [
        f"{runs}; batched forward {batched:.2f} ms/image, "
        f"a lone forward {d['lone_forward_ms']:.1f} ms. * estimated from the per-image cost. "
        + _load_average(d),
        "",
        _table(header, rows),
    ]
    extra = [
        [
            f"{r['method']}, {r['n_samples']} samples (Captum's default)",
            _num(r["seconds"]),
            f"{r['captum_seconds']:.3g}",
            f"{r['captum_seconds'] / r['seconds']:.1f}×",
        ]
        for r in d.get("at_captum_budget") or []
    ]
    same = d.get("occlusion_same_window_and_stride")
    if same:
        extra.append(
            [
                "occlusion, Captum given our window and stride",
                _num(same["seconds"]),
                f"{same['captum_seconds']:.3g}",
                f"{same['captum_seconds'] / same['seconds']:.1f}×",
            ]
        )
    if extra:
        lines += ["", _table(["same budget as Captum", "s", "Captum s", "speed-up"], extra)]
    return "\n".join(lines)


@renderer("evaluate_throughput")
def evaluate_throughput(data: Sequence[dict[str, Any]]) -> str:
    """``evaluate``'s pairs per second one at a time, batched and in 2 processes per group of
    methods, peak memory, and the projected time of the whole SVHN test split."""
    d, *gpu = data
    rows = []
    for g in d["groups"]:
        first = g["rows"][0]["pairs_per_second"]
        for r in g["rows"]:
            rows.append(
                [
                    g["group"] + ("" if g["faithfulness"] == "none" else ", with curves"),
                    r["mode"],
                    str(r.get("photos", d["photos"])),
                    str(r["pairs"]),
                    _num(r["seconds"], 1),
                    _num(r["pairs_per_second"], 2),
                    f"{r['pairs_per_second'] / first:.1f}×",
                    f"{r['peak_rss_mb']:.0f}",
                ]
            )
    header = ["methods", "how", "photos", "pairs", "s", "pairs/s (higher is better)",
              "vs one at a time", "peak RSS MB"]  # fmt: skip
    t = d["test_split"]
    on_gpu = "not measured (no GPU machine lent)"
    if gpu:  # a results file of the GPU run (benchmarks/gpu_explain_check.py and evaluate)
        g = gpu[0]["test_split"]
        name = gpu[0]["provenance"]["machine"]["gpu"]
        on_gpu = f"**{g['all_methods_hours']:.1f} h** on one {name} (measured, below)"
    lines = [
        (
            "Real photos of the shared sample's development split (from 1.png on, as many as "
            "the photos column says)"
            if "data" in d
            else f"{d['photos']} synthetic test photos"
        )
        + "; localisation scores only unless marked. "
        + _load_average(d),
        "",
        _table(header, rows),
        "",
        f"Whole SVHN test split, all methods, no curves: {t['photos']:,} photos × "
        f"{t['pairs_per_photo']:.2f} pairs at {t['pairs_per_second']:.2f} pairs/s = "
        f"**{t['hours']:.1f} h** on this CPU; {on_gpu}.",
    ]
    return "\n".join(lines)


@renderer("defaults_throughput")
def defaults_throughput(data: Sequence[dict[str, Any]]) -> str:
    """The all-methods group before and after a change of defaults, measured in one run:
    pairs per second and peak memory, then every method whose time per pair moved by 10 %
    or more."""
    (run,) = data
    before, after, *half = run["rows"]  # half: the run with --precision bfloat16, if any
    header = ["", "commit", "pairs", "pairs/s ↑", "peak MB"]
    rows = [
        [r["label"], f"`{r['commit'][:7]}`", str(r["pairs"]), f"{r['pairs_per_second']:.3f}",
         f"{r['peak_rss_mb']:.0f}"]
        for r in run["rows"]
    ]  # fmt: skip
    moved = sorted(
        ((k, v) for k, v in run["ratio_after_to_before"].items() if abs(v - 1) >= 0.1),
        key=lambda kv: -kv[1],
    )
    columns = ["method", "s/pair before", "s/pair after", "after / before"]
    columns += [f"s/pair {h['label']}" for h in half]
    per_method = _table(
        columns,
        [
            [k, f"{before['seconds_per_pair'][k]:.3f}", f"{after['seconds_per_pair'][k]:.3f}",
             f"{v:.2f}×", *(f"{h['seconds_per_pair'][k]:.3f}" for h in half)]
            for k, v in moved
        ],
    )  # fmt: skip
    return _table(header, rows) + "\n\n" + per_method


@renderer("precision_agreement")
def precision_agreement(data: Sequence[dict[str, Any]]) -> str:
    """Each perturbation method's map in bfloat16 against its float32 map: rank agreement over
    photos, and the seconds of one call in each precision."""
    from svhn_xai.explain import method_name

    (d,) = data
    rows = [
        [method_name(key), f"{m['rho']:.3f} [{m['rho_ci'][0]:.3f}, {m['rho_ci'][1]:.3f}]",
         f"{m['rho_min']:.3f}",
         f"{m['seconds_float32']:.2f}", f"{m['seconds_bfloat16']:.2f}", f"{m['speed_up']:.2f}×"]
        for key, m in d["methods"].items()
    ]  # fmt: skip
    header = ["method", "ρ float32 vs bfloat16 ↑ [95 % CI]", "lowest ρ", "s float32",
              "s bfloat16", "speed-up"]  # fmt: skip
    caption = f"{d['data']}, the first digit of each, defaults, seed {d['seed']}."
    return caption + "\n\n" + _table(header, rows)


@renderer("evaluate_per_method")
def evaluate_per_method(data: Sequence[dict[str, Any]]) -> str:
    """Seconds per pair of explain() one at a time and explain_batch(), against the floor."""
    (d,) = data
    rows = [
        [
            r["method"],
            "yes" if r["batched"] else "one at a time",
            _num(r["one_seconds"]),
            _num(r["batched_seconds"]),
            f"{r['speed_up']:.1f}×",
            _num(r["floor_seconds"]),
            _num(r["over_floor"], 2),
        ]
        for r in d["per_method"]
    ]
    header = ["method", "batched", "one s/pair", f"batch of {d['batch_size']} s/pair",
              "speed-up", "floor s/pair", "/ floor (lower is better)"]  # fmt: skip
    return _table(header, rows)


@renderer("shortcut_lab")
def shortcut_lab(data: Sequence[dict[str, Any]]) -> str:
    """The shortcut lab: head D's accuracy three ways, then per method and baseline its share of
    relevance on the cue (on the shortcut model and on the reference), on the digit, and
    whether it catches the shortcut."""
    (d,) = data
    a = d["accuracy"]

    def pm(row: dict[str, Any], key: str) -> str:
        return _num(row[key]) + _interval_text(row, key) if key in row else "–"

    rows = [
        [
            name,
            pm(r, "cue_mass"),
            pm(r, "reference_cue_mass"),
            pm(r, "cue_mass_gain"),
            pm(r, "digit_mass"),
            pm(r, "cue_pointing"),
            pm(r, "reference_cue_pointing"),
            {True: "**yes**", False: "no"}.get(r.get("catches"), "–"),
        ]
        for name, r in [*d["methods"].items(), *d["baselines"].items()]
    ]
    header = ["method", "cue mass ↑", "on the reference model", "gain ↑", "digit mass",
              "cue holds the maximum ↑", "on the reference model", "catches"]  # fmt: skip
    caught = [k for k, r in d["methods"].items() if r.get("catches")]
    lo, hi = a.get("cue_pasted_ci") or a["cue_pasted_ci95"]  # the older files' name
    lines = [
        f"Head {d['digit']} on {a['n_images']} held-out photos: balanced accuracy "
        f"**{a['with_cue']:.3f} with the cue, {a['cue_removed']:.3f} without it** (drop "
        f"{a['drop']:.3f}; the rule asks ≥ 0.10); the cue pasted into photos without a "
        f"{d['digit']} makes it say present {a['cue_pasted']:.1%} of the time ({lo:.1%}–{hi:.1%}) "
        f"against {a['false_positive_rate']:.1%} without the cue.",
        "",
        f"Maps of {d['n_images']} photos that show a {d['digit']} and carry the cue; "
        + ("95 % intervals over photos in brackets" if "cue_pasted_ci" in a else "± 95 % intervals")
        + f". Catches: {d['catch_rule']}. **{len(caught)} of {len(d['methods'])} methods "
        "catch the shortcut**" + (f": {', '.join(caught)}." if caught else "."),
        "",
        _table(header, rows),
    ]
    return "\n".join(lines)


@renderer("train_throughput")
def train_throughput(data: Sequence[dict[str, Any]]) -> str:
    """Training images per second for each stem and precision: the model alone and the full
    step (batch gather, augmentation, forward, backward, optimiser)."""
    (d,) = data
    rows = [
        [
            f"`{r['stem']}`",
            r["precision"],
            _num(r["model_images_per_s"], 1),
            _num(r["full_step_images_per_s"], 1),
            _num(r["full_step_images_per_s"] / r["model_images_per_s"], 2),
        ]
        for r in d["rows"]
    ]
    header = ["stem", "precision", "model fwd+bwd, img/s ↑", "full step, img/s ↑", "full / model"]
    return f"Device {d['device']}, batch {d['batch_size']}\n\n" + _table(header, rows)


@renderer("app_latency")
def app_latency(data: Sequence[dict[str, Any]]) -> str:
    """Cold start and threshold round trip of the app in a real browser."""
    (d,) = data
    trips = d["threshold_changes"]
    rows = [
        ["Streamlit server up", f"{d['server_up_s']:.1f} s"],
        ["cold start to the first interactive Explain page", f"{d['cold_start_s']:.1f} s"],
        [
            f"threshold change, keypress to new IoU on screen ({trips} changes)",
            f"median {_num(d['threshold_round_trip_median_ms'], 0)} ms, "
            f"max {_num(d['threshold_round_trip_max_ms'], 0)} ms",
        ],
    ]
    return _table(["measure ↓", "time"], rows)


@renderer("cost_estimate")
def cost_estimate(data: Sequence[dict[str, Any]]) -> str:
    """The app's run-time estimate against the measured time, for every method at its defaults
    and with each cost parameter at its expensive end (``benchmarks.cost_estimate``)."""
    from svhn_xai.explain import method_name  # torch and captum: imported only when needed

    (d,) = data
    rows = []
    for r in d["rows"]:
        setting = ", ".join(f"{k} {v}" for k, v in r["params"].items()) or "defaults"
        name = method_name(r["method"])
        rows.append(
            [name, setting, str(r["passes"]), f"{r['estimate_s']:.2f}", f"{r['measured_s']:.2f}",
             f"{r['ratio']:.2f}" + ("" if 0.5 <= r["ratio"] <= 2 else " ✗")]
        )  # fmt: skip
    within, n = d["within"]
    head = (
        f"{within} of {n} estimates within [0.5, 2] of the measured time; settings whose "
        f"estimate exceeded {d['cap_s']:.0f} s were brought back towards the default. "
        f"Image: {d['image']}.\n\n"
    )
    header = ["method", "setting", "passes", "estimate (s)", "measured (s)", "estimate / measured"]
    return head + _table(header, rows)


@renderer("app_load")
def app_load(data: Sequence[dict[str, Any]]) -> str:
    """A bounded load run: sessions at once on one shared model, errors a user saw, latency
    per rerun and memory growth."""
    (d,) = data
    grew = d["memory_after_mb"] - d["memory_before_mb"]
    rows = [
        ["sessions × seconds", f"{d['sessions']} × {d['seconds']:.0f}"],
        ["reruns", str(d["reruns"])],
        ["errors shown to a user ↓", str(d["user_errors"])],
        ["AppTest's own lookup failures (not shown to a user)", str(d["harness_errors"])],
        [
            "latency per rerun, median / p95 ↓",
            f"{_num(d['median_ms'], 0)} / {_num(d['p95_ms'], 0)} ms",
        ],
        ["memory (MB)", f"{d['memory_before_mb']:.0f} → {d['memory_after_mb']:.0f} ({grew:+.0f})"],
    ]
    return _table(["measure", "value"], rows)


@renderer("model_scores")
def model_scores(data: Sequence[dict[str, Any]]) -> str:
    """Balanced accuracy of a checkpoint's model card, overall and per digit, on each test set."""
    (card,) = data
    metrics = card["metrics"]
    sets = [k for k in ("test", "real") if k in metrics]
    names = {"test": "held-out synthetic", "real": "real photos"}
    digits = sorted(metrics[sets[0]]["per_digit"], key=int)
    header = ["balanced accuracy ↑", "n images", "all digits", *digits]
    rows = [
        [
            names[k],
            str(metrics[k].get("n_images", "?")),
            f"**{metrics[k]['balanced_accuracy']:.1%}**",
            *(f"{metrics[k]['per_digit'][d]['balanced_accuracy']:.1%}" for d in digits),
        ]
        for k in sets
    ]
    return _table(header, rows)


# --- the model on real photos: benchmarks.real_cv -------------------------------------------

# the rule for replacing the shipped model (a requirement, not a measurement)
SHIP_MIN_SYNTHETIC = 0.98


def _ci(interval: dict[str, Any], signed: bool = False) -> str:
    """``91.1 % [88.8, 93.4]`` (or ``+1.1 [-0.1, +2.3]`` points, for a difference)."""
    if signed:
        e, lo, hi = (100 * interval[k] for k in ("estimate", "low", "high"))
        return f"{e:+.1f} [{lo:+.1f}, {hi:+.1f}]"
    return f"{interval['estimate']:.1%} [{100 * interval['low']:.1f}, {100 * interval['high']:.1f}]"


def _synthetic_range(lever: dict[str, Any]) -> str:
    values = [f["synthetic_test_balanced_accuracy"] for f in lever["folds"]]
    if None in values:
        return "–"
    low, high = min(values), max(values)
    return f"{low:.1%}" if f"{low:.1%}" == f"{high:.1%}" else f"{low:.1%}–{high:.1%}"


def _passes(lever: dict[str, Any]) -> bool:
    """The shipping rule: the family-wise paired interval above zero (every lever tried is
    one more chance to look better by luck), synthetic accuracy kept >= 98 %."""
    synthetic = [f["synthetic_test_balanced_accuracy"] for f in lever["folds"]]
    return (
        lever["vs_shipped_familywise"]["low"] > 0
        and None not in synthetic
        and min(synthetic) >= SHIP_MIN_SYNTHETIC
    )


def _baseline(cv: dict[str, Any]) -> str:
    """How the tables name the model the levers were judged against (the results file's
    "shipped", named for when it was measured): "shipped" while it still is, else the tracked
    checkpoint that holds its weights."""
    weights = cv["provenance"].get("checkpoint", {}).get("sha256")
    for name in ("default.pt", "synthetic.pt"):
        path = ROOT / "checkpoints" / name
        if path.is_file() and file_sha256(path) == weights:
            return "shipped" if name == "default.pt" else f"`{name}`"
    return f"`{cv['baseline']}`"


@renderer("real_cv_levers")
def real_cv_levers(data: Sequence[dict[str, Any]]) -> str:
    """Every lever's cross-validated balanced accuracy, its paired difference from the shipped
    model (at 95 % and family-wise), its fold models' synthetic accuracy, and whether it meets
    the shipping rule."""
    (cv,) = data
    shipped, name = cv["shipped"], _baseline(cv)
    level = next(iter(cv["levers"].values()))["vs_shipped_familywise"]["level"]
    header = [
        "lever",
        "what it changes",
        f"balanced accuracy ↑, {photos(cv['dev'])}",
        f"minus {name} ↑, points, 95 % CI",
        f"same, family-wise {level:.1%} CI",
        "synthetic held-out ↑",
        "where, s",
        "meets the rule",
    ]
    rows = [
        [
            name,
            "nothing: the model the levers start from, scored fold by fold",
            _ci(shipped["balanced_accuracy"]),
            "",
            "",
            _synthetic_range(shipped),
            "",
            "",
        ]
    ]
    for name, lever in sorted(
        cv["levers"].items(), key=lambda kv: -kv[1]["balanced_accuracy"]["estimate"]
    ):
        machine = lever.get("provenance", {}).get("machine", {})
        rows.append(
            [
                f"`{name}`",
                lever["description"],
                _ci(lever["balanced_accuracy"]),
                _ci(lever["vs_shipped"], signed=True),
                _ci(lever["vs_shipped_familywise"], signed=True),
                _synthetic_range(lever),
                f"{machine.get('gpu') or 'CPU'}, {lever['seconds']:.0f}",
                "yes" if _passes(lever) else "no",
            ]
        )
    return _table(header, rows)


@renderer("real_cv_references")
def real_cv_references(data: Sequence[dict[str, Any]]) -> str:
    """Each lever that differs from another lever in one respect only, against that lever,
    paired on the same photos: what the one respect adds."""
    (cv,) = data
    header = [
        "lever",
        "compared with",
        "balanced accuracy ↑",
        "theirs",
        "difference ↑, points (paired 95 % CI)",
    ]
    rows = []
    for name, lever in sorted(
        cv["levers"].items(), key=lambda kv: -kv[1]["balanced_accuracy"]["estimate"]
    ):
        if "vs_reference" not in lever:
            continue
        reference = lever["vs_reference"]["lever"]
        rows.append(
            [
                f"`{name}`",
                f"`{reference}`",
                _ci(lever["balanced_accuracy"]),
                _ci(cv["levers"][reference]["balanced_accuracy"]),
                _ci(lever["vs_reference"], signed=True),
            ]
        )
    return _table(header, rows)


@renderer("real_cv_heldout")
def real_cv_heldout(data: Sequence[dict[str, Any]]) -> str:
    """The shipped model on each set of photos, with intervals; and the lever picked by its
    cross-validated score, trained on every development photo, scored once on the held-out."""
    (cv,) = data
    shipped, name = cv["shipped"], _baseline(cv)
    synthetic = f"synthetic test ({shipped['synthetic_test']['photos']:,} images)"
    header = [
        "model",
        "real photos trained on",
        "scored on",
        "balanced accuracy ↑ (95 % CI)",
        f"minus {name} ↑, points (paired 95 % CI)",
    ]
    rows = [
        [name, "none", photos(cv["dev"]), _ci(shipped["balanced_accuracy"]), ""],
        [name, "none", photos(cv["heldout"]), _ci(shipped["heldout"]), ""],
        [name, "none", synthetic, _ci(shipped["synthetic_test"]), ""],
    ]
    for tta in shipped.get("tta", {}).values():  # measured only: never in a plain score
        rows.append(
            [
                f"{name}, test-time augmentation (7 views)",
                "none",
                photos(tta["photos"]),
                _ci(tta["balanced_accuracy"]),
                _ci(tta["vs_plain"], signed=True) + " (vs plain)",
            ]
        )
    final = cv.get("final")
    if final is not None:
        trained = photos(cv["dev"])
        gain = final["synthetic_test"]["candidate"] - final["synthetic_test"]["shipped"]
        rows += [
            [
                f"`{final['lever']}`",
                trained,
                photos(final["heldout"]),
                _ci(final["candidate"]),
                _ci(final["candidate_vs_shipped"], signed=True),
            ],
            [
                f"`{final['lever']}`",
                trained,
                synthetic,
                f"{final['synthetic_test']['candidate']:.1%}",
                f"{100 * gain:+.1f}",
            ],
        ]
    return _table(header, rows)


# --- the full-size SVHN run of benchmarks.svhn_full_scale -------------------------------------

# the targets for a full-size split (requirements, not measurements)
TARGET_PARSE_AND_PREPARE_S = 300
TARGET_MEMORY_GB = 8


def _verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def _load_after(phases: dict[str, Any], names: Sequence[str]) -> str:
    """The range of the 1-minute load averages recorded after the named phases."""
    loads = [phases[n]["load_average_after"][0] for n in names if n in phases]
    low, high = min(loads), max(loads)
    return f"{low:.1f}" if low == high else f"{low:.1f}–{high:.1f}"


def _prepared(p: dict[str, Any]) -> str:
    """Wall time, rate and the workers' CPU time of a ``prepare`` phase."""
    cpu = p["cpu_seconds_children"]
    return (
        f"{p['open_and_prepare_seconds']:.0f} s ({p['images_per_second']:.0f} images/s; "
        f"the workers used {cpu:.0f} CPU-s, {p['images'] / cpu:.0f} images per CPU-second)"
    )


@renderer("full_scale_train")
def full_scale_train(data: Sequence[dict[str, Any]]) -> str:
    """Each step from ``digitStruct.mat`` to a training epoch, and its resumption, on the
    full-size ``train`` split, from a ``benchmarks.svhn_full_scale`` run."""
    (d,) = data
    ph = d["phases"]
    parse, prep, train, resume = ph["parse"], ph["prepare"], ph["train"], ph["resume"]
    total = parse["first_seconds"] + prep["open_and_prepare_seconds"]
    target = TARGET_PARSE_AND_PREPARE_S
    rate = f"{train['train_images_per_second']:.1f} images/s"
    if train["finished_epoch"]:
        epoch = f"{train['epoch_seconds']:,.0f} s ({rate})"
        if "test_balanced_accuracy" in train:
            epoch += f"; balanced accuracy after it {train['test_balanced_accuracy']:.3f}"
        memory_when = "a whole full-size epoch"
    else:
        epoch = (
            f"stopped at {train['steps_done']} of {train['steps_per_epoch']} steps ({rate}): "
            f"~{train['epoch_seconds_extrapolated']:,.0f} s extrapolated"
        )
        memory_when = "the timed part of a full-size epoch"
    indices = re.search(r"--indices (\S+)", resume["first"]["command"])
    codes = f"{resume['first']['exit_code']} then {resume['resumed']['exit_code']}"
    rows = [
        [
            "parse `digitStruct.mat`, first run",
            f"{parse['first_seconds']:.0f} s ({parse['entries_per_second']:.0f} entries/s)",
            "",
        ],
        ["parse, cached (`digitStruct.cache.json`)", f"{parse['cached_seconds']:.1f} s", ""],
        [
            f"open + crop and resize to {prep['input_size']}×{prep['input_size']}, "
            f"{prep['workers']} processes",
            _prepared(prep),
            "",
        ],
        [
            "parse + prepare, first run",
            f"**{total:.0f} s**",
            f"{target} s: {_verdict(total <= target)}",
        ],
        [
            "time to first batch: cold (prepare included) / warm (cache hit)",
            f"{prep['cold_time_to_first_batch_seconds']:.1f} s / "
            f"{ph['first_batch']['warm_time_to_first_batch_seconds']:.1f} s",
            "",
        ],
        [
            "peak memory while preparing: main process / largest worker",
            f"{prep['peak_rss_mb']:,.0f} MB / {prep['largest_child_peak_rss_mb']:,.0f} MB",
            "",
        ],
        [
            f"peak memory of the training process ({memory_when})",
            f"{train['peak_rss_mb']:,.0f} MB ({train['rss_anon_mb']:,.0f} MB anonymous at the end)",
            "",
        ],
        ["one epoch of `train --data svhn --split train` on this CPU, ResNet-18", epoch, ""],
    ]
    full = resume.get("full_size", {})
    if "resumed_steps" in full:
        losses = full["first_losses"]
        rows.append(
            [
                "`--resume` of that epoch's checkpoint, full size",
                f"resumed after epoch {', '.join(map(str, full['resumed_from_epochs']))}: first "
                f"step of epoch 2 after {full['seconds_to_first_resumed_step']:.1f} s, "
                f"{full['resumed_steps']} steps timed, loss {min(losses):.2f}–{max(losses):.2f}",
                "",
            ]
        )
    rows += [
        [
            "`train` then `train --resume` (CLI, end to end)",
            (f"on `--indices {indices[1]}` of the full-size split: " if indices else "")
            + f"exit {codes}, {'resumed' if resume['resumed_line_seen'] else 'did not resume'}, "
            f"epochs in the history {', '.join(map(str, resume['epochs_in_history']))}",
            "",
        ],
        ["prepared cache on disk (memory-mapped)", f"{prep['cache_bytes'] / 1e6:,.0f} MB", ""],
    ]
    loads = f"1-minute load average on the {d['machine']['cores']} cores after each step: "
    loads += _load_after(ph, ["parse", "prepare", "first_batch", "train", "resume"]) + "."
    header = [f"`train` ({parse['entries']:,} photos)", "measured", "target"]
    return loads + "\n\n" + _table(header, rows)


@renderer("full_scale_extra")
def full_scale_extra(data: Sequence[dict[str, Any]]) -> str:
    """Opening, preparing and reading the full-size ``extra`` split, from the ``extra`` phase of
    a ``benchmarks.svhn_full_scale`` run."""
    (d,) = data
    extra, parse = d["phases"]["extra"], d["phases"]["parse"]
    opened, prep, epoch = extra["open"], extra["prepare"], extra["loader_epoch"]
    after = epoch["after_pass"]
    limit = TARGET_MEMORY_GB

    def memory(mb: float) -> str:
        return f"< {limit} GB: {_verdict(mb < limit * 1000)}"

    if prep["finished"]:
        result = prep["result"]
        prepared = (
            f"{result['open_and_prepare_seconds']:,.0f} s ({result['images_per_second']:,.0f} "
            f"images/s; the workers used {result['cpu_seconds_children']:,.0f} CPU-s)"
        )
        cache = "a copy of the prepared cache"
    else:
        prepared = (
            f"stopped after {prep['seconds']:.0f} s at {prep['images_done']:,} images "
            f"({prep['images_per_second']:.0f} images/s): "
            f"~{prep['full_seconds_extrapolated']:,.0f} s extrapolated"
        )
        cache = "a cache of the rows prepared before the stop, repeated"
    with_workers = prep["sampled_peak_rss_with_workers_mb"]
    mapped = after["rss_anon_mb"] + after["rss_file_mb"]
    rows = [
        [
            f"open the index ({opened['images']:,} entries with their boxes)",
            f"{opened['seconds']:.0f} s; peak {opened['peak_rss_mb']:,.0f} MB "
            f"({opened['rss_anon_mb']:,.0f} MB anonymous)",
            "",
        ],
        [f"prepare, all {extra['built']['images']:,}", prepared, ""],
        [
            "peak memory while preparing, sampled each second: main process / with its workers",
            f"{prep['sampled_peak_rss_main_mb']:,.0f} MB / {with_workers:,.0f} MB "
            "(the forked workers share pages, so the sum over-counts)",
            memory(with_workers),
        ],
        [
            f"one epoch of batches ({epoch['images']:,} images) from {cache} "
            f"({epoch['cache_bytes'] / 1e9:.2f} GB, memory-mapped)",
            f"{epoch['seconds']:.1f} s; afterwards {after['rss_anon_mb']:,.0f} MB anonymous + "
            f"{after['rss_file_mb']:,.0f} MB of mapped cache pages (page cache, reclaimable)",
            memory(mapped),
        ],
        [
            "`digitStruct.mat` parse, first run",
            f"not measured: ~{parse['extra_first_seconds_extrapolated']:,.0f} s extrapolated "
            f"from train's {parse['entries_per_second']:.0f} entries/s",
            "",
        ],
    ]
    loads = f"1-minute load average on the {d['machine']['cores']} cores after this step: "
    loads += _load_after(d["phases"], ["extra"]) + "."
    header = [f"`extra` ({extra['built']['images']:,} entries)", "measured", "target"]
    return loads + "\n\n" + _table(header, rows)


@renderer("gpu_evaluate")
def gpu_evaluate(data: Sequence[dict[str, Any]]) -> str:
    """Every method on one GPU against the CPU, and ``evaluate``'s pairs per second there."""
    (d,) = data
    check = d["explain_check"]
    rows = []
    for r in check["methods"]:
        if "error" in r:
            rows.append([r["method"], "fails: " + r["error"], "–", "–"])
            continue
        agrees = (
            f"{r['max_relative_difference']:.1e}"
            if r["judged"]
            else f"{r['max_relative_difference']:.1e} (own random samples: not compared)"
        )
        verdict = "yes" if r["ok"] else "**no**"
        rows.append([r["method"], agrees, verdict, f"{r['gpu_seconds_per_pair'] * 1000:.1f}"])
    header = [
        "method",
        f"largest difference from the CPU, relative to the map ({check['compare']} pairs, "
        "TF32 off)",
        "agrees",
        f"GPU ms per pair, batch of {check['pairs']} (lower is better)",
    ]
    runs = []
    for label, e in (
        ("all 23 methods", d["evaluate"]["all_methods"]),
        ("one-pass gradient", d["evaluate"]["one_pass_gradient"]),
    ):
        runs.append(
            [
                label,
                f"{e['n_images']} real photos, {e['n_pairs']} pairs, batch {e['batch_size']}",
                _num(e["seconds"], 1),
                _num(e["pairs_per_second"], 2),
                f"{e['peak_rss_mb']:,.0f}",
            ]
        )
    t = d["test_split"]
    return "\n".join(
        [
            _table(header, rows),
            "",
            _table(["`evaluate --device cuda`", "on", "s", "pairs/s ↑", "peak RSS MB"], runs),
            "",
            f"Whole SVHN test split ({t['photos']:,} photos, {t['pairs_per_photo']:.2f} pairs "
            f"each), no curves, on this GPU: all methods **{t['all_methods_hours']:.1f} h**, the "
            f"one-pass gradient methods **{t['one_pass_gradient_hours'] * 60:.0f} min**.",
        ]
    )


@renderer("gpu_training")
def gpu_training(data: Sequence[dict[str, Any]]) -> str:
    """Training step throughput per stem and precision, and whole epochs, on one GPU."""
    (d,) = data
    rows = [
        [
            f"{r['stem']} stem, {r['precision']}",
            f"{r['model_images_per_s']:,.0f}",
            f"{r['full_step_images_per_s']:,.0f}",
        ]
        for r in d["train_throughput"]
    ]
    epoch = d["train_epoch"]
    lines = [
        _table(
            [
                "ResNet-18, 64×64, batches of 128",
                "model alone images/s ↑",
                "full training step images/s ↑",
            ],
            rows,
        ),  # fmt: skip
        "",
        f"A whole epoch of {epoch['images']:,} images (`{epoch['command']}`, the defaults: bf16 "
        "autocast, the training step as above, then the 1,000-image test split scored): "
        + "; ".join(
            f"epoch {e['epoch']} {e['seconds']:.0f} s ({e['images_per_second']:,.0f} images/s)"
            for e in epoch["epochs"]
        )
        + ".",
    ]
    return "\n".join(lines)


@renderer("loader_throughput")
def loader_throughput(data: Sequence[dict[str, Any]]) -> str:
    """Images per second of the training input pipeline, alone and with the CPU's augmentation,
    and of the full training step, one column per ``benchmarks.svhn_full_scale`` run."""
    runs = [d["phases"] for d in data]
    header = [f"per second, batches of {runs[0]['loader']['batch_size']}"]
    header += [f"images/s ↑ at load {_load_after(p, ['loader'])}" for p in runs]
    steps = [p.get("train", {}).get("train_images_per_second") for p in runs]
    rows = [
        [
            "loader alone: gather uint8 rows from the mapped cache "
            "(the GPU run's CPU work before the copy)",
            *(f"{p['loader']['loader_alone_images_per_second']:,.0f}" for p in runs),
        ],
        [
            "loader + float conversion + augmentation on this CPU "
            "(the CPU run's work before the model)",
            *(f"{p['loader']['loader_and_cpu_augment_images_per_second']:,.0f}" for p in runs),
        ],
        [
            "full training step on this CPU (ResNet-18), in a full-size epoch",
            *(_num(s, 1) for s in steps),
        ],
    ]
    return _table(header, rows)


# --- the generator ---------------------------------------------------------------------------


def render(spec: str, root: Path | None = None) -> str:
    """The Markdown of one marked table, ``spec`` being ``KIND FILE [FILE ...]`` (paths relative
    to ``root``, by default the repository), with the source line."""
    root = root or ROOT
    kind, *paths = spec.split()
    if kind not in RENDERERS:
        raise ValueError(f"unknown table kind {kind!r}; known: {', '.join(sorted(RENDERERS))}")
    if not paths:
        raise ValueError(f"table {kind!r} names no results file")
    data = []
    for path in paths:
        file = root / path
        if not file.is_file():
            raise ValueError(f"table {kind!r}: results file {path} does not exist")
        data.append(json.loads(file.read_text()))
    return RENDERERS[kind](data) + "\n\n" + _source_line(paths, data)


def regenerate(text: str, root: Path | None = None) -> str:
    """``text`` with every marked table rewritten from its results files."""

    def block(m: re.Match[str]) -> str:
        return m["open"] + "\n" + render(m["spec"], root) + "\n\n" + m["close"]

    return BLOCK.sub(block, text)


def stale(root: Path | None = None) -> dict[str, str]:
    """Documents whose marked tables differ from what their results files give, each with
    the unified diff from the document to the generated text."""
    root = root or ROOT
    diffs = {}
    for doc in documents(root):
        old = doc.read_text()
        new = regenerate(old, root)
        if new != old:
            name = str(doc.relative_to(root))
            lines = difflib.unified_diff(
                old.splitlines(True), new.splitlines(True), name, f"{name} (generated)"
            )
            diffs[name] = "".join(lines)
    return diffs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 on a diff")
    parser.add_argument("--render", nargs="+", metavar="ARG", help="print one table: KIND FILE…")
    args = parser.parse_args(argv)
    try:
        if args.render:
            print(render(" ".join(args.render)))
            return 0
        diffs = stale()
        for name in diffs:
            if args.check:
                sys.stdout.write(diffs[name])
            else:
                doc = ROOT / name
                doc.write_text(regenerate(doc.read_text()))
                print(f"rewrote {name}")
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.check and diffs:
        print(
            f"\n{', '.join(diffs)}: tables differ from their results files; "
            "run python -m benchmarks.docs",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
