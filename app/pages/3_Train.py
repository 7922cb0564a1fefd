"""Train a model from the browser, with a progress bar and live loss/accuracy curves."""

import time
from pathlib import Path

import pandas as pd
import streamlit as st
from common import CHECKPOINTS, page_setup

from svhn_xai.config import TrainConfig
from svhn_xai.errors import SvhnXaiError
from svhn_xai.train import main

page_setup("Train · svhn-xai", "🏋️")

st.title("Train")
st.write(
    "Trains the ResNet-18 with one 'is digit D present?' head per digit. An epoch of 4,000 "
    "synthetic images takes about 10 s on a 2-core CPU with native bf16, a minute on one "
    "without, seconds on a GPU. The Home page's model card says what the loaded model was "
    "trained on, for how long, and how it scores."
)
with st.form("train_form"):
    c1, c2, c3 = st.columns(3)
    data = c1.selectbox(
        "Data",
        ["synthetic", "svhn"],
        key="train_data",
        help="synthetic needs nothing; svhn needs a Format 1 folder.",
    )
    root = c1.text_input(
        "SVHN root (svhn only)",
        "data/svhn",
        key="train_root",
        help="The folder holding train/ and test/ as the archives unpack.",
    )
    epochs = c2.number_input("Epochs", 1, 200, 2, key="train_epochs")
    size = c2.number_input(
        "Training images (synthetic)", 256, 200_000, 4000, step=256, key="train_size"
    )
    lr = c2.number_input("Learning rate", 1e-5, 1.0, 2e-3, format="%g", key="train_lr")
    wandb = c3.selectbox(
        "Weights & Biases",
        ["disabled", "offline", "online"],
        key="train_wandb",
        help="online falls back to offline without an API key or network.",
    )
    name = c3.text_input(
        "Checkpoint name", f"run-{time.strftime('%Y%m%d-%H%M%S')}", key="train_name"
    )
    start = st.form_submit_button("Start training", type="primary")

if start:
    out = CHECKPOINTS / f"{Path(name).stem or 'run'}.pt"
    if out.name == "default.pt":
        st.error("default.pt is the shipped model; pick another name.")
        st.stop()
    cfg = TrainConfig(
        data=data,
        root=root if data == "svhn" else None,
        epochs=int(epochs),
        train_size=int(size) if data == "synthetic" else None,
        test_size=500 if data == "synthetic" else None,
        lr=float(lr),
        wandb=wandb,
        out=str(out),
    )
    bar = st.progress(0.0, text="preparing images…")
    chart = st.empty()
    history = []

    def on_batch(step: int, steps: int, loss: float) -> None:
        done = (len(history) + step / steps) / cfg.epochs
        bar.progress(
            min(done, 1.0),
            text=f"epoch {len(history) + 1}/{cfg.epochs}, batch {step}/{steps}, loss {loss:.4f}",
        )

    def on_epoch(record: dict) -> None:
        history.append(record)
        frame = pd.DataFrame(
            {
                "train loss": [h["train"]["loss"] for h in history],
                "test loss": [h["test"]["loss"] for h in history],
                "train balanced acc.": [h["train"]["balanced_accuracy"] for h in history],
                "test balanced acc.": [h["test"]["balanced_accuracy"] for h in history],
            },
            index=pd.Index([h["epoch"] for h in history], name="epoch"),
        )
        chart.line_chart(frame)

    try:
        metrics = main(
            cfg, on_epoch=on_epoch, on_batch=on_batch, command=f"app Train page: {cfg.to_dict()}"
        )
    except SvhnXaiError as exc:
        st.error(str(exc))
        st.stop()
    bar.progress(1.0, text="done")
    st.success(
        f"Saved {out.name}: balanced accuracy {metrics['test']['balanced_accuracy']:.3f} "
        "on held-out data. Pick it in the sidebar of any page."
    )
    st.image(str(out.with_suffix(".curves.png")))
