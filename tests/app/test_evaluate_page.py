"""AppTest of the Evaluate page: saved and computed leaderboards, and what the next click keeps."""

import json
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.evaluation.run import EvaluationOptions, run_evaluation
from svhn_xai.model.checkpoint import load_model
from svhn_xai.provenance import file_sha256
from svhn_xai.scoring.calibration import load_calibration
from svhn_xai.scoring.localisation import resolve_protocol
from svhn_xai.scoring.protocol import DEFAULT_PROTOCOL, THRESHOLD_MODES
from tests.app.links import opened_at

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "pages" / "4_Evaluate.py")
IOU_1 = "IoU₁ ↑"


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _library(n: int, mode: str | None, value: float | None, faithfulness: str = "basic") -> dict:
    """The library's leaderboard of the page's first ``n`` synthetic images; ``mode`` None: the
    default reading, each method at its calibrated threshold where the checkpoint has a file;
    ``faithfulness="none"`` where only the localisation scores are compared (the curves do not
    move them)."""
    model, card = load_model()
    source = open_source("synthetic", "test")
    items = [to_model_input(source[i], model.input_size).item for i in range(n)]
    calibration, _ = load_calibration(card["path"], file_sha256(card["path"]))
    if mode is None and calibration is not None:
        options = EvaluationOptions(
            ["saliency"],
            protocol=calibration.protocol,
            calibrated=calibration.values,
            faithfulness=faithfulness,
        )
        return run_evaluation(model, items, options)
    protocol = resolve_protocol(mode, value)
    options = EvaluationOptions(["saliency"], protocol=protocol, faithfulness=faithfulness)
    return run_evaluation(model, items, options)


def _calibrated() -> bool:
    card = load_model()[1]
    return load_calibration(card["path"], file_sha256(card["path"]))[0] is not None


def _shown_text(at: AppTest) -> str:
    parts = [*at.caption, *at.markdown, *at.info, *at.subheader, *at.title]
    return "\n".join(p.value for p in parts)


def _compute_page(limit: int) -> AppTest:
    at = _run(AppTest.from_file(PAGE, default_timeout=300))
    at.radio(key="eval_source").set_value("Compute now")
    _run(at)
    at.multiselect(key="eval_methods").set_value(["saliency"])
    at.slider(key="eval_limit:Synthetic test images").set_value(limit)
    return _run(at)


def test_a_saved_leaderboard_reads_in_plain_words_without_server_paths(tmp_path, monkeypatch):
    summary = _library(2, DEFAULT_PROTOCOL.mode, DEFAULT_PROTOCOL.value)
    secret = tmp_path / "somewhere" / "on" / "the" / "server"
    summary.update(data="synthetic", split="test", checkpoint=str(secret / "mine.pt"))
    del summary["baselines"]["whole_image"]["pointing_game"]  # a gap in the table
    (tmp_path / "run.json").write_text(json.dumps(summary))
    (tmp_path / "a_timings.json").write_text(json.dumps({"rows": []}))  # another kind of result
    (tmp_path / "broken.json").write_text("{")
    lab = {"digit": 3, "methods": {}, "baselines": {}, "n_images": 16}  # the shortcut lab's
    (tmp_path / "shortcut_lab.json").write_text(json.dumps(lab))
    monkeypatch.setenv("SVHN_XAI_RESULTS", str(tmp_path))
    at = _run(AppTest.from_file(PAGE, default_timeout=300))
    assert at.selectbox(key="eval_file").options == ["run.json"]  # benchmark files are not runs
    at.selectbox(key="eval_file").set_value("run.json")
    _run(at)
    table = _board(at)
    assert list(table.index) == [
        "Saliency",
        "Baseline: whole image",
        "Baseline: centre gaussian",
        "Baseline: uniform random",
    ]
    assert table.loc["Saliency", IOU_1] == pytest.approx(summary["methods"]["saliency"]["iou_1"])
    assert not any("_" in c for c in table.columns)  # no raw keys such as iou_1
    saliency = summary["methods"]["saliency"]
    shown = table.loc["Saliency"]
    assert shown["Deletion, blur ↓"] == pytest.approx(saliency["auc_deletion_blur"])
    assert shown["Insertion, black ↑"] == pytest.approx(saliency["auc_insertion_black"])
    sensitivity = summary["class_sensitivity"]
    assert shown["Class sensitivity ↑"] == pytest.approx(
        sensitivity["methods"]["saliency"]["score"]
    )
    assert table.loc["Baseline: centre gaussian", "Class sensitivity ↑"] == 0.5
    pointing = summary["methods"]["saliency"]["pointing_game"]
    assert table.loc["Saliency", "Pointing game ↑"] == f"{pointing:.2f}"  # its registry format
    assert table.loc["Baseline: whole image", "Pointing game ↑"] == "–"  # never "None"
    helps = {c["label"]: c.get("help", "") for c in _column_config(at).values()}
    for column in table.columns:
        assert column.startswith("±") or "better" in helps[column], column
    shown = _shown_text(at)
    assert "mine.pt" in shown and str(tmp_path) not in shown
    # every table fits the page at 1280 px with the sidebar open (about 800 px): a column is
    # about 6 px a character of its title or widest value plus 16 px of padding, beside the
    # ~170 px name column; the one table of fifteen scores cut its titles, one of eight its last
    for d in at.dataframe:
        widths = [max(len(_as_shown(v)) for v in [c, *d.value[c]]) for c in d.value.columns]
        assert sum(6 * w + 16 for w in widths) + 170 <= 800, list(d.value.columns)


