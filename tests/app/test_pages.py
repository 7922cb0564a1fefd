"""AppTest on every page: what the page shows must equal what svhn_xai computes."""

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from common import SCORE_COLUMNS
from PIL import Image
from streamlit.testing.v1 import AppTest

from svhn_xai.data.sources import open_source
from svhn_xai.data.target import marked_photo_input, to_model_input
from svhn_xai.explain import count_hooks, explain
from svhn_xai.model.checkpoint import DEFAULT_CHECKPOINT, load_model
from svhn_xai.provenance import file_sha256
from svhn_xai.scoring.calibration import load_calibration
from svhn_xai.scoring.localisation import PER_PHOTO_TIE, localise
from svhn_xai.scoring.metrics import BASELINES, DRAWN_BASELINES
from svhn_xai.scoring.protocol import DEFAULT_PROTOCOL
from svhn_xai.scoring.registry import METRICS
from tests.app.links import opened_at
from tests.models import random_model, write_checkpoint

APP = Path(__file__).resolve().parents[2] / "app"
HOME = str(APP / "Home.py")


def _app(page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(APP / page) if page else HOME, default_timeout=300).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


@pytest.fixture(scope="module")
def synthetic_case():
    model, card = load_model()
    item = to_model_input(open_source("synthetic", "test")[0], model.input_size).item
    return model, item, item.labels[0]


def test_home_shows_the_model_card():
    at = _app()
    _, card = load_model()
    shown = _metric(at, "Bal. acc., synthetic test")
    assert shown == f"{card['metrics']['test']['balanced_accuracy']:.1%}"
    # the shipped model learnt photos 1-192: its score on real photos says they are others
    real = _metric(at, "Bal. acc., photos 193–256, held out")
    assert real == f"{card['metrics']['real']['balanced_accuracy']:.1%}"


def test_the_first_result_is_scored_without_any_choice():
    """The default image shows the default digit, so the first page already has an IoU."""
    at = _app("pages/1_Explain.py")
    assert not at.exception
    assert _metric(at, "IoU₁ (pixels)") and _metric(at, "IoU₂ (boxes)")


def _synthetic(at: AppTest, index: int = 0) -> None:
    at.radio(key="source").set_value("synthetic").run()
    at.number_input(key="synthetic_index").set_value(index).run()


def _arrows_are(at: AppTest, versus: dict) -> list[str]:
    """Each first-screen arrow is the library's ``versus``: its difference, grey with no arrow
    for a tie, else pointing its way; returns the scores that tie."""
    tiles = {m.label: m.proto for m in at.metric}
    keys = [key for key in versus if METRICS[key].label in tiles]
    assert len(keys) >= 4, keys  # the first screen's scores
    for key in keys:
        m, tile = METRICS[key], tiles[METRICS[key].label]
        assert tile.delta.startswith(f"{versus[key]['difference']:+.{m.digits}f} vs "), key
        if abs(versus[key]["difference"]) < PER_PHOTO_TIE:
            assert tile.direction == tile.MetricDirection.NONE, key
        elif "capped" not in versus[key] and key != "pointing_game":  # grey for other reasons
            way = "UP" if versus[key]["difference"] > 0 else "DOWN"
            assert tile.direction == tile.MetricDirection.Value(way), key
    assert not DRAWN_BASELINES & {v["baseline"] for v in versus.values()}
    return [key for key in keys if abs(versus[key]["difference"]) < PER_PHOTO_TIE]


