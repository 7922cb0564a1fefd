"""Train a model in the background: the run goes on whatever you click, with live curves."""

import shlex
import time
from pathlib import Path
from typing import Any

import link
import streamlit as st
from common import CHECKPOINTS, page_setup, remember, remembered

from svhn_xai.data.svhn import split_folder
from svhn_xai.errors import DataError, SvhnXaiError
from svhn_xai.model import jobs
from svhn_xai.model.checkpoint import REPO_ROOT
from svhn_xai.report.figures import training_figure
from svhn_xai.report.words import count, guessing_note

RUNS = CHECKPOINTS / "runs"  # one folder per run: its log, progress and resumable checkpoint
REFRESH_SECONDS = 1.5
# the settings in the page's URL: query name -> (widget key, parser); the widgets check ranges
SETTINGS = {
    "train_data": ("data", str),
    "train_root": ("root", str),
    "train_size": ("size", int),
    "train_test_size": ("test", int),
    "train_epochs": ("epochs", int),
    "train_lr": ("lr", float),
    "train_batch": ("batch", int),
    "train_wandb": ("wandb", str),
}

link.restore(
    "train",
    plain={name: (key, parse) for key, (name, parse) in SETTINGS.items()}
    | {"run": ("train_shown", str)},
)
page_setup("Train · svhn-xai", "🏋️")


def _new_name() -> str:
    return f"run-{time.strftime('%Y%m%d-%H%M%S')}"


def settings() -> tuple[list[str], int, bool]:
    """The run's ``train`` options, its number of epochs, and whether it can start (real
    photos need their train/ folder), from the widgets."""
    c1, c2, c3 = st.columns(3)
    sources = ["synthetic", "svhn"]
    data = c1.radio(
        "Data",
        sources,
        index=sources.index(kept("train_data", "synthetic", sources)),
        format_func={"synthetic": "Synthetic house numbers", "svhn": "Real SVHN photos"}.get,
        key="train_data",
        help="Synthetic images need nothing; real photos need an SVHN Format 1 download "
        "(`python -m svhn_xai download --split train`).",
    )
    options = ["--data", data]
    ready = True
    if data == "svhn":
        root = c1.text_input(
            "SVHN folder",
            str(kept("train_root", "data/svhn")),
            key="train_root",
            help="The folder holding train/ and test/ as the archives unpack, relative to the "
            "repository.",
        )
        options += ["--root", root]
        try:  # the run starts in the repository: its --root is read from there
            split_folder(REPO_ROOT / root, "train")
        except DataError:
            c1.warning(
                f"No train/ folder in {root}. Download it with `python -m svhn_xai download "
                f"--split train --root {root}`, or give the folder that holds train/."
            )
            ready = False
    else:
        size = c1.number_input(
            "Training images", 32, 200_000, kept("train_size", 4000, range(32, 200_001)),
            step=256, key="train_size",
            help="Synthetic house numbers for training, the same every run; 32 to 200,000.",
        )  # fmt: skip
        test = c1.number_input(
            "Held-out test images", 16, 20_000, kept("train_test_size", 500, range(16, 20_001)),
            step=100, key="train_test_size",
            help="Scored after every epoch; never trained on. 16 to 20,000.",
        )  # fmt: skip
        options += ["--train-size", str(size), "--test-size", str(test)]
    epochs = c2.number_input(
        "Epochs", 1, 200, kept("train_epochs", 2, range(1, 201)), key="train_epochs"
    )
    rate = kept("train_lr", 2e-3)
    lr = c2.number_input(
        "Learning rate", 1e-5, 1.0, rate if 1e-5 <= rate <= 1.0 else 2e-3, step=5e-4,
        format="%g", key="train_lr",
        help="AdamW's peak rate, reached after a one-epoch warm-up, then cosine decay.",
    )  # fmt: skip
    batch = c2.number_input("Batch size", 8, 1024, kept("train_batch", 128, range(8, 1025)),
                            step=8, key="train_batch", help="8 to 1,024.")  # fmt: skip
    trackers = ["disabled", "offline", "online"]
    wandb = c3.selectbox(
        "Weights & Biases",
        trackers,
        index=trackers.index(kept("train_wandb", "disabled", trackers)),
        key="train_wandb",
        help="Log the run to W&B; online falls back to offline without an API key or network.",
    )
    if st.session_state.pop("train_started", False):
        st.session_state["train_name"] = _new_name()  # a fresh one after each start
    elif "train_name" not in st.session_state:  # the name typed before another page showed
        st.session_state["train_name"] = remembered("train_name", None) or _new_name()
    c3.text_input(
        "Run name",
        key="train_name",
        help="The new checkpoint appears as NAME.pt in the sidebar after the first epoch.",
    )
    remember("train_name")
    options += ["--lr", f"{lr:g}", "--batch-size", str(batch), "--wandb", wandb]
    for key in SETTINGS:
        if key in st.session_state:
            remember(key)
    return options, int(epochs), ready


