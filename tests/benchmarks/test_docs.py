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


def test_the_docs_mark_tables_at_all():
    marked = [m for d in docs.documents() for m in docs.BLOCK.finditer(d.read_text())]
    assert len(marked) >= 8
    assert {m["spec"].split()[0] for m in marked} == set(docs.RENDERERS)  # no renderer unused


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
            "machine": {"cpu": "AMD EPYC", "cpu_features": ["avx2"], "cores": 2, "torch": "2.14.1"},
        },
    }
    (root / "results" / "board.json").write_text(json.dumps(board))
    last = docs.render("leaderboard results/board.json", root).splitlines()[-1]
    assert last == (
        "<sub>Source: `results/board.json`, commit `0123456`, AMD EPYC (avx2), 2 cores, "
        "torch 2.14.1.</sub>"
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