def test_explain_shows_the_library_scores_and_arrows_and_moves_with_the_threshold(
    synthetic_case,
):
    """The scores are the library's, and so is each arrow: the difference from the strongest
    baseline that draws nothing at random. The baselines caption names, from the library, the
    baselines the arrows weigh and those they leave out, so that it cannot go stale."""
    model, item, digit = synthetic_case
    at = _app("pages/1_Explain.py")
    _synthetic(at)
    at.radio(key="threshold_mode").set_value("value").run()
    at.selectbox(key="sidebar_digit").set_value(digit).run()
    at.selectbox(key="method").set_value("saliency").run()
    e = explain(model, item.image, digit, "saliency")
    seconds = None
    for t in (0.3, 0.6):
        at.slider(key="threshold_value").set_value(t).run()
        assert not at.exception
        expected = localise(e, item.boxes_of(digit), "value", t)
        assert _metric(at, "IoU₁ (pixels)") == f"{expected['iou_1']:.3f}"
        assert _metric(at, "IoU₂ (boxes)") == f"{expected['iou_2']:.3f}"
        assert _metric(at, "Pointing game") == f"{expected['pointing_game']:.2f}"
        # the attribution comes from the cache: the same compute time both times
        seconds = seconds or _metric(at, "Compute time")
        assert _metric(at, "Compute time") == seconds
        _arrows_are(at, expected["versus"])
    caption = next(c.value for c in at.caption if c.value.startswith("Baselines know nothing"))
    weighed, rest = caption.split(" maps on each score")
    for name in BASELINES:
        words = name.replace("_", " ")
        assert (words in weighed) == (name not in DRAWN_BASELINES), name
        assert (words in rest) == (name in DRAWN_BASELINES), name
    # Grad-CAM on this photo ties the centre map on a score or two: grey, and no arrow
    at.selectbox(key="method").set_value("grad_cam").run()
    cam = localise(explain(model, item.image, digit, "grad_cam"), item.boxes_of(digit), "value",
                   0.6)  # fmt: skip
    assert _arrows_are(at, cam["versus"]), "no tie to show"
    assert count_hooks(model) == 0


def test_every_threshold_mode_matches_the_library(synthetic_case):
    model, item, digit = synthetic_case
    at = _app("pages/1_Explain.py")
    _synthetic(at)
    at.selectbox(key="sidebar_digit").set_value(digit).run()
    at.selectbox(key="method").set_value("input_x_gradient").run()
    e = explain(model, item.image, digit, "input_x_gradient")
    at.radio(key="threshold_mode").set_value("topk").run()
    at.slider(key="threshold_topk").set_value(20.0).run()
    expected = localise(e, item.boxes_of(digit), "topk", 20.0)
    assert _metric(at, "IoU₁ (pixels)") == f"{expected['iou_1']:.3f}"
    at.radio(key="threshold_mode").set_value("otsu").run()
    expected = localise(e, item.boxes_of(digit), "otsu", 0.0)
    assert _metric(at, "IoU₂ (boxes)") == f"{expected['iou_2']:.3f}"
    at.radio(key="threshold_mode").set_value("truth_area").run()  # needs the box's area
    assert not at.exception, [x.value for x in at.exception]
    expected = localise(e, item.boxes_of(digit), "truth_area", 0.0)
    assert _metric(at, "IoU₁ (pixels)") == f"{expected['iou_1']:.3f}"
    at.selectbox(key="method").set_value("saliency").run()  # and on the next rerun
    assert not at.exception, [x.value for x in at.exception]
    absent = next(d for d in range(10) if d not in item.labels)  # no box to size the mask by
    at.selectbox(key="sidebar_digit").set_value(absent).run()
    assert not at.exception, [x.value for x in at.exception]
    notes = [i.value for i in at.info]
    assert any("needs the digit's box" in n for n in notes), notes
    assert not any("loosen the threshold" in n for n in notes), notes


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, payload, message",
    [
        ("empty.png", b"", "empty"),
        ("notes.png", b"this is text, not a picture", "not an image"),
        ("cut.png", _png(np.zeros((40, 40, 3), np.uint8))[:50], "corrupt or truncated"),
    ],
)
def test_bad_uploads_show_a_message_not_a_traceback(name, payload, message):
    at = _app("pages/1_Explain.py")
    at.radio(key="source").set_value("upload").run()
    at.file_uploader(key="upload_0").set_value((name, payload, "image/png")).run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]