def _as_shown(value: object) -> str:
    return value if isinstance(value, str) else f"{value:.3f}"


def _board_tables(at: AppTest) -> list:
    """The leaderboard's tables: every table on the page but the intervals in their expander,
    which come after them (AppTest does not expose a table's key)."""
    folded = sum(len(e.dataframe) for e in at.expander)
    return list(at.dataframe)[: len(at.dataframe) - folded]


def _board(at: AppTest) -> pd.DataFrame:
    """The leaderboard's tables side by side: one row per method and baseline."""
    return pd.concat([d.value for d in _board_tables(at)], axis=1)


def _column_config(at: AppTest) -> dict:
    configs = {}
    for d in _board_tables(at):
        configs.update(json.loads(d.proto.columns))
    return configs


def test_threshold_controls_come_from_the_protocol():
    at = _compute_page(2)
    radio = at.radio(key="eval_threshold_mode")
    first = ["Calibrated per method"] if _calibrated() else []
    assert list(radio.options) == first + [m.label for m in THRESHOLD_MODES.values()]
    assert radio.value == ("calibrated" if first else DEFAULT_PROTOCOL.mode)
    for key, mode in THRESHOLD_MODES.items():
        at.radio(key="eval_threshold_mode").set_value(key)
        _run(at)
        sliders = [s for s in at.slider if s.key.startswith("eval_threshold_")]
        assert [s.label for s in sliders] == ([mode.param] if mode.param else [])
        if mode.param:
            assert (sliders[0].min, sliders[0].max) == (mode.low, mode.high)


@pytest.mark.slow
def test_a_computed_result_survives_the_next_click_and_is_cached_per_setting():
    at = _compute_page(2)
    at.button(key="eval_run").click()
    first = _board(_run(at))
    expected = _library(2, None, None, "none")  # the page's default reading
    assert first.loc["Saliency", IOU_1] == pytest.approx(expected["methods"]["saliency"]["iou_1"])
    # the next click changes a setting: the last result stays, marked as such
    default = at.radio(key="eval_threshold_mode").value
    other = next(k for k, m in THRESHOLD_MODES.items() if k != DEFAULT_PROTOCOL.mode and m.param)
    at.radio(key="eval_threshold_mode").set_value(other)
    _run(at)
    assert _board(at).equals(first)
    assert any("settings changed" in i.value for i in at.info)
    at.button(key="eval_run").click()
    topk = _board(_run(at))
    expected = _library(2, other, THRESHOLD_MODES[other].default, "none")
    assert topk.loc["Saliency", IOU_1] == pytest.approx(expected["methods"]["saliency"]["iou_1"])
    assert not at.info
    # back to the first setting: served from the cache, no click needed
    at.radio(key="eval_threshold_mode").set_value(default)
    _run(at)
    assert _board(at).equals(first) and not at.info
    # a chart filter is a click too
    at.multiselect(key="eval_chart_methods").set_value([])
    assert _board(_run(at)).equals(first)


def test_evaluate_is_shareable_a_new_session_at_its_url_shows_the_same_settings():
    at = _compute_page(3)
    at.radio(key="eval_threshold_mode").set_value("topk")
    _run(at)
    at.slider(key="eval_threshold_topk").set_value(15.0)
    at.number_input(key="eval_sanity").set_value(2)
    _run(at)
    link = dict(at.query_params)
    assert link["results"] == "compute" and link["n"] == "3" and link["methods"] == "saliency"
    again = opened_at(PAGE, link)
    assert again.radio(key="eval_source").value == "Compute now"
    assert again.multiselect(key="eval_methods").value == ["saliency"]
    assert again.slider(key="eval_limit:Synthetic test images").value == 3
    assert again.radio(key="eval_threshold_mode").value == "topk"
    assert again.slider(key="eval_threshold_topk").value == 15.0
    assert again.number_input(key="eval_sanity").value == 2


@pytest.mark.parametrize("mode", [None, "topk"])
def test_the_reproduce_line_prints_the_leaderboard_the_page_shows(tmp_path, monkeypatch, mode):
    import shlex

    from svhn_xai.cli import run as cli

    at = _compute_page(2)
    if mode is not None:
        at.radio(key="eval_threshold_mode").set_value(mode)
        _run(at)
        at.slider(key=f"eval_threshold_{mode}").set_value(15.0)
        _run(at)
    at.button(key="eval_run").click()
    shown = _board(_run(at))
    line = next(c.value for c in at.code if "svhn_xai evaluate" in c.value)
    args = shlex.split(line)[3:]
    assert args[-2:] == ["--json", "leaderboard.json"] and "/" not in " ".join(args)
    monkeypatch.chdir(tmp_path)
    assert cli(args) == 0
    printed = json.loads((tmp_path / "leaderboard.json").read_text())
    rows = {"Saliency": printed["methods"]["saliency"]}
    rows["Baseline: centre gaussian"] = printed["baselines"]["centre_gaussian"]
    for name, row in rows.items():
        assert shown.loc[name, IOU_1] == pytest.approx(row["iou_1"]), name
