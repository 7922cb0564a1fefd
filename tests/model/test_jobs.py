import json
import os
import time
from pathlib import Path

import pytest
import torch

from svhn_xai.errors import ParameterError
from svhn_xai.model import jobs
from svhn_xai.model.checkpoint import load_checkpoint, load_model

TINY = ["--train-size", "32", "--test-size", "16", "--batch-size", "16", "--workers", "1",
        "--input-size", "32", "--amp", "off", "--seed", "3"]  # fmt: skip


def _fake_run(folder: Path, events: list[dict], log: str = "", pid: int | None = None) -> Path:
    """A run folder as a finished (or foreign) process leaves it: no live child."""
    folder.mkdir(parents=True)
    job = {"name": folder.name, "options": [], "epochs": 3, "export": f"{folder.name}.pt",
           "pid": pid, "pid_start": None, "started": 1.0}  # fmt: skip
    (folder / jobs.JOB).write_text(json.dumps(job))
    (folder / jobs.PROGRESS).write_text("".join(json.dumps(e) + "\n" for e in events))
    (folder / jobs.LOG).write_text(log)
    return folder


def _epoch(n: int, loss: float) -> dict:
    return {"event": "epoch", "record": {"epoch": n, "train": {"loss": loss}}}


def _batch(epoch: int, step: int, steps: int, loss: float) -> dict:
    return {"event": "batch", "epoch": epoch, "step": step, "steps": steps, "loss": loss}


def test_progress_log_writes_what_status_reads(tmp_path):
    folder = _fake_run(tmp_path / "r", [])
    log = jobs.ProgressLog(folder / jobs.PROGRESS, epochs=3, min_interval=0.0)
    log.on_batch(1, 4, 2.0)
    log.on_batch(2, 4, 1.0)
    log.on_epoch({"epoch": 1, "train": {"loss": 1.5}})
    log.on_batch(2, 4, 0.5)
    st = jobs.status(folder, tmp_path)
    assert st.batches == [(0.25, 2.0), (0.5, 1.0), (1.5, 0.5)]
    assert [h["epoch"] for h in st.history] == [1]
    assert (st.epoch, st.step, st.steps) == (2, 2, 4)
    assert st.fraction == pytest.approx(1.5 / 3)


def test_batches_are_thinned_but_the_last_of_each_epoch_is_kept(tmp_path):
    folder = _fake_run(tmp_path / "r", [])
    log = jobs.ProgressLog(folder / jobs.PROGRESS, epochs=1, min_interval=3600)
    for step in range(1, 6):
        log.on_batch(step, 5, float(step))
    assert jobs.status(folder, tmp_path).batches == [(0.2, 1.0), (1.0, 5.0)]


def test_a_restart_forgets_what_came_after_its_epoch(tmp_path):
    events = [
        {"event": "start", "start_epoch": 0, "epochs": 3},
        _batch(1, 2, 2, 1.0), _epoch(1, 1.0), _batch(2, 1, 2, 0.9), _epoch(2, 0.8),
        _batch(3, 1, 2, 0.7),
        {"event": "start", "start_epoch": 1, "epochs": 3},  # resumed from epoch 1
        _batch(2, 2, 2, 0.6),
    ]  # fmt: skip
    st = jobs.status(_fake_run(tmp_path / "r", events), tmp_path)
    assert [h["epoch"] for h in st.history] == [1]
    assert st.batches == [(1.0, 1.0), (2.0, 0.6)]


def test_finished_failed_and_cancelled_runs_read_in_plain_words(tmp_path):
    done = _fake_run(tmp_path / "done", [_epoch(1, 1.0), {"event": "done"}])
    assert jobs.status(done, tmp_path).state == "done"
    assert jobs.status(done, tmp_path).fraction == 1.0

    log = "preparing images: 10%\rpreparing images: 90%\nerror: SVHN folder data/x not found\n"
    failed = _fake_run(tmp_path / "failed", [], log=log)
    st = jobs.status(failed, tmp_path)
    assert (st.state, st.message) == ("failed", "SVHN folder data/x not found")
    assert st.log_tail.splitlines() == [
        "preparing images: 90%",
        "error: SVHN folder data/x not found",
    ]

    crashed = _fake_run(tmp_path / "crashed", [{"event": "error", "message": "CUDA out of memory"}])
    assert jobs.status(crashed, tmp_path).message == "CUDA out of memory"

    stopped = _fake_run(tmp_path / "stopped", [_epoch(1, 1.0)], log="Traceback …\n")
    st = jobs.status(stopped, tmp_path)
    assert st.state == "failed" and "stopped before finishing" in st.message
    assert st.resumable  # one epoch of three on disk

    cancelled = _fake_run(tmp_path / "cancelled", [_epoch(1, 1.0)])
    (cancelled / jobs.CANCELLED).write_text("1\n")
    assert jobs.status(cancelled, tmp_path).state == "cancelled"


