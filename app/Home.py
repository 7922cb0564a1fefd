"""svhn-xai dashboard: the entry page. Run with `streamlit run app/Home.py`."""

import streamlit as st

from svhn_xai.checkpoint import DEFAULT_CHECKPOINT, load_model
from svhn_xai.errors import CheckpointError

st.set_page_config(page_title="svhn-xai", page_icon="🔢", layout="wide")


@st.cache_resource(show_spinner="Loading model…")
def _model(path: str):
    return load_model(path)


st.title("svhn-xai")
st.write(
    "A ResNet-18 learns whether a target digit appears in a Street View House Numbers photo. "
    "Attribution methods then show *why* it decided, and every heatmap is scored against the "
    "digit's ground-truth box (IoU₁ on pixels, IoU₂ on boxes), next to trivial baselines."
)
try:
    model, card = _model(str(DEFAULT_CHECKPOINT))
except CheckpointError as exc:
    st.warning(f"{exc}")
    st.stop()

st.subheader("Model card")
test = card["metrics"].get("test", {})
real = card["metrics"].get("real", {})
cols = st.columns(4)
cols[0].metric("Digits", ", ".join(map(str, model.digits)))
cols[1].metric("Epochs", card["epoch"])
if test.get("balanced_accuracy") is not None:
    cols[2].metric("Balanced acc. (synthetic test)", f"{test['balanced_accuracy']:.1%}")
if real.get("balanced_accuracy") is not None:
    cols[3].metric("Balanced acc. (real SVHN sample)", f"{real['balanced_accuracy']:.1%}")
st.json(card.get("provenance", {}), expanded=False)