def kept(key: str, default: Any, allowed: Any = None) -> Any:
    """The widget's last value (or a link's), when it is one of ``allowed``; else ``default``."""
    value = remembered(key, default)
    return value if allowed is None or value in allowed else default


def start_run(options: list[str], epochs: int) -> None:
    """Start the run named in the form, show it, and offer a fresh name for the next one."""
    name = st.session_state["train_name"].strip()
    try:
        jobs.start(name, options, epochs, RUNS, CHECKPOINTS)
    except SvhnXaiError as exc:
        st.error(str(exc))
        return
    st.session_state["kept:train_shown"] = name
    st.session_state.pop("train_shown", None)  # the selectbox starts from the new run
    st.session_state["train_started"] = True
    st.rerun()


def resume_run(folder: Path) -> None:
    """Button callback: continue a stopped run from its last completed epoch."""
    try:
        jobs.resume(folder, CHECKPOINTS)
    except SvhnXaiError as exc:
        st.session_state["train_error"] = str(exc)


def use_checkpoint(name: str) -> None:
    """Button callback: pick ``name`` in the sidebar (before the sidebar is drawn)."""
    st.session_state["sidebar_checkpoint"] = name
    st.session_state["checkpoint"] = name


def progress_line(s: jobs.JobStatus) -> str:
    done = len(s.history)
    if s.state == "preparing":
        counted = jobs.preparing_progress(s.log_tail)
        return "Preparing images…" + (f" {counted[0]:,} of {counted[1]:,}" if counted else "")
    if s.state == "training" and s.epoch <= done < s.epochs:  # between two epochs
        return f"Epoch {done + 1} of {s.epochs}: starting"
    if s.state == "training":
        loss = f", loss {s.batches[-1][1]:.4f}" if s.batches else ""
        return f"Epoch {s.epoch} of {s.epochs}, batch {s.step} of {s.steps}{loss}"
    if s.state == "cancelling":
        return "Cancelling…"
    if s.state == "done":
        return f"Finished: {count(s.epochs, 'epoch')}"
    return f"{s.state.capitalize()} after {done} of {s.epochs} epochs"


