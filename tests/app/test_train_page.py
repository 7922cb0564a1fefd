"""AppTest of the Train page: a real background run, followed across reruns, cancelled."""

import os
import shutil
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from svhn_xai.model import jobs
from svhn_xai.model.checkpoint import DEFAULT_CHECKPOINT, card_path
from tests.app.links import opened_at

PAGE = str(Path(__file__).resolve().parents[2] / "app" / "pages" / "3_Train.py")


@pytest.fixture
def checkpoints(tmp_path, monkeypatch):
    """A checkpoints folder of the test's own, holding the shipped model."""
    import common

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    shutil.copy(DEFAULT_CHECKPOINT, folder / "default.pt")
    shutil.copy(card_path(DEFAULT_CHECKPOINT), folder / "default.json")
    monkeypatch.setattr(common, "CHECKPOINTS", folder)
    yield folder
    for run in jobs.runs_newest_first(folder / "runs"):  # never leave a training process behind
        jobs.cancel(run, grace=2)


def _progress_text(at: AppTest) -> str:
    return at.get("progress")[0].proto.text


def _rerun_until(at: AppTest, done, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not done(at):
        assert time.monotonic() < deadline, _progress_text(at)
        time.sleep(0.5)
        at.run()
        assert not at.exception, [e.value for e in at.exception]


def _start_tiny_run(epochs: int) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, [e.value for e in at.exception]
    at.number_input(key="train_size").set_value(32)
    at.number_input(key="train_test_size").set_value(16)
    at.number_input(key="train_batch").set_value(16)
    at.number_input(key="train_epochs").set_value(epochs)
    at.text_input(key="train_name").set_value("tiny")
    at.button(key="train_start").click().run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.slow
def test_a_run_started_on_the_page_survives_reruns_and_is_cancelled(checkpoints):
    at = _start_tiny_run(epochs=20)
    assert [h.value for h in at.subheader] == ["Run tiny"]
    assert at.button(key="train_start").disabled  # one run at a time
    assert at.text_input(key="train_name").value != "tiny"  # a fresh name for the next run
    job = jobs.read_job(checkpoints / "runs" / "tiny")
    assert job["epochs"] == 20 and job["options"][:6] == [
        "--data", "synthetic", "--train-size", "32", "--test-size", "16"
    ]  # fmt: skip
    assert job["options"][job["options"].index("--batch-size") + 1] == "16"
    at.run()  # any click: the run goes on
    assert jobs.status(checkpoints / "runs" / "tiny", checkpoints).running
    _rerun_until(at, lambda a: "batch" in _progress_text(a))
    assert _progress_text(at).startswith("Epoch") and "loss" in _progress_text(at)
    pid = jobs.read_job(checkpoints / "runs" / "tiny")["pid"]
    at.button(key="train_cancel").click().run()
    assert not at.exception
    assert _progress_text(at).startswith("Cancelled after")
    done = len(jobs.status(checkpoints / "runs" / "tiny", checkpoints).history)
    said = [w.value for w in at.warning if w.value.startswith("Cancelled")]
    assert len(said) == 1, said  # said once, not the progress text twice
    # what is kept, as it is: nothing before the first epoch ends
    assert said[0].startswith(
        "Cancelled before its first epoch ended: nothing was saved"
        if done == 0
        else f"Cancelled after {done} completed epoch"
    ), (done, said)
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)
    assert not at.button(key="train_start").disabled


@pytest.mark.slow
def test_a_finished_run_is_listed_in_the_sidebar_and_can_be_picked(checkpoints):
    at = _start_tiny_run(epochs=1)
    _rerun_until(at, lambda a: any("Finished" in p.proto.text for p in a.get("progress")))
    assert "tiny.pt" in at.sidebar.selectbox(key="sidebar_checkpoint").options
    assert any("tiny.pt is in the sidebar" in s.value for s in at.success)
    accuracy = jobs.status(checkpoints / "runs" / "tiny", checkpoints).history[-1]["test"]
    guessing = accuracy["balanced_accuracy"] < 0.6  # 32 images, one epoch: about chance
    assert any("close to chance" in w.value for w in at.warning) == guessing
    at.button(key="train_use").click().run()
    assert not at.exception
    assert at.sidebar.selectbox(key="sidebar_checkpoint").value == "tiny.pt"
    # a new session (another tab, a restarted server) finds the run from its files alone
    jobs._CHILDREN.clear()
    fresh = AppTest.from_file(PAGE, default_timeout=120).run()
    assert [h.value for h in fresh.subheader] == ["Run tiny"]
    assert "Finished" in _progress_text(fresh)


def test_a_bad_run_name_is_refused_in_words(checkpoints):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.text_input(key="train_name").set_value("default")
    at.button(key="train_start").click().run()
    assert not at.exception
    assert any("shipped model" in e.value for e in at.error)
    assert not (checkpoints / "runs").exists()


def test_real_photos_without_their_folder_say_so_and_do_not_start(checkpoints):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.radio(key="train_data").set_value("svhn").run()
    at.text_input(key="train_root").set_value("nowhere/svhn").run()
    assert not at.exception
    assert any("No train/ folder in nowhere/svhn" in w.value for w in at.warning)
    assert at.button(key="train_start").disabled
    assert at.number_input(key="train_epochs").value == 2  # the rest of the form stays
    at.radio(key="train_data").set_value("synthetic").run()  # back to what needs nothing
    assert not at.warning and not at.button(key="train_start").disabled


def test_the_train_settings_live_in_the_url_and_a_new_session_restores_them(checkpoints):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.number_input(key="train_epochs").set_value(5).run()
    at.number_input(key="train_size").set_value(32 + 256).run()
    at.selectbox(key="train_wandb").set_value("offline").run()
    assert not at.exception, [e.value for e in at.exception]
    link = dict(at.query_params)
    assert link["epochs"] == "5" and link["size"] == "288" and link["wandb"] == "offline"
    again = opened_at(PAGE, link, timeout=120)
    assert again.number_input(key="train_epochs").value == 5
    assert again.number_input(key="train_size").value == 288
    assert again.selectbox(key="train_wandb").value == "offline"


def test_the_reproduce_line_is_the_train_command_of_the_settings_shown(checkpoints):
    import shlex

    from svhn_xai.cli import build_parser

    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.number_input(key="train_epochs").set_value(5).run()
    at.number_input(key="train_size").set_value(32 + 256).run()
    assert not at.exception, [e.value for e in at.exception]
    line = next(c.value for c in at.code if "svhn_xai train" in c.value)
    args = build_parser().parse_args(shlex.split(line)[3:])
    assert (args.epochs, args.train_size, args.data) == (5, 288, "synthetic")
    assert args.out == "checkpoints/mine.pt"


def test_a_typed_run_name_survives_a_visit_to_another_page(checkpoints):
    """In the browser, Streamlit drops a widget's own state once a page without it has run
    (AppTest keeps it): what comes back is the page's kept copy, as a fresh session holding
    only that copy shows."""
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.text_input(key="train_name").set_value("my-run").run()
    assert at.session_state["kept:train_name"] == "my-run"
    back = AppTest.from_file(PAGE, default_timeout=120)
    back.session_state["kept:train_name"] = "my-run"  # all that is left after another page
    back.run()
    assert not back.exception, [e.value for e in back.exception]
    assert back.text_input(key="train_name").value == "my-run"
