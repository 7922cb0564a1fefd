"""The docs' tables are what their committed results files say (benchmarks/docs.py)."""

from __future__ import annotations

import copy
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
    assert {
        "localisation",
        "faithfulness",
        "layer_choice",
        "rule_choice",
        "model_scores",
        "real_cv_levers",
        "real_cv_heldout",
        "full_scale_train",
        "full_scale_extra",
        "loader_throughput",
        "rule_margins",
        "smoothing",
        "explainer_speed",
    } <= kinds
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
    assert header == "| method | IoU₁ (pixels) ↑ | deletion ↓ | new score ↓ |"
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
    assert header == "| method | IoU₁ (pixels) ↑ | deletion ↓ | new score |"


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


def test_explainer_speed_same_params_column_is_captum_over_ours(tmp_path):
    method = {"method": "saliency", "seconds": 0.04, "passes": 1, "floor_seconds": 0.04,
              "captum_seconds": 0.05, "same_params_seconds": 0.05}  # fmt: skip
    run = {"repeats": 3, "batched_forward_ms": 3.6, "lone_forward_ms": 17.8, "methods": [method]}
    lines = _render(tmp_path, "explainer_speed", run)
    assert "| saliency | 0.040 | 1 | 0.040 | 1.00 | 0.05 | 1.2× | 0.050 | 1.25× |" in lines


def test_explainer_speed_same_params_column_is_the_paired_ratio_with_its_interval(tmp_path):
    method = {"method": "saliency", "seconds": 0.04, "passes": 1, "floor_seconds": 0.04,
              "captum_seconds": 0.05, "same_params_seconds": 0.05,
              "same_params_ratio": {"median": 1.02, "ci95": [0.99, 1.05]}}  # fmt: skip
    run = {"repeats": 9, "min_seconds": 2.0, "batched_forward_ms": 3.6, "lone_forward_ms": 17.8,
           "methods": [method]}  # fmt: skip
    lines = _render(tmp_path, "explainer_speed", run)
    assert lines[0].startswith("Medians of at least 9 rounds, and of at least 2 s of each")
    assert "| saliency | 0.040 | 1 | 0.040 | 1.00 | 0.05 | 1.2× | 0.050 | 1.02× [0.99, 1.05] |" in (
        lines
    )


def test_paired_ratio_by_hand():
    from benchmarks.explainers import paired_ratio

    # every round the library took twice as long: 2, whatever the resample
    assert paired_ratio([0.2, 0.4, 0.6], [0.1, 0.2, 0.3]) == {"median": 2.0, "ci95": [2.0, 2.0]}
    # ratios 0.5, 1, 4: median 1; resampled medians range over the three values
    r = paired_ratio([0.05, 0.1, 0.4], [0.1, 0.1, 0.1])
    assert r["median"] == 1.0 and r["ci95"] == [0.5, 4.0]


def test_evaluate_throughput_ratios_and_projection(tmp_path):
    rows = [
        {"mode": "one at a time", "pairs": 30, "seconds": 60.0, "pairs_per_second": 0.5,
         "peak_rss_mb": 900.0},
        {"mode": "batched (16)", "photos": 12, "pairs": 30, "seconds": 15.0,
         "pairs_per_second": 2.0, "peak_rss_mb": 1500.0},
    ]  # fmt: skip
    run = {
        "photos": 16,
        "batch_size": 16,
        "groups": [{"group": "one-pass gradient", "faithfulness": "none", "rows": rows}],
        "test_split": {"photos": 13068, "pairs_per_photo": 2.0, "pairs_per_second": 2.0,
                       "hours": 3.63, "gpu_hours": None},
    }  # fmt: skip
    lines = _render(tmp_path, "evaluate_throughput", run)
    assert "| one-pass gradient | batched (16) | 12 | 30 | 15.0 | 2.00 | 4.0× | 1500 |" in lines
    assert "| one-pass gradient | one at a time | 16 | 30 | 60.0 | 0.50 | 1.0× | 900 |" in lines
    assert any("13,068 photos" in line and "**3.6 h**" in line and "not measured" in line
               for line in lines)  # fmt: skip
    per = {"batch_size": 16, "per_method": [
        {"method": "lime", "batched": False, "one_seconds": 1.0, "batched_seconds": 1.0,
         "speed_up": 1.0, "floor_seconds": 0.5, "over_floor": 2.0}]}  # fmt: skip
    lines = _render(tmp_path, "evaluate_per_method", per)
    assert "| lime | one at a time | 1.000 | 1.000 | 1.0× | 0.500 | 2.00 |" in lines