def run_panel(folder: Path) -> None:
    """Progress, curves and controls of one run; reruns itself while the run is going."""
    s = jobs.status(folder, CHECKPOINTS)
    st.subheader(f"Run {s.name}")
    st.progress(s.fraction, text=progress_line(s))
    if s.running:
        st.button(
            "Cancel training",
            key="train_cancel",
            disabled=s.state == "cancelling",
            on_click=jobs.cancel,
            args=(folder,),
            help="Stops the run. Completed epochs stay saved, and the run can be resumed.",
        )
    elif s.state == "cancelled":
        st.warning(
            f"Cancelled after {count(len(s.history), 'completed epoch')}: "
            f"{'it is' if len(s.history) == 1 else 'they are'} kept, and the run can be resumed."
            if s.history
            else "Cancelled before its first epoch ended: nothing was saved to resume from."
        )
    elif s.state == "failed":
        st.error(f"Training failed: {s.message}")
    if s.log_tail and s.state == "failed":
        with st.expander("Last lines of the run's log", expanded=True):
            st.code(s.log_tail, language=None, wrap_lines=True)
    if s.resumable:
        st.button(
            f"Resume from epoch {len(s.history)}",
            key="train_resume",
            on_click=resume_run,
            args=(folder,),
        )
    if s.checkpoint is not None:
        last = s.history[-1]["test"]["balanced_accuracy"] if s.history else None
        score = f": balanced accuracy {last:.1%} on held-out images" if last is not None else ""
        st.success(
            f"{s.checkpoint.name} is in the sidebar's Checkpoint list (after epoch "
            f"{len(s.history)}{score})."
        )
        guessing = guessing_note(s.history[-1]["test"]) if s.history else None
        if guessing:
            st.warning(f"{guessing} Train on more images or for more epochs.")
        st.button(
            f"Use {s.checkpoint.name}",
            key="train_use",
            on_click=use_checkpoint,
            args=(s.checkpoint.name,),
        )
    if s.batches or s.history:
        st.plotly_chart(training_figure(s.batches, s.history), key="train_curves")
    # the sidebar is drawn outside this fragment: rerun the whole page when it must change
    seen = (s.name, s.state, s.checkpoint is not None, len(s.history))
    before = st.session_state.get("train_seen")
    st.session_state["train_seen"] = seen
    if before is not None and before[0] == s.name and before != seen:
        st.rerun()


st.title("Train")
st.write(
    "Trains the ResNet-18 with one 'is digit D present?' head per digit, in the background: "
    "leave this page, explain images, come back, and the run is still going. After each epoch "
    "the model appears in the sidebar as a small half-precision checkpoint; the run's folder "
    "keeps a full one (with the optimizer state) to resume from. On a 2-core CPU, 4,000 "
    "synthetic images take about 20 s to prepare and a minute or more an epoch; on a GPU, "
    "seconds. A model needs tens of thousands of images and a few epochs to read digits well."
)
runs = jobs.runs_newest_first(RUNS)
statuses = {p.name: jobs.status(p, CHECKPOINTS) for p in runs}
busy = [name for name, s in statuses.items() if s.running]
options, epochs, ready = settings()
# not a callback: a callback's arguments are those of the previous run, not the widgets' now
if st.button(
    "Start training",
    type="primary",
    key="train_start",
    disabled=bool(busy) or not ready,
    help=f"Run {busy[0]} is still going: one run at a time." if busy else None,
):
    start_run(options, epochs)
if "train_error" in st.session_state:
    st.error(st.session_state.pop("train_error"))
with st.expander("Reproduce: CLI command"):
    st.caption("The same training from a terminal, writing its checkpoint to checkpoints/mine.pt.")
    line = ["python", "-m", "svhn_xai", "train", *options, "--epochs", str(epochs)]
    st.code(shlex.join([*line, "--out", "checkpoints/mine.pt"]), "bash", wrap_lines=True)

if runs:
    names = [p.name for p in runs]
    # the widget's own state is dropped while another page shows: keep the choice apart
    shown = remembered("train_shown", None)
    if shown not in names:
        shown = busy[0] if busy else names[0]
    if len(names) > 1:  # named alone: a state in an option's name goes stale in the box
        shown = st.selectbox(
            "Show run",
            names,
            index=names.index(shown),
            key="train_shown",
        )
    st.session_state["kept:train_shown"] = shown
    every = REFRESH_SECONDS if statuses[shown].running else None
    st.fragment(run_every=every)(run_panel)(RUNS / shown)
link.save(
    {name: st.session_state.get(key) for key, (name, _) in SETTINGS.items()}
    | {"run": st.session_state.get("kept:train_shown")}
)
