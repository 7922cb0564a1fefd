"""The Explain view as shared state: a link reopens it, the CLI line reproduces its numbers, a slow
run the user asked for stays, and the server's file system never shows."""

import json
import shlex
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from svhn_xai.cli import run
from svhn_xai.model.checkpoint import REPO_ROOT
from tests.app.links import opened_at
from tests.app.test_reruns import move_threshold

EXPLAIN = str(Path(__file__).resolve().parents[2] / "app" / "pages" / "1_Explain.py")


def _explain(query: dict | None = None) -> AppTest:
    return opened_at(EXPLAIN, query or {})


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric if m.label != "Compute time"}


def test_a_link_opens_the_same_view():
    at = _explain()
    at.radio(key="source").set_value("synthetic").run()
    at.number_input(key="synthetic_index").set_value(3).run()
    at.selectbox(key="sidebar_digit").set_value(at.selectbox(key="sidebar_digit").options[2]).run()
    at.selectbox(key="method").set_value("saliency").run()
    at.checkbox(key="explain:saliency:abs").uncheck().run()
    at.radio(key="threshold_mode").set_value("topk").run()
    at.slider(key="threshold_topk").set_value(20.0).run()
    at.slider(key="clip").set_value(99.0).run()
    at.slider(key="opacity").set_value(0.3).run()
    at.selectbox(key="colorscale").set_value("Inferno").run()
    assert not at.exception
    link = dict(at.query_params)
    assert link["method"] == "saliency" and link["p.abs"] == "false" and link["t"] == "20.0"
    assert link["opacity"] == "0.3" and link["scale"] == "Inferno"
    again = _explain(link)  # a new session opened on the copied link
    assert again.radio(key="source").value == "synthetic"
    assert again.number_input(key="synthetic_index").value == 3
    assert again.checkbox(key="explain:saliency:abs").value is False
    assert again.radio(key="threshold_mode").value == "topk"
    assert again.slider(key="opacity").value == 0.3
    assert again.selectbox(key="colorscale").value == "Inferno"
    assert _metrics(again) == _metrics(at)
    assert again.code[0].value == at.code[0].value
    assert at.code[0].proto.wrap_lines  # a long line wraps, never scrolls out of sight


def test_real_photos_are_numbered_as_their_files_and_the_link_and_cli_count_from_0():
    at = _explain()  # the default real photo
    at.number_input(key="svhn_photo").set_value(5).run()  # 5.png
    assert not at.exception
    link = dict(at.query_params)
    assert link["source"] == "svhn" and link["index"] == "4"
    args = shlex.split(at.code[0].value)
    assert args[args.index("--index") + 1] == "4"
    again = _explain(link)
    assert again.number_input(key="svhn_photo").value == 5
    assert _metrics(again) == _metrics(at)


def test_a_link_with_bad_values_falls_back_to_the_defaults_and_says_which():
    query = {"method": "magic", "mode": "topk", "t": "500", "index": "-3", "clip": "x"}
    at = _explain({**query, "opacity": "0.4", "scale": "`" + "x" * 100})
    assert at.selectbox(key="method").value != "magic"
    assert at.radio(key="threshold_mode").value == "topk"
    slider = at.slider(key="threshold_topk")
    assert slider.min <= slider.value <= slider.max
    assert at.slider(key="opacity").value == 0.4  # what fits is used
    said = [w.value for w in at.warning if "could not be used" in w.value]
    assert len(said) == 1
    assert all(f"`{k}={v}`" in said[0] for k, v in query.items() if k != "mode"), said
    assert "opacity" not in said[0] and "mode=" not in said[0]
    assert f"`scale='{'x' * 38}…`" in said[0]  # anyone's text: cut short, no backticks
    at.slider(key="opacity").set_value(0.5).run()  # said once, not on every rerun
    assert not [w for w in at.warning if "could not be used" in w.value]


@pytest.mark.slow
def test_the_cli_line_reproduces_the_page_json(monkeypatch, capsys):
    at = _explain()  # the default real photo
    at.selectbox(key="method").set_value("occlusion").run()
    move_threshold(at, "threshold")
    args = shlex.split(at.code[0].value)
    assert args[:4] == ["python", "-m", "svhn_xai", "explain"]
    monkeypatch.chdir(REPO_ROOT)  # the line is typed in the project's folder
    assert run(args[3:]) == 0
    cli = json.loads(capsys.readouterr().out)
    page = json.loads(at.json[0].value)
    skip = {"seconds", "checkpoint", "image"}
    assert {k: v for k, v in cli.items() if k not in skip} == {
        k: v for k, v in page.items() if k not in skip
    }


