"""A page's view in its URL (``st.query_params``): a copied link opens the same view.

Query keys: ``source, folder, index, digit`` (the photo and the target, shared by the pages
that pick a photo; an upload is ``upload``, its SHA-256 in the server's store, ``boxes``,
``x0,y0,x1,y1:DIGIT`` in photo pixels as the CLI's ``--box``, ``;``-separated, and ``name``,
the file's own name), ``mode``, ``t`` (the threshold mode and its parameter), and per page:
``contrast, method, p.NAME`` (the method's parameters), ``channels``, ``clip``, ``opacity``,
``scale`` on Explain; ``methods`` (comma-separated) on Compare. A value that does not fit
(unknown method, out-of-range number) is left out, the page's default stands, and the page
says which of the link's values it could not use.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

import streamlit as st
from common import CALIBRATED

from svhn_xai.data.marks import parse_marked_box
from svhn_xai.explain import REGISTRY
from svhn_xai.scoring.heatmap import REDUCTIONS
from svhn_xai.scoring.protocol import THRESHOLD_MODES

CLIP_RANGE = (90.0, 100.0)
COLOUR_SCALES = ("Jet", "Inferno", "Viridis", "RdBu_r", "Hot")  # Explain's heatmap colours


def _parsed(query: dict[str, str], prefix: str = "threshold") -> tuple[dict[str, Any], list[str]]:
    """Widget values by widget key, from the query, and the ``key=value`` entries it refused
    (an unknown method, an out-of-range number), which the page names. ``prefix`` names the
    page's threshold widgets (``{prefix}_mode``, ``{prefix}_{mode}``)."""
    out: dict[str, Any] = {}
    refused: list[str] = []

    def refuse(key: str) -> None:
        refused.append(_as_sent(key, query[key]))

    source = query.get("source")
    if source in ("svhn", "synthetic", "upload"):
        out["source"] = source
    elif "source" in query:
        refuse("source")
    if "folder" in query:
        out["svhn_folder"] = query["folder"]
    if source in ("svhn", "synthetic") and query.get("index", "").isdigit():
        # the URL's index counts from 0, as the CLI's --index does; a real photo's widget shows
        # its file's number (1.png is photo 1)
        index = int(query["index"])
        out.update(
            {"synthetic_index": index} if source == "synthetic" else {"svhn_photo": index + 1}
        )
    elif "index" in query:
        refuse("index")
    for key in ("digit", "contrast"):
        if query.get(key, "").isdigit() and 0 <= int(query[key]) <= 9:
            out[key] = int(query[key])
        elif key in query:
            refuse(key)
    method = query.get("method")
    if method in REGISTRY:
        out["method"] = method
        params = {f"p.{p.name}": p for p in REGISTRY[method].params}
        for key in (k for k in query if k.startswith("p.")):
            try:
                out[f"explain:{method}:{params[key].name}"] = params[key].parse(query[key])
            except (KeyError, ValueError):  # a parameter this method lacks, or out of range
                refuse(key)
    elif method is not None:
        refuse("method")
    methods = [m for m in query.get("methods", "").split(",") if m in REGISTRY]
    if methods:
        out["methods"] = methods
    unknown = [m for m in query.get("methods", "").split(",") if m and m not in REGISTRY]
    if unknown:
        refused.append(_as_sent("methods", ",".join(unknown)))
    if query.get("mode") == CALIBRATED:  # each method at its own calibrated value
        out[f"{prefix}_mode"] = CALIBRATED
    mode = THRESHOLD_MODES.get(query.get("mode", ""))
    if mode is not None:
        out[f"{prefix}_mode"] = mode.key
        try:
            value = float(query.get("t", "nan"))
            mode.check(value)
        except ValueError:
            if "t" in query:
                refuse("t")
        else:
            if mode.param is not None and value == value:
                out[f"{prefix}_{mode.key}"] = value
    elif query.get("mode") not in (None, CALIBRATED):
        refuse("mode")
    out.update(_display(query, method, refuse))
    return out, refused


def _as_sent(key: str, value: str) -> str:
    """``key=value`` as the page names a refused entry: cut short, without backticks (a link
    is anyone's text, and the page shows it as code)."""
    value = value.replace("`", "'")
    return f"{key}={value if len(value) <= 40 else value[:39] + '…'}"