def test_shortcut_lab_states_the_drop_and_who_catches_it(tmp_path):
    accuracy = {"with_cue": 0.95, "cue_removed": 0.70, "drop": 0.25, "cue_pasted": 0.9,
                "cue_pasted_ci95": [0.85, 0.94], "false_positive_rate": 0.05,
                "n_images": 400}  # fmt: skip
    run = {
        "digit": 3,
        "accuracy": accuracy,
        "n_images": 16,
        "catch_rule": "rule",
        "methods": {
            "saliency": {
                "cue_mass": 0.2,
                "cue_mass_ci95": 0.05,
                "reference_cue_mass": 0.01,
                "cue_mass_gain": 0.19,
                "digit_mass": 0.3,
                "cue_pointing": 0.5,
                "catches": True,
            },
            "lime": {
                "cue_mass": 0.02,
                "reference_cue_mass": 0.02,
                "cue_mass_gain": 0.0,
                "digit_mass": 0.4,
                "cue_pointing": 0.0,
                "catches": False,
            },
        },  # fmt: skip
        "baselines": {"whole_image": {"cue_mass": 0.01, "digit_mass": 0.2, "cue_pointing": 0.0}},
    }
    lines = _render(tmp_path, "shortcut_lab", run)
    assert "**0.950 with the cue, 0.700 without it** (drop 0.250" in lines[0]
    assert "90.0% of the time (85.0%–94.0%) against 5.0%" in lines[0]
    assert "**1 of 2 methods catch the shortcut**: saliency." in lines[2]
    assert "| saliency | 0.200 ± 0.050 | 0.010 | 0.190 | 0.300 | 0.500 | – | **yes** |" in lines
    assert "| whole_image | 0.010 | – | – | 0.200 | 0.000 | – | – |" in lines


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


def _prepare(seconds: float, workers_cpu: float) -> dict:
    return {
        "images": 1000,
        "input_size": 64,
        "workers": 2,
        "open_and_prepare_seconds": seconds,
        "images_per_second": 1000 / seconds,
        "cold_time_to_first_batch_seconds": seconds + 0.5,
        "cache_bytes": 12_500_000,
        "cpu_seconds_children": workers_cpu,
        "peak_rss_mb": 600.0,
        "largest_child_peak_rss_mb": 400.0,
        "load_average_after": [12.0, 11.0, 10.0],
    }