@pytest.mark.slow
def test_contrast_is_explained_kept_in_the_link_and_reproduced_by_the_cli(monkeypatch, capsys):
    at = _explain()  # the default real photo
    at.selectbox(key="method").set_value("saliency").run()
    plain = json.loads(at.json[0].value)
    digit = plain["digit"]
    other = next(d for d in range(10) if d != digit)
    at.selectbox(key="contrast").set_value(other).run()
    move_threshold(at, "threshold")
    assert not at.exception
    page = json.loads(at.json[0].value)
    assert page["contrast"] == other and page["digit"] == digit
    assert page["relevance_mass"] != plain["relevance_mass"], "the map did not change"
    shown = next(m for m in at.metric if m.label == f"logit {digit} − logit {other}")
    assert shown.value == f"{page['logit']:+.2f}"  # the score the map explains, as the CLI's
    link = dict(at.query_params)
    assert link["contrast"] == str(other)
    assert _explain(link).selectbox(key="contrast").value == other
    args = shlex.split(at.code[0].value)
    assert args[args.index("--contrast") + 1] == str(other)
    monkeypatch.chdir(REPO_ROOT)
    assert run(args[3:]) == 0
    cli = json.loads(capsys.readouterr().out)
    skip = {"seconds", "checkpoint", "image"}
    assert {k: v for k, v in cli.items() if k not in skip} == {
        k: v for k, v in page.items() if k not in skip
    }


def test_the_digit_alone_again_drops_the_contrast_from_the_map_and_the_link():
    at = _explain()
    at.selectbox(key="method").set_value("saliency").run()
    at.selectbox(key="contrast").set_value(3).run()
    assert at.query_params["contrast"] == "3"
    at.selectbox(key="contrast").set_value("alone").run()
    assert "contrast" not in at.query_params and not at.exception
    assert "contrast" not in json.loads(at.json[0].value)


def test_run_anyway_keeps_its_result_across_reruns(monkeypatch):
    import common

    monkeypatch.setattr(common, "SLOW_SECONDS", -1.0)  # every setting counts as slow
    at = AppTest.from_file(EXPLAIN, default_timeout=300)
    # a budget no other test uses: an explanation already in the shared cache runs unasked
    at.session_state["kept:explain:integrated_gradients:n_steps"] = 7
    at.run()
    assert at.selectbox(key="method").value == "integrated_gradients"
    assert any("takes about" in w.value for w in at.warning)
    assert not any(m.label.startswith("IoU") for m in at.metric)
    at.button(key="run_slow").click().run()
    assert any(m.label.startswith("IoU") for m in at.metric)
    move_threshold(at, "threshold")
    assert any(m.label.startswith("IoU") for m in at.metric), "the result was hidden again"
    assert not any("takes about" in w.value for w in at.warning)


def _texts(at: AppTest) -> list[str]:
    kinds = ("markdown", "caption", "info", "warning", "error", "success", "code", "title")
    out = [str(e.value) for kind in kinds for e in getattr(at, kind)]
    out += [str(w.label) for w in (*at.selectbox, *at.radio, *at.number_input, *at.slider)]
    out += [str(o) for w in (*at.selectbox, *at.radio) for o in w.options]
    return out


@pytest.mark.parametrize("page", ["1_Explain.py", "2_Compare.py"])
def test_no_server_path_on_the_page(page):
    at = AppTest.from_file(str(Path(EXPLAIN).parent / page), default_timeout=300).run()
    assert not at.exception
    shown = "\n".join(_texts(at))
    for path in {str(REPO_ROOT), str(REPO_ROOT.parent), str(Path.home())} - {"/"}:
        assert path not in shown


def test_a_link_reads_every_threshold_mode_the_page_offers_the_calibrated_one_included():
    import link
    from common import CALIBRATED

    assert link._parsed({"mode": CALIBRATED}) == ({"threshold_mode": CALIBRATED}, [])
    assert link._parsed({"mode": "topk", "t": "9.0"}) == (
        {"threshold_mode": "topk", "threshold_topk": 9.0},
        [],
    )
    assert link._parsed({"mode": "no such mode"}) == ({}, ["mode=no such mode"])