def _display(query: dict[str, str], method: str | None, refuse: Callable[[str], None]) -> dict:
    """How Explain draws the map (``channels``, ``clip``, ``opacity``, ``scale``), by widget
    key; ``refuse(key)`` is told of each value that does not fit."""
    out: dict[str, Any] = {}
    if method in REGISTRY and query.get("channels") in REDUCTIONS:
        out[f"reduction:{method}"] = query["channels"]
    elif "channels" in query:
        refuse("channels")
    for key, (low, high) in (("clip", CLIP_RANGE), ("opacity", (0.0, 1.0))):
        try:
            value = float(query.get(key, "nan"))
        except ValueError:
            value = float("nan")
        if low <= value <= high:
            out[key] = value
        elif key in query:
            refuse(key)
    if query.get("scale") in COLOUR_SCALES:
        out["colorscale"] = query["scale"]
    elif "scale" in query:
        refuse("scale")
    return out


def restore(
    page: str = "explain",
    prefix: str = "threshold",
    rename: dict[str, str] | None = None,
    plain: dict[str, tuple[str, Callable[[str], Any]]] | None = None,
) -> None:
    """Once per session and page: put the link's state into the widgets before they are drawn.
    ``rename`` maps a parsed key to the page's widget key (``methods`` -> ``compare_methods``);
    ``plain`` maps a query key of the page's own to ``(widget key, parser)``: a value the parser
    refuses is left out. The widgets check the rest (an option that no longer exists)."""
    flag = f"link_restored:{page}"
    if st.session_state.get(flag):
        return
    st.session_state[flag] = True
    query = {k: st.query_params.get(k) for k in st.query_params}
    parsed, refused = _parsed({k: v for k, v in query.items() if v is not None}, prefix)
    for name, (key, parse) in (plain or {}).items():
        if query.get(name) is not None:
            try:
                parsed[key] = parse(query[name])
            except ValueError:
                refused.append(_as_sent(name, query[name]))
    # said once, under the page's title (common.page_setup): the link did not open as sent
    st.session_state["link_refused"] = refused
    for key, value in parsed.items():
        key = (rename or {}).get(key, key)
        # the sidebar's digit is its widget's own key (set before the sidebar is drawn); the
        # page's widgets start from their kept value (see common.remembered)
        if key == "digit":
            st.session_state["digit"] = st.session_state["sidebar_digit"] = value
        else:
            st.session_state[f"kept:{key}"] = value
    checkpoint = query.get("checkpoint")
    if checkpoint and re.fullmatch(r"[\w.-]+\.pt", checkpoint):  # a name in checkpoints/
        st.session_state["checkpoint"] = st.session_state["sidebar_checkpoint"] = checkpoint
    upload = query.get("upload")
    if upload:  # the photo's SHA-256 on the server; one it never made asks for the photo again
        st.session_state["kept:upload_sha"] = upload[:64]
        name = query.get("name", "")
        if 0 < len(name) <= 120 and name.isprintable() and not re.search(r"[/\\]", name):
            st.session_state["kept:upload_name"] = name  # the file's own name, never a path
        with contextlib.suppress(ValueError):  # boxes that do not all parse are left out
            boxes = [parse_marked_box(b) for b in query.get("boxes", "").split(";") if b]
            if all(b.label is not None for b in boxes):
                st.session_state["link_boxes"] = (upload, boxes)


def photo(cli: tuple[str, ...] | None) -> dict[str, Any]:
    """The photo's part of a view (``source``, ``folder``, ``index``; ``upload``, ``boxes``),
    from the picker's state and the CLI arguments of the photo it picked (None: nothing picked
    yet)."""
    source = st.session_state.get("source")
    boxes = [b for flag, b in zip(cli or (), (cli or ())[1:]) if flag == "--box"]
    return {
        "source": source,
        "folder": st.session_state.get("svhn_folder") if source == "svhn" else None,
        "index": cli[-1] if cli and "--index" in cli else None,
        "upload": st.session_state.get("kept:upload_sha") if source == "upload" else None,
        "boxes": ";".join(boxes) if source == "upload" and boxes else None,
        "name": st.session_state.get("kept:upload_name") if source == "upload" else None,
    }


def open_explain(view: dict[str, Any]) -> None:
    """Go to Explain showing ``view`` (query keys as above: ``digit``, ``method``, ``mode``,
    ``t`` …): another page opens Explain through its URL, as a shared link does, never by
    writing Explain's session keys. The photo stays the one both pages share."""
    st.session_state["link_restored:explain"] = False
    query = {k: text(v) for k, v in view.items() if v is not None}
    st.switch_page("pages/1_Explain.py", query_params=query)


def save(state: dict[str, Any]) -> None:
    """Write the view's state into the URL (replacing what was there), with the sidebar's
    checkpoint when it is not the shipped one."""
    checkpoint = st.session_state.get("checkpoint")
    if checkpoint != "default.pt":
        state = {**state, "checkpoint": checkpoint}
    wanted = {k: text(v) for k, v in state.items() if v is not None}
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)


def text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return repr(value) if isinstance(value, float) else str(value)