FULL_SCALE = {
    "machine": {"cores": 2},
    "phases": {
        "parse": {
            "entries": 1000,
            "first_seconds": 150.0,
            "entries_per_second": 1000 / 150,
            "cached_seconds": 0.5,
            "extra_first_seconds_extrapolated": 900,
            "load_average_after": [14.0, 0, 0],
        },
        "prepare": _prepare(200.0, 50.0),
        "first_batch": {
            "warm_time_to_first_batch_seconds": 1.3,
            "load_average_after": [16.0, 0, 0],
        },
        "loader": {
            "batch_size": 128,
            "loader_alone_images_per_second": 4000.4,
            "loader_and_cpu_augment_images_per_second": 150.6,
            "load_average_after": [15.0, 0, 0],
        },
        "train": {
            "finished_epoch": False,
            "steps_done": 3,
            "steps_per_epoch": 8,
            "train_images_per_second": 4.96,
            "epoch_seconds": None,
            "epoch_seconds_extrapolated": 1234,
            "peak_rss_mb": 1500.0,
            "rss_anon_mb": 700.0,
            "load_average_after": [13.0, 0, 0],
        },
        "resume": {
            "first": {"command": "python -m svhn_xai train --indices 0:64", "exit_code": 0},
            "resumed": {"command": "python -m svhn_xai train --resume", "exit_code": 0},
            "resumed_line_seen": True,
            "epochs_in_history": [1, 2],
            "load_average_after": [14.5, 0, 0],
        },
        "extra": {
            "built": {"images": 20000},
            "open": {"images": 20000, "seconds": 2.0, "peak_rss_mb": 900.0, "rss_anon_mb": 600.0},
            "prepare": {
                "finished": False,
                "seconds": 50.0,
                "images_done": 5000,
                "images_per_second": 100.0,
                "full_seconds_extrapolated": 200,
                "sampled_peak_rss_main_mb": 800.0,
                "sampled_peak_rss_with_workers_mb": 8500.0,
            },
            "loader_epoch": {
                "images": 19968,
                "seconds": 3.3,
                "cache_bytes": 250_000_000,
                "after_pass": {"rss_anon_mb": 300.0, "rss_file_mb": 250.0},
            },
            "load_average_after": [10.0, 0, 0],
        },
    },
}


def test_full_scale_train_rows_and_target(tmp_path):
    lines = _render(tmp_path, "full_scale_train", FULL_SCALE)
    assert lines[0] == "1-minute load average on the 2 cores after each step: 12.0–16.0."
    assert lines[2] == "| `train` (1,000 photos) | measured | target |"
    assert "| parse `digitStruct.mat`, first run | 150 s (7 entries/s) |  |" in lines
    assert (
        "| open + crop and resize to 64×64, 2 processes | 200 s (5 images/s; the workers used "
        "50 CPU-s, 20 images per CPU-second) |  |"
    ) in lines
    assert "| parse + prepare, first run | **350 s** | 300 s: **not met** |" in lines
    assert (
        "| time to first batch: cold (prepare included) / warm (cache hit) | 200.5 s / 1.3 s |  |"
    ) in lines
    assert (
        "| one epoch of `train --data svhn --split train` on this CPU, ResNet-18 | stopped at 3 "
        "of 8 steps (5.0 images/s): ~1,234 s extrapolated |  |"
    ) in lines
    assert (
        "| `train` then `train --resume` (CLI, end to end) | on `--indices 0:64` of the "
        "full-size split: exit 0 then 0, resumed, epochs in the history 1, 2 |  |"
    ) in lines
    assert "| prepared cache on disk (memory-mapped) | 12 MB |  |" in lines
    assert not any("full size" in line for line in lines), "no full-size resume was run"


def test_full_scale_train_with_a_whole_epoch_and_its_resumption(tmp_path):
    run = copy.deepcopy(FULL_SCALE)
    phases = run["phases"]
    phases["parse"]["first_seconds"] = 60.0
    phases["train"].update(finished_epoch=True, epoch_seconds=512.1, test_balanced_accuracy=0.77)
    phases["resume"]["full_size"] = {
        "resumed_from_epochs": [1],
        "resumed_steps": 8,
        "seconds_to_first_resumed_step": 6.8,
        "first_losses": [0.58, 0.66, 0.6],
    }
    lines = _render(tmp_path, "full_scale_train", run)
    assert "| parse + prepare, first run | **260 s** | 300 s: **met** |" in lines
    assert (
        "| one epoch of `train --data svhn --split train` on this CPU, ResNet-18 | 512 s "
        "(5.0 images/s); balanced accuracy after it 0.770 |  |"
    ) in lines
    assert (
        "| peak memory of the training process (a whole full-size epoch) | 1,500 MB "
        in "\n".join(lines)
    )
    assert (
        "| `--resume` of that epoch's checkpoint, full size | resumed after epoch 1: first step "
        "of epoch 2 after 6.8 s, 8 steps timed, loss 0.58–0.66 |  |"
    ) in lines


