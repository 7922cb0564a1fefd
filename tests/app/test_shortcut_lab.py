"""AppTest of the Shortcut lab page: first run, then the second runs a user makes."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from svhn_xai.data.synthetic import Cue
from svhn_xai.evaluation.shortcut import cued_examples, head_probability
from tests.app.links import opened_at
from tests.models import random_model, write_checkpoint

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "pages" / "6_Shortcut_lab.py")


@pytest.fixture
def shortcut_folder(tmp_path, monkeypatch):
    import common

    model = random_model(seed=1)
    write_checkpoint(tmp_path / "shortcut-3.pt", model, provenance={"cue": Cue(3).to_dict()})
    write_checkpoint(tmp_path / "plain.pt", random_model(seed=2))  # no cue: not offered
    monkeypatch.setattr(common, "CHECKPOINTS", tmp_path)
    monkeypatch.setenv("SVHN_XAI_RESULTS", str(tmp_path))
    return model


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_page_renders_changes_method_and_removes_the_cue(shortcut_folder):
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="shortcut_checkpoint").options == ["shortcut-3.pt"]
    at.multiselect(key="shortcut_methods").set_value(["saliency"]).run()
    assert not at.exception
    at.multiselect(key="shortcut_methods").set_value(["input_x_gradient"]).run()
    assert not at.exception
    at.toggle(key="shortcut_remove").set_value(True).run()
    assert not at.exception
    at.number_input(key="shortcut_example").set_value(2).run()
    assert not at.exception
    # the probabilities shown are the library's, for the photo picked
    example = cued_examples(Cue(3), 2)[1]
    p = head_probability(shortcut_folder, [example.images["cue_removed"]], 3)[0]
    assert _metric(at, "P(3 present), cue removed") == f"{p:.3f}"
    table = at.dataframe[0].value
    assert {"shortcut", "default"} == set(table.index.get_level_values("model"))
    # no committed measurement for this random checkpoint: the page says how to make one
    assert any("shortcut --checkpoint" in i.value for i in at.info)


def test_page_without_a_shortcut_checkpoint_says_how_to_train_one(tmp_path, monkeypatch):
    import common

    monkeypatch.setattr(common, "CHECKPOINTS", tmp_path)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert any("--shortcut" in w.value for w in at.warning)


def test_the_shipped_model_shows_its_committed_table_and_survives_a_rerun():
    import json

    from svhn_xai.evaluation.shortcut import shipped_checkpoints

    (shipped,) = shipped_checkpoints()
    committed = json.loads((shipped.parents[1] / "results" / "shortcut_lab.json").read_text())
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]
    table = next(d.value for d in at.dataframe if "catches it" in d.value.columns)
    assert len(table) == len(committed["methods"]) + len(committed["baselines"])
    lrp = table.loc["LRP"]
    assert lrp["cue share"] == f"{committed['methods']['lrp']['cue_mass']:.3f}"
    peaks = next(d.value for d in at.dataframe if "peak on cue" in d.value.columns)
    assert peaks.loc["LRP", "peak on cue"] == f"{committed['methods']['lrp']['cue_pointing']:.3f}"
    # a baseline looks at no model: its "default" cells read "–", never Python's "None"
    baseline = next(i for i in peaks.index if i.startswith("Baseline"))
    assert peaks.loc[baseline, "peak on cue, default"] == "–"
    assert table.loc[baseline, "cue share, default"] == "–"
    for shown in (table, peaks):  # each fits the page: about 6 px a character, 16 px padding
        text = [[c, *(v if isinstance(v, str) else f"{v:.3f}" for v in shown[c])] for c in shown]
        widths = [max(map(len, column)) * 6 + 16 for column in text]
        assert sum(widths) + 170 <= 900, list(shown.columns)
    at.toggle(key="shortcut_remove").set_value(True).run()  # the second run a user makes
    assert not at.exception
    assert _metric(at, "P(3 present), cue removed") != _metric(at, "P(3 present), cue shown")


def test_the_lab_view_lives_in_the_url_and_a_new_session_shows_it(shortcut_folder):
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    at.multiselect(key="shortcut_methods").set_value(["saliency"]).run()
    at.toggle(key="shortcut_remove").set_value(True).run()
    at.number_input(key="shortcut_example").set_value(2).run()
    assert not at.exception, [e.value for e in at.exception]
    link = dict(at.query_params)
    assert link["methods"] == "saliency" and link["photo"] == "2" and link["removed"] == "true"
    again = opened_at(PAGE, link)
    assert again.multiselect(key="shortcut_methods").value == ["saliency"]
    assert again.toggle(key="shortcut_remove").value is True
    assert again.number_input(key="shortcut_example").value == 2
    label = "P(3 present), cue removed"
    assert _metric(again, label) == _metric(at, label)  # the same numbers