def test_upload_is_scored_only_once_a_box_is_marked_and_then_as_the_library_says():
    model, _ = load_model()
    photo = np.full((40, 80, 3), 230, np.uint8)
    photo[10:30, 30:45] = 20  # a dark stroke where the "1" box is
    photo[10:30, 50:62] = 20  # and a "7" beside it
    at = _app("pages/1_Explain.py")
    at.radio(key="source").set_value("upload").run()
    at.file_uploader(key="upload_0").set_value(("p.png", _png(photo), "image/png")).run()
    at.selectbox(key="sidebar_digit").set_value(1).run()
    at.selectbox(key="method").set_value("saliency").run()
    assert not at.exception
    assert _metric(at, "P(1 present)")
    assert not any(m.label.startswith("IoU") for m in at.metric)  # nothing marked: no score
    assert any("Nothing is scored" in i.value for i in at.info)
    rows = [
        {"x0": 28.0, "y0": 8.0, "x1": 47.0, "y1": 32.0, "digit": 1},
        {"x0": 48.0, "y0": 8.0, "x1": 64.0, "y1": 32.0, "digit": 7},
    ]  # as typed into the box table (the table's own edits cannot be driven from AppTest)
    at.session_state["upload_boxes"] = rows
    at.session_state["upload_version"] = 1
    at.run()
    assert not at.exception
    # cropped to both digits grown 15 % per side, the 1's box scored
    model_input = marked_photo_input(
        photo, [[28, 8, 47, 32], [48, 8, 64, 32]], (1, 7), model.input_size
    )
    e = explain(model, model_input.item.image, 1, "saliency")
    # the page's default reading: the checkpoint's calibration where it has one
    calibration, _ = load_calibration(DEFAULT_CHECKPOINT, file_sha256(DEFAULT_CHECKPOINT))
    expected = localise(e, model_input.item.boxes_of(1), DEFAULT_PROTOCOL, calibration=calibration)
    assert _metric(at, "IoU₁ (pixels)") == f"{expected['iou_1']:.3f}"
    assert _metric(at, "P(1 present)") == f"{e.probability:.3f}"
    assert any("Marked: digit 1" in c.value for c in at.caption)
    assert "--box 28,8,47,32:1 --box 48,8,64,32:7" in at.code[0].value


def test_an_upload_and_its_boxes_survive_a_source_switch_a_page_change_and_a_method_change():
    photo = np.full((40, 80, 3), 230, np.uint8)
    photo[10:30, 30:45] = 20
    at = _app()  # from the entry page, so that switch_page finds the pages, as a user does
    at.switch_page("pages/1_Explain.py").run()
    at.radio(key="source").set_value("upload").run()
    at.file_uploader(key="upload_0").set_value(("house.png", _png(photo), "image/png")).run()
    at.selectbox(key="sidebar_digit").set_value(1).run()
    at.session_state["upload_boxes"] = [{"x0": 28.0, "y0": 8.0, "x1": 47.0, "y1": 32.0, "digit": 1}]
    at.session_state["upload_version"] = 1
    at.run()
    before = _metric(at, "IoU₁ (pixels)")
    assert before
    at.radio(key="source").set_value("svhn").run()  # away: the uploader is not drawn
    at.switch_page("pages/2_Compare.py").run()  # another page
    at.switch_page("pages/1_Explain.py").run()
    at.radio(key="source").set_value("upload").run()  # and back
    assert not at.exception, [e.value for e in at.exception]
    assert any("house.png" in c.value and "uploaded earlier" in c.value for c in at.caption)
    assert _metric(at, "IoU₁ (pixels)") == before  # the same photo and box
    at.selectbox(key="method").set_value("saliency").run()  # a method change keeps them too
    assert any("Marked: digit 1" in c.value for c in at.caption)
    at.button(key="upload_clear").click().run()  # forgotten only on purpose
    assert not any(m.label.startswith("IoU") for m in at.metric)
    assert any("Upload a photo" in i.value for i in at.info)


def test_a_link_to_an_upload_reopens_its_photo_and_both_boxes_in_a_new_session():
    photo = np.full((40, 80, 3), 230, np.uint8)
    photo[10:30, 30:45] = 20
    photo[10:30, 50:62] = 20
    at = _app("pages/1_Explain.py")
    at.radio(key="source").set_value("upload").run()
    at.file_uploader(key="upload_0").set_value(("house.png", _png(photo), "image/png")).run()
    at.selectbox(key="sidebar_digit").set_value(7).run()
    at.session_state["upload_boxes"] = [
        {"digit": 1, "x0": 28.0, "y0": 8.0, "x1": 47.0, "y1": 32.0},
        {"digit": 7, "x0": 48.0, "y0": 8.0, "x1": 64.0, "y1": 32.0},
    ]
    at.session_state["upload_version"] = 1
    at.run()
    link = dict(at.query_params)
    assert link["boxes"] == "28,8,47,32:1;48,8,64,32:7", link
    assert "/" not in link["upload"] and link["name"] == "house.png"  # a reference, no path

    again = opened_at(str(APP / "pages/1_Explain.py"), link)  # a new browser at the address
    marked = [c.value for c in again.caption if c.value.startswith("Marked:")]
    assert marked == [next(c.value for c in at.caption if c.value.startswith("Marked:"))]
    assert _metric(again, "IoU₁ (pixels)") == _metric(at, "IoU₁ (pixels)")
    assert dict(again.query_params) == link
    assert any("**house.png**" in c.value for c in again.caption)  # named as it was uploaded
    again.button(key="upload_clear").click().run()  # forgotten on purpose: by the address too
    assert not {"upload", "boxes", "name"} & set(again.query_params)

    broken = opened_at(  # one box cut short
        str(APP / "pages/1_Explain.py"), {**link, "boxes": "28,8,47:1;48,8,64,32:7"}
    )
    assert not any(c.value.startswith("Marked:") for c in broken.caption)  # none, not one