def test_full_scale_extra_rows_and_memory_limit(tmp_path):
    lines = _render(tmp_path, "full_scale_extra", FULL_SCALE)
    assert lines[0] == "1-minute load average on the 2 cores after this step: 10.0."
    assert lines[2] == "| `extra` (20,000 entries) | measured | target |"
    assert lines[4:9] == [
        "| open the index (20,000 entries with their boxes) | 2 s; peak 900 MB "
        "(600 MB anonymous) |  |",
        "| prepare, all 20,000 | stopped after 50 s at 5,000 images (100 images/s): ~200 s "
        "extrapolated |  |",
        "| peak memory while preparing, sampled each second: main process / with its workers | "
        "800 MB / 8,500 MB (the forked workers share pages, so the sum over-counts) | "
        "< 8 GB: **not met** |",
        "| one epoch of batches (19,968 images) from a cache of the rows prepared before the "
        "stop, repeated (0.25 GB, memory-mapped) | 3.3 s; "
        "afterwards 300 MB anonymous + 250 MB of mapped cache pages (page cache, reclaimable) "
        "| < 8 GB: **met** |",
        "| `digitStruct.mat` parse, first run | not measured: ~900 s extrapolated from train's "
        "7 entries/s |  |",
    ]


def test_loader_throughput_one_column_per_run(tmp_path):
    rerun = {"phases": {"loader": {**FULL_SCALE["phases"]["loader"], "load_average_after": [9.5]}}}
    rerun["phases"]["loader"]["loader_alone_images_per_second"] = 6000.0
    lines = _render(tmp_path, "loader_throughput", FULL_SCALE, rerun)
    assert lines[:5] == [
        "| per second, batches of 128 | images/s ↑ at load 15.0 | images/s ↑ at load 9.5 |",
        "| --- | --- | --- |",
        "| loader alone: gather uint8 rows from the mapped cache (the GPU run's CPU work before "
        "the copy) | 4,000 | 6,000 |",
        "| loader + float conversion + augmentation on this CPU (the CPU run's work before the "
        "model) | 151 | 151 |",
        "| full training step on this CPU (ResNet-18), in a full-size epoch | 5.0 | – |",
    ]


def _rule_row(mode: str, value: float, sigma: float, margins: tuple[float, float]) -> dict:
    keys = ("real/iou_1/gradient", "synthetic/iou_2/perturbation")
    return {
        "rule": {"mode": mode, "value": value, "sigma": sigma},
        "margins": dict(zip(keys, margins)),
        "worst_margin": min(margins),
    }


def test_rule_margins_rank_rules_then_add_their_raw_versions_and_the_old_default(tmp_path):
    smoothed = [_rule_row("topk", 20.0, 3.0, (0.25, 0.125))]
    smoothed += [_rule_row("otsu", 0.0, float(s), (0.0625 - s / 64, 0.5)) for s in range(1, 9)]
    study = {
        "chosen": {"mode": "topk", "value": 20.0, "sigma": 3.0},
        "rows": [
            _rule_row("value", 0.5, 0.0, (-0.5, 0.0)),  # the old default, ranked last
            _rule_row("topk", 20.0, 0.0, (-0.25, 0.5)),
            _rule_row("value", 0.2, 0.0, (0.5, -0.375)),  # neither shown nor raw of a shown
            *smoothed,
        ],
        "data": {
            "real": {"n_pairs": 2, "scores": {"saliency": {"n": 2}, "lime": {"n": 1}}},
            "synthetic": {"n_pairs": 3, "scores": {"occlusion": {"n": 3}}},
        },
    }
    lines = _render(tmp_path, "rule_margins", study)
    assert "on 2 real pairs (methods in the means: gradient 1)" in lines[0]
    assert "3 synthetic pairs (methods in the means: perturbation 1)" in lines[0]
    assert lines[2] == "| rule | real IoU₁ (pixels) grad. | synth. IoU₂ (boxes) pert. | worst ↑ |"
    names = [ln.split(" | ")[0].lstrip("| ") for ln in lines[4:-2]]
    assert names == [
        "**top-k 20 %, σ 3 px** (chosen)",
        *(f"Otsu, σ {s} px" for s in range(1, 8)),  # the best 8, best first
        "top-k 20 %, raw",
        "value 0.5, raw (the old default)",
    ]
    assert lines[4] == "| **top-k 20 %, σ 3 px** (chosen) | +0.250 | +0.125 | **+0.125** |"
    assert "| value 0.5, raw (the old default) | -0.500 | +0.000 | -0.500 |" in lines


