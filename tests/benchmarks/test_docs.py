"""The docs' tables are what their committed results files say (benchmarks/docs.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from benchmarks import docs

LEADERBOARD = {
    "n_images": 2,
    "n_pairs": 3,
    "directions": {"iou_1": "higher", "auc_deletion": "lower", "new_score": {"better": "lower"}},
    "methods": {
        "saliency": {
            "iou_1": 0.25,
            "iou_1_ci95": 0.125,
            "auc_deletion": 0.5,
            "new_score": 2,
            "n": 3,
        },
    },
    "baselines": {"whole_image": {"iou_1": 0.5, "n": 3}},
}


def _marked(spec: str, body: str) -> str:
    return f"# t\n\n<!-- table: {spec} -->\n{body}\n<!-- end -->\n\ntext after\n"


def _repo(tmp_path: Path, body: str = "stale") -> Path:
    """A repository with one results file and a README marking a leaderboard of it."""
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "board.json").write_text(json.dumps(LEADERBOARD))
    (tmp_path / "README.md").write_text(_marked("leaderboard results/board.json", body))
    return tmp_path


def test_every_marked_table_matches_its_committed_results():
    diffs = docs.stale()
    assert not diffs, "run python -m benchmarks.docs:\n" + "\n".join(diffs.values())


def test_the_docs_mark_their_tables():
    marked = [m["spec"] for d in docs.documents() for m in docs.BLOCK.finditer(d.read_text())]
    kinds = {spec.split()[0] for spec in marked}
    assert {"leaderboard", "layer_choice", "rule_choice", "model_scores"} <= kinds
    assert kinds <= set(docs.RENDERERS)


def test_an_indented_example_of_a_marker_is_not_a_marker():
    text = "    <!-- table: KIND FILE -->\n    x\n    <!-- end -->\n"
    assert docs.regenerate(text) == text


def test_a_hand_edited_table_is_reported_with_its_diff(tmp_path):
    root = _repo(tmp_path)
    (root / "README.md").write_text(docs.regenerate((root / "README.md").read_text(), root))
    assert docs.stale(root) == {}
    edited = (root / "README.md").read_text().replace("0.250 ± 0.125", "0.300 ± 0.125")
    (root / "README.md").write_text(edited)
    diff = docs.stale(root)["README.md"]
    assert "-| saliency | 0.300 ± 0.125" in diff
    assert "+| saliency | 0.250 ± 0.125" in diff


def test_regenerating_touches_only_the_marked_block(tmp_path):
    root = _repo(tmp_path)
    new = docs.regenerate((root / "README.md").read_text(), root)
    assert new.startswith("# t\n\n<!-- table: leaderboard results/board.json -->\n")
    assert new.endswith("<!-- end -->\n\ntext after\n")
    assert "stale" not in new
    assert docs.regenerate(new, root) == new


def test_leaderboard_renders_every_metric_with_its_direction_and_the_baselines(tmp_path):
    table = docs.render("leaderboard results/board.json", _repo(tmp_path))
    lines = table.splitlines()
    assert lines[0] == "2 images, 3 (image, digit) pairs"
    header = next(ln for ln in lines if ln.startswith("| method"))
    assert header == "| method | IoU₁ ↑ | deletion ↓ | new score ↓ |"
    assert "| saliency | 0.250 ± 0.125 | 0.500 | 2.000 |" in lines
    assert "| *baseline: whole_image* | 0.500 | – | – |" in lines
    assert lines[-1] == "<sub>Source: `results/board.json`.</sub>"


def test_leaderboard_without_directions_uses_the_known_ones_and_no_arrow_elsewhere(tmp_path):
    root = _repo(tmp_path)
    board = {k: v for k, v in LEADERBOARD.items() if k != "directions"}
    (root / "results" / "board.json").write_text(json.dumps(board))
    header = next(
        ln
        for ln in docs.render("leaderboard results/board.json", root).splitlines()
        if "method" in ln
    )
    assert header == "| method | IoU₁ ↑ | deletion ↓ | new score |"


def test_source_line_names_commit_and_machine(tmp_path):
    root = _repo(tmp_path)
    board = {
        **LEADERBOARD,
        "provenance": {
            "commit": "0123456789abcdef",
            "machine": {
                "cpu": "AMD EPYC",
                "cpu_features": ["avx2"],
                "cores": 2,
                "torch": "2.14.1",
                "torch_threads": 1,
            },
        },
    }
    (root / "results" / "board.json").write_text(json.dumps(board))
    last = docs.render("leaderboard results/board.json", root).splitlines()[-1]
    assert last == (
        "<sub>Source: `results/board.json`, commit `0123456`, AMD EPYC (avx2), 2 cores "
        "(1 torch thread), torch 2.14.1.</sub>"
    )


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("podium results/board.json", "unknown table kind 'podium'"),
        ("leaderboard", "names no results file"),
        ("leaderboard results/missing.json", "results/missing.json does not exist"),
    ],
)
def test_bad_markers_are_refused_by_name(tmp_path, spec, message):
    with pytest.raises(ValueError, match=message):
        docs.render(spec, _repo(tmp_path))


def test_check_exits_1_and_prints_the_diff_when_a_document_differs(tmp_path, monkeypatch, capsys):
    root = _repo(tmp_path)
    monkeypatch.setattr(docs, "ROOT", root)
    assert docs.main(["--check"]) == 1
    assert "-stale" in capsys.readouterr().out
    assert docs.main([]) == 0  # rewrites it
    assert docs.main(["--check"]) == 0


def test_every_results_file_is_shown_in_the_docs():
    cited = "".join(d.read_text() for d in docs.documents())
    results = sorted(p.relative_to(docs.ROOT) for p in (docs.ROOT / "results").glob("*.json"))
    assert results
    assert [str(p) for p in results if str(p) not in cited] == []


def test_choice_tables_mark_the_registry_default(tmp_path):
    shutil.copytree(docs.ROOT / "results", tmp_path / "results")
    spec = next(
        m["spec"]
        for d in docs.documents()
        for m in docs.BLOCK.finditer(d.read_text())
        if m["spec"].startswith("layer_choice")
    )
    rows = [ln for ln in docs.render(spec, tmp_path).splitlines() if "(default)" in ln]
    assert len(rows) == 1 and rows[0].startswith("| **layer3")


def _render(tmp_path: Path, kind: str, *payloads: dict) -> list[str]:
    specs = []
    for i, payload in enumerate(payloads):
        (tmp_path / f"r{i}.json").write_text(json.dumps(payload))
        specs.append(f"r{i}.json")
    return docs.render(f"{kind} {' '.join(specs)}", tmp_path).splitlines()


def test_train_throughput_rows_and_ratio(tmp_path):
    rows = [
        {
            "stem": "small",
            "precision": "float32",
            "model_images_per_s": 20.0,
            "full_step_images_per_s": 19.0,
        }
    ]
    lines = _render(tmp_path, "train_throughput", {"device": "cpu", "batch_size": 32, "rows": rows})
    assert lines[0] == "Device cpu, batch 32"
    assert "| `small` | float32 | 20.0 | 19.0 | 0.95 |" in lines


def test_explainer_speed_ratios_and_captum_failures(tmp_path):
    methods = [
        {
            "method": "occlusion",
            "seconds": 0.2,
            "passes": 197,
            "floor_seconds": 0.25,
            "captum_seconds": 18.0,
            "captum_estimated": False,
        },
        {
            "method": "lrp",
            "seconds": 0.02,
            "passes": 1,
            "floor_seconds": 0.02,
            "captum_seconds": None,
            "captum_error": "fails (TypeError)",
        },
    ]
    run = {
        "repeats": 7,
        "batched_forward_ms": 1.15,
        "lone_forward_ms": 6.3,
        "methods": methods,
        "occlusion_same_window_and_stride": {"seconds": 0.2, "captum_seconds": 1.0},
    }
    lines = _render(tmp_path, "explainer_speed", run)
    assert "| occlusion | 0.200 | 197 | 0.250 | 0.80 | 18 | 90.0× |" in lines
    assert "| lrp | 0.020 | 1 | 0.020 | 1.00 | fails (TypeError) | – |" in lines
    assert "| occlusion, Captum given our window and stride | 0.200 | 1 | 5.0× |" in lines


def test_budgets_show_the_budget_below_the_default(tmp_path):
    ladder = [
        {
            "budget": b,
            "rho_median": r,
            "rho_min": 0,
            "seconds_median": 0.05,
            "completeness_gap_median": 0.01,
        }
        for b, r in ((8, 0.98), (16, 0.99), (32, 1.0))
    ]
    run = {
        "data": "synthetic",
        "n_images": 8,
        "methods": [
            {
                "method": "integrated_gradients",
                "parameter": "n_steps",
                "default": 16,
                "reference": 256,
                "ladder": ladder,
            }
        ],
    }
    lines = _render(tmp_path, "budgets", run)
    assert lines[-3] == (
        "| integrated_gradients (`n_steps`) | 8: ρ 0.980 | **16**: ρ 0.990, completeness gap "
        "1.0% | 0.050 | 256 |"
    )


def test_rule_choice_labels_each_rule_and_marks_the_registry_default(tmp_path):
    variants = [
        {
            "method": "lrp",
            "params": {"rule": "epsilon", "epsilon": 1e-6},
            "pointing_game": 0.8,
            "relevance_mass": 0.4,
        },
        {
            "method": "lrp",
            "params": {"rule": "epsilon", "epsilon": 0.1},
            "pointing_game": 0.9,
            "relevance_mass": 0.5,
        },
        {
            "method": "lrp",
            "params": {"rule": "gamma", "epsilon": 1e-6},
            "pointing_game": 0.7,
            "relevance_mass": 0.3,
        },
        {
            "method": "guided_gradcam",
            "params": {"layer": "layer3"},
            "pointing_game": 1,
            "relevance_mass": 1,
        },
    ]
    run = {
        "data": "svhn",
        "n_images": 20,
        "variants": variants,
        "baselines": {"whole_image": {"pointing_game": 0.25, "relevance_mass": 0.25}},
    }
    lines = _render(tmp_path, "rule_choice", run)
    assert lines[0] == "| variant | pointing ↑, 20 real | mass in box ↑, 20 real |"
    assert lines[2:6] == [
        "| epsilon, ε = 1e-06 (≈ Input × Gradient) | 0.80 | 0.40 |",
        "| **epsilon, ε = 0.1** (default) | 0.90 | 0.50 |",
        "| gamma, γ = 0.25 | 0.70 | 0.30 |",
        "| whole-image baseline | 0.25 | 0.25 |",
    ]


def test_app_latency_and_load(tmp_path):
    latency = {
        "server_up_s": 0.7,
        "cold_start_s": 6.4,
        "threshold_changes": 20,
        "threshold_round_trip_median_ms": 119.4,
        "threshold_round_trip_max_ms": 225,
    }
    lines = _render(tmp_path, "app_latency", latency)
    assert "| cold start to the first interactive Explain page | 6.4 s |" in lines
    assert lines[4].endswith("| median 119 ms, max 225 ms |")
    load = {
        "sessions": 8,
        "seconds": 120,
        "reruns": 1926,
        "user_errors": 0,
        "harness_errors": 4,
        "median_ms": 272,
        "p95_ms": 1900,
        "memory_before_mb": 771,
        "memory_after_mb": 1155,
    }
    lines = _render(tmp_path, "app_load", load)
    assert "| errors shown to a user ↓ | 0 |" in lines
    assert "| memory (MB) | 771 → 1155 (+384) |" in lines


def test_model_scores_from_a_model_card(tmp_path):
    per = {str(d): {"balanced_accuracy": 0.9} for d in range(10)}
    card = {"metrics": {"test": {"balanced_accuracy": 0.993, "n_images": 2000, "per_digit": per}}}
    lines = _render(tmp_path, "model_scores", card)
    assert lines[2] == "| held-out synthetic | 2000 | **99.3%** |" + " 90.0% |" * 10