def test_photo_smaller_than_the_model_input_is_warned_about():
    at = _app("pages/1_Explain.py")
    at.radio(key="source").set_value("upload").run()
    at.file_uploader(key="upload_0").set_value(
        ("s.png", _png(np.zeros((20, 30, 3), np.uint8)), "image/png")
    ).run()
    assert any("width (30 px) and height (20 px) are below" in w.value for w in at.warning)
    at.file_uploader(key="upload_0").set_value(
        ("wide.png", _png(np.zeros((42, 105, 3), np.uint8)), "image/png")
    ).run()
    assert [w.value for w in at.warning if "below the model" in w.value] == [
        "The photo's height (42 px) is below the model's 64 px input: it is enlarged, and the "
        "model sees a blurred version."
    ]


def test_compare_page_table_has_methods_and_baselines(synthetic_case):
    _, _, digit = synthetic_case
    at = _app("pages/2_Compare.py")
    _synthetic(at)
    at.selectbox(key="sidebar_digit").set_value(digit).run()
    at.multiselect(key="compare_methods").set_value(["saliency", "lrp"]).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table.index) == [
        "Saliency",
        "LRP",
        "Baseline: whole image",
        "Baseline: centre gaussian",
        "Baseline: uniform random",
    ]
    titles = [METRICS[k].column for k in SCORE_COLUMNS]
    assert list(table.columns) == [*titles, "Seconds ↓"]