def test_a_cancel_after_the_last_epoch_reads_finished_not_cancelled(tmp_path):
    """The only epoch (of one, here three) done, then Cancel: the run did finish."""
    events = [_epoch(1, 1.0), _epoch(2, 0.9), _epoch(3, 0.8)]
    late = _fake_run(tmp_path / "late", events)  # every epoch saved, no "done" written yet
    (late / jobs.CANCELLED).write_text("1\n")
    assert jobs.status(late, tmp_path).state == "done"
    early = _fake_run(tmp_path / "early", events[:2])
    (early / jobs.CANCELLED).write_text("1\n")
    assert jobs.status(early, tmp_path).state == "cancelled"


def test_the_preparation_progress_is_read_from_the_log_as_numbers():
    log = "preparing images:  10%|█         | 400/4000 [00:01<00:09]\r" + (
        "preparing images:  50%|█████     | 2000/4000 [00:07<00:06, 314.49img/s]"
    )
    assert jobs.preparing_progress(log) == (2000, 4000)
    assert jobs.preparing_progress("loading…") is None


def test_a_reused_pid_is_not_taken_for_the_run(tmp_path):
    """Our own pid is alive, but its start time is not the one the run recorded."""
    folder = _fake_run(tmp_path / "r", [_batch(1, 1, 2, 1.0)], pid=os.getpid())
    assert jobs.status(folder, tmp_path).state == "failed"


@pytest.mark.parametrize("name", ["", "default", "a/b", "../x", "x.pt", "-x", "a b"])
def test_bad_run_names_are_refused(tmp_path, name):
    with pytest.raises(ParameterError):
        jobs.check_name(name, tmp_path / "runs", tmp_path)


def test_a_name_in_use_is_refused(tmp_path):
    (tmp_path / "taken.pt").write_bytes(b"")
    with pytest.raises(ParameterError, match="exists already"):
        jobs.check_name("taken", tmp_path / "runs", tmp_path)


def _wait(folder: Path, exports: Path, until, timeout: float = 600) -> jobs.JobStatus:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = jobs.status(folder, exports)
        if until(st):
            return st
        time.sleep(0.2)
    raise AssertionError(f"timed out; last state {st.state}, log:\n{st.log_tail}")


def _exits_soon(pid: int, timeout: float = 10) -> bool:
    """Whether our child ``pid`` is gone within ``timeout`` s (a multi-threaded process reads
    as a zombie while its last threads wind down)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return True
        time.sleep(0.05)
    return False


def _forget_children() -> None:
    """What a new server process knows: the files only, no handle on the child."""
    jobs._CHILDREN.clear()


@pytest.mark.slow
def test_a_background_run_trains_exports_and_is_found_again(tmp_path):
    runs, exports = tmp_path / "runs", tmp_path / "checkpoints"
    folder = jobs.start("tiny", TINY, 2, runs, exports)
    _forget_children()
    st = _wait(folder, exports, lambda s: not s.running)
    assert st.state == "done", st.log_tail
    assert [h["epoch"] for h in st.history] == [1, 2]
    assert [x for x, _ in st.batches] == [0.5, 1.0, 1.5, 2.0]  # 2 batches an epoch
    assert st.checkpoint == exports / "tiny.pt"
    slim, full = load_checkpoint(st.checkpoint), load_checkpoint(folder / jobs.RESUMABLE)
    assert "optimizer_state" in full and "optimizer_state" not in slim
    assert all(
        v.dtype == torch.float16 for v in slim["model_state"].values() if v.is_floating_point()
    )
    assert st.checkpoint.stat().st_size < (folder / jobs.RESUMABLE).stat().st_size / 3
    assert slim["metrics"]["history"] == st.history
    model, card = load_model(st.checkpoint)
    assert card["epoch"] == 2 and model.digits == tuple(range(10))
    assert jobs.runs_newest_first(runs) == [folder]
    # no server path in what the card records
    assert str(tmp_path) not in json.dumps(card["provenance"]["export"])


@pytest.mark.slow
def test_a_run_cancelled_by_another_process_stops_and_resumes(tmp_path):
    runs, exports = tmp_path / "runs", tmp_path / "checkpoints"
    folder = jobs.start("tiny", TINY, 3, runs, exports)
    _wait(folder, exports, lambda s: len(s.history) >= 1 or not s.running)
    pid = jobs.read_job(folder)["pid"]
    _forget_children()  # cancelled from the files alone, as a re-attached page does
    jobs.cancel(folder)
    st = jobs.status(folder, exports)
    assert st.state == "cancelled"
    assert _exits_soon(pid)
    assert not list(folder.glob(".*.tmp")) and not list(exports.glob(".*.tmp"))
    assert st.resumable and st.checkpoint is not None
    jobs.resume(folder, exports)
    st = _wait(folder, exports, lambda s: not s.running)
    assert st.state == "done", st.log_tail
    assert [h["epoch"] for h in st.history] == [1, 2, 3]


@pytest.mark.slow
def test_a_run_that_cannot_start_says_why(tmp_path):
    runs, exports = tmp_path / "runs", tmp_path / "checkpoints"
    options = ["--data", "svhn", "--root", str(tmp_path / "nowhere"), *TINY]
    folder = jobs.start("bad", options, 1, runs, exports)
    st = _wait(folder, exports, lambda s: not s.running, timeout=120)
    assert st.state == "failed"
    assert "nowhere" in st.message and not st.resumable