def test_a_calibrated_mask_of_every_pixel_says_why(monkeypatch):
    """A calibrated share of 100 % (RISE's, before its defaults moved): the page says that the
    map does not single out the digit, rather than showing "the top 100 %" unexplained."""
    from dataclasses import replace

    import common

    shipped = common.calibration_of

    def rise_at_100(path: str, digest: str):
        calibration, why = shipped(path, digest)
        return replace(calibration, values={**calibration.values, "rise": 100.0}), why

    monkeypatch.setattr(common, "calibration_of", rise_at_100)
    # RISE's two draws near the slow-run limit on a busy machine: this test is about the caption
    monkeypatch.setattr(common, "SLOW_SECONDS", float("inf"))
    # the rule is RISE's whatever its budget: 128 masks, not the default's 2 x 2,048 passes
    at = _explain({"source": "synthetic", "method": "rise", "p.n_masks": "128"})
    assert at.radio(key="threshold_mode").value == "calibrated"
    rule = next(c.value for c in at.caption if c.value.startswith("Mask:"))
    assert "top 100 %" in rule and "does not single out the digit" in rule
    at.selectbox(key="method").set_value("saliency").run()
    rule = next(c.value for c in at.caption if c.value.startswith("Mask:"))
    assert "single out" not in rule


def test_a_new_session_opens_on_a_photo_the_model_never_saw_and_a_learnt_one_is_said_to_be():
    at = _explain()
    if at.selectbox(key="svhn_folder").value != "shared sample":
        pytest.skip("the shared sample, whose photos 1-192 the shipped model learnt, is not here")
    assert at.number_input(key="svhn_photo").value == 193  # the first held-out photo, a 1
    assert at.selectbox(key="sidebar_digit").value == 1
    assert not [w.value for w in at.warning if "trained on this" in w.value]
    learnt = "The model trained on this photo (it learnt from SVHN train photos 1–192)"
    at.number_input(key="svhn_photo").set_value(1).run()
    assert [w.value for w in at.warning if w.value.startswith(learnt)]
    at.number_input(key="svhn_photo").set_value(193).run()
    assert not [w.value for w in at.warning if "trained on this" in w.value]


def test_bfloat16_is_not_offered_where_the_hardware_lacks_it_and_a_link_asking_for_it_says_so(
    monkeypatch,
):
    """Without native bfloat16 the choice is not offered (its help says why); a link made on a
    machine that has it opens with float32 and a one-line reason, never a failed map."""
    monkeypatch.setattr("svhn_xai.explain.precision.native_bfloat16", lambda device: False)
    at = _explain({"source": "svhn", "method": "occlusion", "p.precision": "bfloat16"})
    choice = at.selectbox(key="explain:occlusion:precision")
    assert choice.options == ["float32"] and "Not offered here: bfloat16" in choice.help
    assert not at.exception and not at.error
    assert [i for i in at.info if "does not run on this CPU" in i.value]
    page = json.loads(at.json[0].value)
    assert page["method"] == "occlusion" and page["params"]["precision"] == "float32"
    assert at.query_params["p.precision"] == "float32"  # the link now names what ran


@pytest.mark.slow
def test_bfloat16_passes_give_the_map_and_the_float32_probability(monkeypatch):
    """Where bfloat16 runs (forced here: emulated on a CPU without it), the page shows the map
    of the bfloat16 passes with the probability of the float32 pass, as the CLI does."""
    monkeypatch.setattr("svhn_xai.explain.precision.native_bfloat16", lambda device: True)
    at = _explain({"source": "svhn", "method": "occlusion", "p.stride": "12"})  # 26 passes
    full = json.loads(at.json[0].value)
    at.selectbox(key="explain:occlusion:precision").set_value("bfloat16").run()
    assert not at.exception and not at.error
    half = json.loads(at.json[0].value)
    assert half["params"]["precision"] == "bfloat16" and full["params"]["precision"] == "float32"
    assert half["probability"] == full["probability"]
    assert half["relevance_mass"] != full["relevance_mass"]  # the passes were rounded


def test_compute_time_says_what_it_counts():
    """A sampling method's map says whether it holds from the halves of its own samples, or,
    where they are not kept apart (Captum's GradientShap points), from a second map: the time
    shown is the map's own, and its help says what the check cost."""
    at = _explain()
    at.selectbox(key="method").set_value("gradient_shap").run()
    split = next(m for m in at.metric if m.label == "Compute time")
    assert "two halves of its own samples" in split.help and "second draw" not in split.help
    at.selectbox(key="explain:gradient_shap:points").set_value("independent").run()
    assert not at.exception, [x.value for x in at.exception]
    sampled = next(m for m in at.metric if m.label == "Compute time")
    assert "second draw" in sampled.help
    said = [x.value for x in [*at.caption, *at.warning] if x.value.startswith("Seed to seed")]
    assert len(said) == 1 and "a second draw with the next seeds" in said[0]
    at.selectbox(key="method").set_value("saliency").run()
    plain = next(m for m in at.metric if m.label == "Compute time")
    assert "second draw" not in plain.help and "This map's time" in plain.help