def test_smoothing_caption_states_pairs_rule_and_load(tmp_path):
    row = {"n": 17, "iou_1": 0.25, "iou_1_ci95": 0.125, "seconds": 2.0}
    run = {
        "data": "svhn-sample/train[192:256]",
        "limit": 8,
        "protocol": {"mode": "value", "value": 0.5},
        "machine": {"cores": 2, "load_average_1_5_15_min": [8.94, 11.4, 13.56]},
        "rows": {"saliency+none": row, "saliency+smoothgrad": {**row, "iou_1": 0.5}},
    }
    lines = _render(tmp_path, "smoothing", run)
    assert lines[0].startswith(
        "svhn-sample/train[192:256], first 8 photos: 17 (photo, digit) pairs; mask rule "
        "value 0.5, raw, **not** today's default ("
    )
    assert lines[0].endswith("recorded on the 2-core machine: 8.9 / 11.4 / 13.6.")
    assert "| saliency | 0.250 ± 0.125 | 2.000 |" in lines
    assert "| saliency + SmoothGrad | 0.500 ± 0.125 | 2.000 |" in lines


def test_explainer_speed_reads_the_older_plain_library_layout(tmp_path):
    rows = [
        {
            "method": "score_cam",
            "seconds": 2.0,
            "passes": 257,
            "floor_seconds": 2.5,
            "plain_library_seconds": 4.0,
            "plain_library_note": None,
            "plain_estimated": False,
        },
        {
            "method": "rise",
            "seconds": 1.0,
            "passes": 512,
            "floor_seconds": 1.0,
            "plain_library_seconds": None,
            "plain_library_note": "-",
            "plain_estimated": False,
        },
    ]
    run = {
        "repeats": 2,
        "batched_forward_ms_per_image": 43.0,
        "lone_forward_ms": 358.0,
        "machine": {"cores": 2},
        "rows": rows,
    }
    lines = _render(tmp_path, "explainer_speed", run)
    assert "batched forward 43.00 ms/image" in lines[0]
    assert lines[0].endswith("This file records no load average of its 2-core machine.")
    assert "| method | s | passes | floor s | / floor | plain library s | speed-up |" in lines
    assert "| score_cam | 2.000 | 257 | 2.500 | 0.80 | 4 | 2.0× |" in lines
    assert "| rise | 1.000 | 512 | 1.000 | 1.00 | - | – |" in lines


def test_a_leaderboard_of_one_pair_shows_no_interval(tmp_path):
    board = {
        "n_images": 1,
        "n_pairs": 1,
        "protocol": {"mode": "topk", "value": 20.0, "sigma": 3.0},
        "methods": {"lrp": {"iou_1": 0.5, "iou_1_ci95": float("nan"), "n_non_finite": 0}},
    }
    lines = _render(tmp_path, "leaderboard", board)
    assert lines[0] == "1 image, 1 (image, digit) pair, mask rule top-k 20 %, σ 3 px"
    assert "| lrp | 0.500 |" in lines


def _board(tmp_path: Path, board: dict) -> Path:
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "b.json").write_text(json.dumps(board))
    return tmp_path