def test_compares_reproduce_lines_print_its_rows(synthetic_case, capsys):
    import shlex

    from svhn_xai.cli import run as cli

    _, _, digit = synthetic_case
    at = _app("pages/2_Compare.py")
    _synthetic(at)
    at.selectbox(key="sidebar_digit").set_value(digit).run()
    at.multiselect(key="compare_methods").set_value(["saliency", "lrp"]).run()
    table = at.dataframe[0].value
    lines = next(c.value for c in at.code if "svhn_xai explain" in c.value).splitlines()
    assert len(lines) == 2
    iou = METRICS["iou_1"].column
    for line, name in zip(lines, ["Saliency", "LRP"]):
        capsys.readouterr()
        assert cli(shlex.split(line)[3:]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert float(table.loc[name, iou]) == pytest.approx(printed["iou_1"], abs=5e-4)
        centre = printed["baselines"]["centre_gaussian"]["iou_1"]
        assert float(table.loc["Baseline: centre gaussian", iou]) == pytest.approx(centre, abs=5e-4)


def test_no_checkpoint_leads_to_the_train_page(tmp_path, monkeypatch):
    monkeypatch.setenv("SVHN_XAI_CHECKPOINTS", str(tmp_path))
    import common

    monkeypatch.setattr(common, "CHECKPOINTS", tmp_path)
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    assert any("train one first" in w.value for w in at.warning)


def test_broken_checkpoint_falls_back_to_the_default(tmp_path, monkeypatch):
    import common

    (tmp_path / "broken.pt").write_bytes(b"\x00" * 100)
    monkeypatch.setattr(common, "CHECKPOINTS", tmp_path)
    at = AppTest.from_file(HOME, default_timeout=60).run()
    assert not at.exception
    assert any("broken.pt" in e.value for e in at.sidebar.error)
    assert _metric(at, "Epochs")  # the default model's card is shown


def test_a_model_near_chance_is_said_to_explain_guesses_on_the_explain_page(tmp_path, monkeypatch):
    import common

    for name, score in (("guessing.pt", 0.52), ("reading.pt", 0.9)):
        card = {"test": {"balanced_accuracy": score}}
        write_checkpoint(tmp_path / name, random_model(0), metrics=card)
    monkeypatch.setattr(common, "CHECKPOINTS", tmp_path)
    at = _app("pages/1_Explain.py")
    at.selectbox(key="sidebar_checkpoint").set_value("guessing.pt").run()
    assert not at.exception
    assert [w for w in at.sidebar.warning if "close to chance" in w.value and "52.0%" in w.value]
    at.selectbox(key="sidebar_checkpoint").set_value("reading.pt").run()
    assert not [w for w in at.sidebar.warning if "close to chance" in w.value]


def test_absent_digit_offers_the_digits_present(synthetic_case):
    _, item, _ = synthetic_case
    absent = next(d for d in range(10) if d not in item.labels)
    at = _app("pages/1_Explain.py")
    _synthetic(at)
    at.selectbox(key="sidebar_digit").set_value(absent).run()
    assert any("not in this image" in i.value for i in at.info)
    at.button(key="switch_digit_0").click().run()
    assert not at.exception
    assert at.selectbox(key="sidebar_digit").value == sorted(set(item.labels))[0]
    assert _metric(at, "IoU₁ (pixels)")


def test_a_checkpoint_without_calibration_reads_one_rule_for_all_and_says_why(
    tmp_path, monkeypatch
):
    import shutil

    import common

    shutil.copy(DEFAULT_CHECKPOINT, tmp_path / "mine.pt")  # its calibration file stays behind
    monkeypatch.setattr(common, "CHECKPOINTS", tmp_path)
    at = _app("pages/1_Explain.py")
    radio = at.radio(key="threshold_mode")
    assert "calibrated" not in radio.options and radio.value == DEFAULT_PROTOCOL.mode
    assert any("No calibration file for mine.pt" in c.value for c in at.caption)
    assert json.loads(at.json[0].value)["threshold_source"] == "fixed"
    assert str(tmp_path) not in "\n".join(c.value for c in at.caption)


def test_a_new_box_starts_as_the_target_then_as_the_next_digit_not_yet_marked():
    from image_picker import suggested_label

    assert suggested_label([], 3) == 3
    assert suggested_label([{"digit": 3}], 3) == 0
    assert suggested_label([{"digit": 3}, {"digit": 0}, {"digit": float("nan")}], 3) == 1


def test_box_table_edits_become_its_base_and_so_outlive_the_editors_state():
    """A relabelled and a deleted row (the editor's output) are what the table starts from
    next, under a new editor key; an unchanged table keeps its key (no redraw per rerun)."""
    from image_picker import keep_edits

    drawn = [
        {"digit": 3, "x0": 46.8, "y0": 8.0, "x1": 62.2, "y1": 44.0},
        {"digit": 2, "x0": 62.8, "y0": 8.0, "x1": 74.1, "y1": 44.0},
        {"digit": 0, "x0": 12.0, "y0": 8.1, "x1": 27.0, "y1": 44.1},
    ]
    state = {"upload_boxes": drawn, "upload_version": 4}
    edited = [drawn[0], {**drawn[1], "digit": 1}]
    assert keep_edits(state, edited)  # changed: the page redraws the table at once
    assert state["upload_boxes"] == edited and state["upload_version"] == 5
    assert not keep_edits(state, [dict(r) for r in state["upload_boxes"]])  # the base, again
    assert state["upload_boxes"] == edited and state["upload_version"] == 5
    assert state["upload_rows"] == edited
    half_typed = [*edited, {"digit": 7, "x0": None, "y0": None, "x1": None, "y1": None}]
    keep_edits(state, half_typed)
    keep_edits(state, [dict(r) for r in state["upload_boxes"]])
    assert state["upload_version"] == 6  # an incomplete row is kept once, not redrawn forever


def test_compare_is_shareable_a_new_session_at_its_url_shows_the_same_view():
    at = _app()
    at.switch_page("pages/2_Compare.py").run()
    at.radio(key="source").set_value("synthetic").run()
    at.number_input(key="synthetic_index").set_value(4).run()
    at.multiselect(key="compare_methods").set_value(["saliency", "lrp"]).run()
    at.radio(key="compare_mode").set_value("topk").run()
    at.slider(key="compare_topk").set_value(12.0).run()
    assert not at.exception, [e.value for e in at.exception]
    link = dict(at.query_params)
    assert link["methods"] == "saliency,lrp" and link["mode"] == "topk" and link["t"] == "12.0"
    again = opened_at(str(APP / "pages" / "2_Compare.py"), link)  # a new browser at the address
    assert again.multiselect(key="compare_methods").value == ["saliency", "lrp"]
    assert again.number_input(key="synthetic_index").value == 4
    assert again.slider(key="compare_topk").value == 12.0
    assert again.dataframe[0].value.equals(at.dataframe[0].value)  # the same numbers


def test_a_sampling_methods_map_says_how_much_another_draw_would_agree(synthetic_case, monkeypatch):
    import common

    from svhn_xai.explain.stability import stability

    model, item, digit = synthetic_case
    at = _app("pages/1_Explain.py")
    _synthetic(at)
    at.selectbox(key="sidebar_digit").set_value(digit).run()
    # a budget at which a second draw differs (RISE's defaults hold from draw to draw), set as a
    # link sets it: the default's 2 x 2,048 passes never run
    at.session_state["kept:explain:rise:n_masks"] = 16
    at.selectbox(key="method").set_value("rise").run()
    assert at.number_input(key="explain:rise:n_masks").value == 16
    assert not at.exception, [x.value for x in at.exception]
    few = {"n_masks": 16}
    expected = stability(model, item.image, explain(model, item.image, digit, "rise", **few))
    said = [x.value for x in [*at.caption, *at.warning] if x.value.startswith("Seed to seed")]
    assert len(said) == 1 and f"ρ {expected['rho']:.2f}" in said[0], said
    # RISE splits its masks: the line says so, with the halves' own ρ, and draws nothing more
    assert f"two halves of this map's own samples (their ρ {expected['half_rho']:.2f}" in said[0]
    assert ("varies between runs" in said[0]) == (not expected["stable"])
    assert not expected["stable"]
    from stability_panel import times

    k = expected["budget_multiple"]  # what it would take, by Spearman-Brown
    needed = min(math.ceil(k), 16)
    assert f"about {times(k)}, or average {needed} “Draws”" in said[0], said
    assert "a forecast from this one map" in said[0]  # ρ at R draws is one sample
    # the button offers the draws the line names, and names its time: consent enough
    assert at.button(key="more_draws").label.startswith(f"Average {needed} draws")
    monkeypatch.setattr(common, "SLOW_SECONDS", 1e-3)
    at.button(key="more_draws").click().run()
    assert not any(b.label == "Run anyway" for b in at.button)
    assert at.slider(key="explain:rise:draws").value == needed
    averaged = explain(model, item.image, digit, "rise", **few, draws=needed)
    expected = stability(model, item.image, averaged)
    said = [x.value for x in [*at.caption, *at.warning] if x.value.startswith("Seed to seed")]
    assert f"ρ {expected['rho']:.2f}" in said[0], said
    assert dict(at.query_params)["p.draws"] == str(needed)  # and so does its link
    at.selectbox(key="method").set_value("saliency").run()  # draws nothing: says nothing
    assert not any(x.value.startswith("Seed to seed") for x in [*at.caption, *at.warning])


def test_a_reproduce_lines_threshold_flags_name_the_pages_rule():
    from common import CALIBRATED, threshold_args

    assert threshold_args(CALIBRATED, None) == []  # the commands' default reading
    assert threshold_args("topk", 15.0) == ["--threshold-mode", "topk", "--threshold", "15.0"]
    # a mode without a parameter still gives its value, so the JSON records the page's rule
    assert threshold_args("otsu", 0.0) == ["--threshold-mode", "otsu", "--threshold", "0.0"]


@pytest.mark.parametrize("reference", ["deadbeef", "0" * 64])  # not one, and an expired one
def test_a_link_to_a_photo_the_server_no_longer_keeps_asks_for_it_again(reference):
    at = opened_at(str(APP / "pages/1_Explain.py"), {"source": "upload", "upload": reference})
    assert any("no longer kept on this server" in w.value for w in at.warning)
    assert any("Upload a photo" in i.value for i in at.info)
    assert dict(at.query_params).get("source") == "upload"  # the link says so, even with no photo
    assert "upload" not in at.query_params  # the dead reference is gone from it


def test_choosing_upload_before_any_photo_is_in_the_link():
    at = opened_at(str(APP / "pages/1_Explain.py"), {})
    at.radio(key="source").set_value("upload").run()
    assert dict(at.query_params)["source"] == "upload"


def test_a_small_raise_and_a_near_miss_read_as_what_they_are():
    from stability_panel import shown_rho, times

    assert times(1.04) == "1.1×" and times(1.5) == "1.5×" and times(3.6) == "4×"
    assert shown_rho(0.897, stable=False) == "0.897"  # not a "0.90" beside "varies"
    assert shown_rho(0.8996, stable=False) == "0.899"  # nor a "0.900"
    assert shown_rho(0.83, stable=False) == "0.83" and shown_rho(0.93, stable=True) == "0.93"
