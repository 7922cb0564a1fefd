"""AppTest of the All digits page: what it shows equals what svhn_xai computes, on every rerun."""

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.explain import explain
from svhn_xai.model.checkpoint import load_model
from svhn_xai.scoring.class_sensitivity import class_sensitivity, pair_outcomes
from svhn_xai.scoring.protocol import THRESHOLD_MODES
from tests.app.links import opened_at

APP = Path(__file__).resolve().parents[2] / "app"
PAGE = str(APP / "pages" / "5_All_digits.py")


@pytest.fixture(scope="module")
def multi_digit_case():
    """The first synthetic test photo with two or more different digits."""
    model, card = load_model()
    source = open_source("synthetic", "test")
    index = next(i for i in range(len(source)) if len(set(source[i].labels)) >= 2)
    item = to_model_input(source[index], model.input_size, card["config"].get("margin", 0.15)).item
    return model, index, item


def _score(model, item, method: str) -> float:
    maps = {d: explain(model, item.image, d, method).heatmap() for d in model.digits}
    boxes = {d: item.boxes_of(d) for d in model.digits}
    return class_sensitivity(pair_outcomes(maps, boxes))["score"]


def test_all_digits_renders_and_survives_reruns(multi_digit_case):
    model, index, item = multi_digit_case
    at = AppTest.from_file(PAGE, default_timeout=600).run()
    assert not at.exception, [e.value for e in at.exception]
    at.radio(key="source").set_value("synthetic").run()
    at.number_input(key="synthetic_index").set_value(index).run()
    at.selectbox(key="all_digits_method").set_value("saliency").run()
    assert not at.exception, [e.value for e in at.exception]
    shown = next(m.value for m in at.metric if m.label.startswith("Class sensitivity"))
    assert shown == f"{_score(model, item, 'saliency'):.2f}"
    captions = [c.value for c in at.caption]
    absent = [d for d in model.digits if d not in item.labels]
    assert sum("is not in this photo" in c for c in captions) == len(absent)
    # the second run: another threshold mode and value, the same maps from the cache
    other = next(m for m in THRESHOLD_MODES.values() if m.param is not None)
    at.radio(key="all_digits_mode").set_value(other.key).run()
    at.slider(key=f"all_digits_{other.key}").set_value(other.high).run()
    assert not at.exception, [e.value for e in at.exception]
    at.selectbox(key="all_digits_method").set_value("grad_cam").run()
    assert not at.exception, [e.value for e in at.exception]
    assert len(at.button) >= len(model.digits)


def test_a_cell_opens_its_digit_on_explain(multi_digit_case):
    """From the app's entry page (switch_page resolves pages against it), as a user gets there."""
    model, index, item = multi_digit_case
    at = AppTest.from_file(str(APP / "Home.py"), default_timeout=600).run()
    at.switch_page("pages/5_All_digits.py").run()
    at.selectbox(key="all_digits_method").set_value("saliency").run()
    at.radio(key="all_digits_mode").set_value("topk").run()
    at.slider(key="all_digits_topk").set_value(9.0).run()
    target = int(np.max(item.labels))
    at.button(key=f"all_digits_open_{target}").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["digit"] == target
    assert at.selectbox(key="sidebar_digit").value == target
    assert not any(t.value == "All digits" for t in at.title), "still on All digits"
    # Explain shows the cell's numbers: same method, same mask rule
    assert at.selectbox(key="method").value == "saliency"
    assert at.radio(key="threshold_mode").value == "topk"
    assert at.slider(key="threshold_topk").value == 9.0


def _saliency_top_9(index: int) -> AppTest:
    """The page on synthetic test photo ``index`` with Saliency, masks of the top 9 %."""
    at = AppTest.from_file(PAGE, default_timeout=600).run()
    at.radio(key="source").set_value("synthetic").run()
    at.number_input(key="synthetic_index").set_value(index).run()
    at.selectbox(key="all_digits_method").set_value("saliency").run()
    at.radio(key="all_digits_mode").set_value("topk").run()
    at.slider(key="all_digits_topk").set_value(9.0).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_all_digits_is_shareable_a_new_session_at_its_url_shows_the_same_view(multi_digit_case):
    model, index, item = multi_digit_case
    at = _saliency_top_9(index)
    link = dict(at.query_params)
    assert link["method"] == "saliency" and link["index"] == str(index)
    again = opened_at(PAGE, link, timeout=600)
    assert again.selectbox(key="all_digits_method").value == "saliency"
    assert again.slider(key="all_digits_topk").value == 9.0
    shown = [m.value for m in again.metric]
    assert shown == [m.value for m in at.metric]  # the same numbers


def test_the_reproduce_line_prints_the_scores_the_page_shows(multi_digit_case, capsys):
    import json
    import shlex

    from svhn_xai.cli import run as cli

    model, index, item = multi_digit_case
    at = _saliency_top_9(index)
    line = next(c.value for c in at.code if "--digit all" in c.value)
    capsys.readouterr()
    assert cli(shlex.split(line)[3:]) == 0
    printed = json.loads(capsys.readouterr().out)
    table = at.dataframe[0].value
    assert len(table) == len(set(item.labels))
    for digit, row in table.iterrows():
        assert row["IoU₁ ↑"] == pytest.approx(printed["digits"][str(digit)]["iou_1"])
    shown = next(m.value for m in at.metric if m.label.startswith("Class sensitivity"))
    assert shown == f"{printed['class_sensitivity']['score']:.2f}"