def test_localisation_table_gives_baselines_every_column_and_says_who_beats_them(tmp_path):
    row = {"iou_2": 0.5, "n": 4, "auc_deletion_black": 0.2}
    board = {
        "n_pairs": 4,
        "directions": {"iou_1": "higher", "iou_2": "higher", "auc_deletion_black": "lower"},
        "methods": {"a": {**row, "iou_1": 0.6, "iou_2": 0.7}, "b": {**row, "iou_1": 0.3}},
        "baselines": {
            "whole_image": {**row, "iou_1": 0.4},
            "centre_gaussian": {**row, "iou_1": 0.45, "iou_2": 0.6},
        },
        "class_sensitivity": {
            "photos": 2,
            "methods": {"a": {"score": 0.75}, "b": {"score": None}},
            "baselines": {"whole_image": {"score": 0.5}, "centre_gaussian": {"score": 0.5}},
        },
    }
    table = docs.render("localisation results/b.json", _board(tmp_path, board))
    lines = table.splitlines()
    assert "| method | IoU₂ (boxes) ↑ | IoU₁ (pixels) ↑ | Class sensitivity ↑ |" in lines
    assert "| a | 0.700 | 0.600 | 0.750 |" in lines
    assert "| b | 0.500 | 0.300 | – |" in lines
    assert "| *baseline: centre_gaussian* | 0.600 | 0.450 | 0.500 |" in lines
    assert "deletion" not in table  # faithfulness has its own table
    assert (
        "IoU₁ (pixels): 1 of 2 methods beat the strongest baseline, centre_gaussian (0.450); "
        "not: b; best: a 0.600, b 0.300. "
        "(This file records no intervals over photos: point estimates.)"
    ) in lines


def test_beating_a_baseline_needs_the_whole_interval_above_its_mean(tmp_path):
    board = {
        "n_pairs": 4,
        "methods": {
            "a": {"n": 4, "pxap": 0.6, "pxap_ci": [0.42, 0.7]},  # straddles the bar
            "b": {"n": 4, "pxap": 0.55, "pxap_ci": [0.5, 0.6]},
        },
        "baselines": {
            "whole_image": {"pxap": 0.3, "pxap_ci": [0.25, 0.35]},
            "centre_gaussian": {"pxap": 0.45, "pxap_ci": [0.4, 0.5]},
        },
    }
    line = docs.render("headline results/b.json", _board(tmp_path, board)).splitlines()[0]
    assert (
        "PxAP: 1 of 2 methods beat the strongest baseline, centre_gaussian (0.450 [0.400, "
        "0.500]); not: a; best: a 0.600 [0.420, 0.700], b 0.550 [0.500, 0.600]. Beating means "
        "the whole 95 % interval lies above the baseline's mean."
    ) in line


def test_faithfulness_table_names_the_best_method_in_the_direction_of_each_column(tmp_path):
    board = {
        "directions": {"auc_deletion_black": "lower", "auc_insertion_blur": "higher"},
        "methods": {
            "a": {"auc_deletion_black": 0.2, "auc_insertion_blur": 0.5, "iou_1": 1.0},
            "b": {"auc_deletion_black": 0.3, "auc_insertion_blur": 0.9},
        },
        "baselines": {"whole_image": {"auc_deletion_black": 0.1, "auc_insertion_blur": 0.95}},
    }
    table = docs.render("faithfulness results/b.json", _board(tmp_path, board))
    assert "| method | Deletion, black ↓ | Insertion, blur ↑ |" in table
    assert "| *baseline: whole_image* | 0.100 | 0.950 |" in table
    assert "Best method per column: Deletion, black: a; Insertion, blur: b." in table
    line = docs.render("headline results/b.json", tmp_path).splitlines()[0]
    assert line.endswith(" Faithfulness winners: Deletion, black: a; Insertion, blur: b.")


def test_a_calibrated_leaderboard_says_so_in_its_caption(tmp_path):
    board = {
        "n_images": 2,
        "n_pairs": 3,
        "threshold_source": "calibrated",
        "protocol": {"mode": "topk", "value": 20.0, "sigma": 3.0},
        "methods": {"lrp": {"iou_1": 0.5, "n": 3}},
    }
    lines = _render(tmp_path, "leaderboard", board)
    assert lines[0] == (
        "2 images, 3 (image, digit) pairs, topk threshold calibrated per method and baseline, "
        "σ 3 px"
    )
