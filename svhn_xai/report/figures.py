"""Pictures from arrays: heatmap overlays with boxes. Returns images; never shows them."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

GT_COLOUR = (0, 230, 0)
HEAT_COLOUR = (255, 40, 40)


# the toolbar shown on hover, stacked down the right edge: across the top it hid the titles
MODEBAR = {"orientation": "v"}


def colourise(heat: np.ndarray, cmap: str = "jet") -> np.ndarray:
    """[0, 1] heatmap (H, W) -> uint8 RGB (H, W, 3) through a matplotlib colour map
    (Plotly's capitalised names such as ``"Jet"`` work too)."""
    import matplotlib

    name = cmap if cmap in matplotlib.colormaps else cmap.lower()
    colours = matplotlib.colormaps[name](np.clip(heat, 0, 1))[..., :3]
    return (colours * 255).round().astype(np.uint8)


def _draw_boxes(
    draw: ImageDraw.ImageDraw,
    gt_boxes: np.ndarray | None,
    heat_box: np.ndarray | None,
    scale: float,
) -> None:
    """Outline the truth boxes and the heatmap's box, given in image pixels, at ``scale``."""
    boxes = [] if gt_boxes is None else np.asarray(gt_boxes).reshape(-1, 4)
    for box, colour in [*[(b, GT_COLOUR) for b in boxes], (heat_box, HEAT_COLOUR)]:
        if box is None:
            continue
        x0, y0, x1, y1 = (float(v) * scale for v in box)
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=2)


def overlay(
    image: np.ndarray,
    heat: np.ndarray,
    alpha: float = 0.5,
    cmap: str = "jet",
    gt_boxes: np.ndarray | None = None,
    heat_box: list[float] | np.ndarray | None = None,
    scale: int = 4,
) -> np.ndarray:
    """Blend a heatmap over ``image`` (H, W, 3) uint8 and draw the boxes, upscaled ``scale``x.

    Ground-truth boxes are green, the heatmap's box red; boxes are half-open pixel boxes.
    """
    blended = (1 - alpha) * image.astype(np.float64) + alpha * colourise(heat, cmap)
    picture = Image.fromarray(blended.round().astype(np.uint8))
    picture = picture.resize((image.shape[1] * scale, image.shape[0] * scale), Image.NEAREST)
    draw = ImageDraw.Draw(picture)
    _draw_boxes(draw, gt_boxes, heat_box, scale)
    return np.asarray(picture)


WINDOW_COLOUR = (255, 255, 255)


def preview(photo: np.ndarray, max_side: int = 640) -> tuple[np.ndarray, float]:
    """``photo`` (H, W, 3) uint8 shrunk (never enlarged) so its longer side is at most
    ``max_side`` px, and the scale applied (preview px per photo px, <= 1)."""
    height, width = photo.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale == 1.0:
        return photo, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BILINEAR)), scale


def photo_overlay(
    photo: np.ndarray,
    heat: np.ndarray,
    window: tuple[int, int, int, int],
    alpha: float = 0.5,
    cmap: str = "jet",
    gt_boxes: np.ndarray | None = None,
    heat_box: list[float] | np.ndarray | None = None,
    width: int | None = None,
) -> np.ndarray:
    """The heatmap laid over the photo it was computed from, through the crop ``window``.

    Args:
        photo: uint8 (H, W, 3), the source photo (or a preview of it; then pass the window
            and boxes scaled the same way).
        heat: [0, 1] heatmap (S, S) of the model input, i.e. of ``window`` resized to S x S.
        window: crop ``(x0, y0, x1, y1)`` in ``photo``'s pixels; the heat is stretched back
            onto it, the photo outside it is left as it is and the window outlined in white.
        gt_boxes, heat_box: boxes in ``photo``'s pixels (green and red).
        width: output width in pixels (the photo is resized bilinearly); default ``W``.
    Returns:
        uint8 (round(H * width / W), width, 3).
    """
    height_px, width_px = photo.shape[:2]
    scale = (width or width_px) / width_px
    size = (max(1, round(width_px * scale)), max(1, round(height_px * scale)))
    picture = np.asarray(Image.fromarray(photo).resize(size, Image.Resampling.BILINEAR)).copy()
    x0, y0, x1, y1 = (round(v * scale) for v in window)
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    stretched = Image.fromarray(np.asarray(heat, dtype=np.float32), mode="F")
    stretched = np.asarray(stretched.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR))
    region = picture[y0:y1, x0:x1].astype(np.float64)
    blended = (1 - alpha) * region + alpha * colourise(stretched, cmap)
    picture[y0:y1, x0:x1] = blended.round().astype(np.uint8)
    out = Image.fromarray(picture)
    draw = ImageDraw.Draw(out)
    if (x0, y0, x1, y1) != (0, 0, *size):
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], outline=WINDOW_COLOUR, width=1)
    _draw_boxes(draw, gt_boxes, heat_box, scale)
    return np.asarray(out)


def _box_shapes(boxes, colour: str, dash: str = "solid") -> list[dict]:
    """Plotly rectangle shapes for half-open pixel boxes on an image drawn with pixel centres
    at integer coordinates (so a box's left edge sits at x0 - 0.5)."""
    shapes = []
    for x0, y0, x1, y1 in boxes:
        shapes.append(
            dict(
                type="rect",
                x0=x0 - 0.5,
                y0=y0 - 0.5,
                x1=x1 - 0.5,
                y1=y1 - 0.5,
                line=dict(color=colour, width=2, dash=dash),
            )
        )
    return shapes


FLOOR = 0.5  # a map whose 1st percentile is above this share of its 99th has heat everywhere


def display_range(heat: np.ndarray) -> tuple[float, float, bool]:
    """The colour scale's ``(low, high, stretched)`` for a heatmap in [0, 1] (or [-1, 1]).

    The scale is the map's full range, 0 to 1 (-1 to 1 for a signed map), so that maps compare;
    a near-uniform map, whose floor of heat is high everywhere (RISE's scores sit between about
    0.9 and 1), would read as one flat colour there, so it gets its own 1st to 99th percentile
    instead, and the figure says so. A sparse map (most pixels near 0, a few hot ones) is not
    near-uniform: its floor is 0."""
    low, high = (float(v) for v in np.percentile(heat, [1, 99]))
    if low <= FLOOR * high or high <= low:
        return (-1.0 if heat.min() < 0 else 0.0), 1.0, False
    return low, high, True


def image_figure(
    image: np.ndarray,
    heat: np.ndarray | None = None,
    opacity: float = 0.5,
    colorscale: str = "Jet",
    gt_boxes: np.ndarray | None = None,
    heat_box: list[float] | None = None,
    title: str | None = None,
    height: int = 360,
    frame: str | None = None,
):
    """A Plotly figure of ``image`` (H, W, 3) uint8, optionally with a [0, 1] heatmap on top
    (``opacity``, ``colorscale``), the ground-truth boxes (green) and the heatmap's box (red,
    dashed). ``frame``: a CSS colour for a thin line around the image, for images that may be
    as white as the page (a mask with every pixel active). Box-select on it reports pixel
    coordinates of the image."""
    import plotly.graph_objects as go

    fig = go.Figure(go.Image(z=image, hoverinfo="x+y"))
    if heat is not None:
        low, high, stretched = display_range(heat)
        if stretched:
            fig.add_annotation(
                text=f"scale {low:.2f}–{high:.2f}",  # short: the figure may be narrow
                xref="paper", yref="paper", x=0, y=0, xanchor="left", yanchor="bottom",
                showarrow=False, font=dict(size=10, color="white"), bgcolor="rgba(0,0,0,0.5)",
            )  # fmt: skip
        fig.add_trace(
            go.Heatmap(
                z=heat,
                zmin=low,
                zmax=high,
                colorscale=colorscale,
                opacity=opacity,
                showscale=False,
                colorbar=dict(thickness=10, len=0.8),
                hovertemplate="x %{x}, y %{y}: %{z:.2f}<extra></extra>",
            )
        )
    shapes = []
    if gt_boxes is not None:
        shapes += _box_shapes(np.asarray(gt_boxes).reshape(-1, 4), GT_COLOUR_CSS)
    if heat_box is not None:
        shapes += _box_shapes([heat_box], HEAT_COLOUR_CSS, "dash")
    if frame is not None:
        h, w = image.shape[:2]
        outline = dict(type="rect", x0=-0.5, y0=-0.5, x1=w - 0.5, y1=h - 0.5)
        shapes.insert(0, {**outline, "line": dict(color=frame, width=1)})
    fig.update_layout(
        modebar=MODEBAR,
        shapes=shapes,
        height=height,
        margin=dict(l=0, r=0, t=30 if title else 0, b=0),
        title=dict(text=title or "", font=dict(size=14)),
        dragmode="select",
    )
    bare = dict(showticklabels=False, ticks="", showgrid=False, zeroline=False)  # pixels only
    fig.update_xaxes(range=[-0.5, image.shape[1] - 0.5], **bare)
    fig.update_yaxes(range=[image.shape[0] - 0.5, -0.5], scaleanchor="x", **bare)
    return fig


GT_COLOUR_CSS = "rgb(0,230,0)"
HEAT_COLOUR_CSS = "rgb(255,40,40)"


def curve_figure(curves: dict[str, dict], threshold: float | None = None, height: int = 300):
    """IoU vs threshold: ``curves`` maps a label to
    :func:`svhn_xai.scoring.metrics.iou_curve` output."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for label, curve in curves.items():
        for key, dash in (("iou_1", "solid"), ("iou_2", "dot")):
            name = f"{label} IoU₁" if key == "iou_1" else f"{label} IoU₂"
            fig.add_trace(
                go.Scatter(
                    x=curve["thresholds"],
                    y=curve[key],
                    name=name,
                    mode="lines",
                    line=dict(dash=dash),
                )
            )
    if threshold is not None:
        fig.add_vline(
            x=threshold, line=dict(color="grey", dash="dash"),
            annotation_text="this mask", annotation_position="top right",
        )  # fmt: skip
    fig.update_layout(
        modebar=MODEBAR,
        height=height,
        margin=dict(l=0, r=0, t=40, b=0),
        xaxis_title="threshold on the normalised heatmap",
        yaxis_title="IoU",
        yaxis_range=[0, 1],
        legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0),
    )
    return fig


def selected_box(selection: dict | None) -> list[float] | None:
    """The box ``[x0, y0, x1, y1]`` of a Plotly box-select event on :func:`image_figure`, in
    half-open pixel coordinates; None if nothing (or no box) is selected."""
    if not selection:
        return None
    boxes = selection.get("selection", {}).get("box") or []
    if not boxes:
        return None
    xs, ys = boxes[-1].get("x"), boxes[-1].get("y")
    if not xs or not ys:
        return None
    # pixel c is drawn over [c - 0.5, c + 0.5): a drag from u to v covers columns round(u+0.5)..
    x0, x1 = sorted(float(v) + 0.5 for v in xs)
    y0, y1 = sorted(float(v) + 0.5 for v in ys)
    return [round(x0, 1), round(y0, 1), round(x1, 1), round(y1, 1)]


def faithfulness_figure(methods: dict[str, dict], height: int = 300):
    """Mean deletion (solid) and insertion (dotted) curves per method, from an evaluation
    summary's ``methods`` block: the digit's probability against the share of pixels changed."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for key, row in methods.items():
        if "deletion" not in row:
            continue
        xs = np.linspace(0, 1, len(row["deletion"]))
        fig.add_trace(go.Scatter(x=xs, y=row["deletion"], name=f"{key} deletion", mode="lines"))
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=row["insertion"],
                name=f"{key} insertion",
                mode="lines",
                line=dict(dash="dot"),
            )
        )
    fig.update_layout(
        modebar=MODEBAR,
        height=height,
        margin=dict(l=0, r=0, t=10, b=0),
        yaxis_range=[0, 1],
        xaxis_title="share of pixels deleted / inserted, hottest first",
        yaxis_title="P(digit present)",
    )
    return fig


def sanity_figure(sanity: dict, height: int = 300):
    """Rank correlation with the trained model's maps as layers are randomised top-down; each
    method under its display name (a key not in the registry as it is)."""
    import plotly.graph_objects as go
    from plotly.colors import qualitative

    from svhn_xai.evaluation.sanity import FLAT_THRESHOLD
    from svhn_xai.explain import method_name

    fig = go.Figure()
    lowest = 0.0
    palette = qualitative.Dark24  # 24 distinct colours: one per method, none repeated
    for i, (key, row) in enumerate(sanity["methods"].items()):
        name = method_name(key)
        flagged = row.get("flagged")
        line = dict(color=palette[i % len(palette)], width=3 if flagged else 1.5)
        label = name + (" (flagged)" if flagged else "")
        fig.add_trace(
            go.Scatter(
                x=sanity["layers"],
                y=row["correlation"],
                name=label,
                mode="lines+markers",
                line=line,
            )
        )
        lowest = min(lowest, *(c for c in row["correlation"] if c == c))
    fig.add_hline(y=FLAT_THRESHOLD, line=dict(color="grey", dash="dash"))
    # the dashed line's meaning above the plot, where no method's line can cross it
    fig.add_annotation(
        text=f"- - - flagged: ρ still above {FLAT_THRESHOLD:g} once every layer is random",
        xref="paper", yref="paper", x=1, y=1, xanchor="right", yanchor="bottom",
        showarrow=False, font=dict(size=11, color="dimgrey"),
    )  # fmt: skip
    rows_of_legend = -(-len(sanity["methods"]) // 4)
    fig.update_layout(
        modebar=MODEBAR,
        height=height + 22 * rows_of_legend,
        margin=dict(l=0, r=0, t=28, b=40 + 22 * rows_of_legend),
        yaxis_range=[min(-0.2, lowest - 0.05), 1.05],
        yaxis_dtick=0.2,
        xaxis_title="randomised down to",
        yaxis_title="Spearman ρ with original (lower is better)",
        legend=dict(orientation="h", y=-0.2, yanchor="top", x=0),
    )
    return fig


def training_figure(batches: list[tuple[float, float]], history: list[dict], height: int = 320):
    """Live training curves: loss (left) and balanced accuracy (right) against epochs.

    ``batches`` are ``(epochs done, training loss)`` points within epochs (fractional x, so a
    single epoch already draws a curve); ``history`` the epoch records of
    :func:`svhn_xai.model.train.main` (``train``/``test``/``real`` scores at whole epochs).
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Loss (lower is better)", "Balanced accuracy (higher is better)"),
    )
    if batches:
        xs, ys = zip(*batches)
        fig.add_trace(
            go.Scatter(x=xs, y=ys, name="training batches", mode="lines+markers",
                       marker=dict(size=4, color="#7f7f7f"), line=dict(width=2, color="#7f7f7f")),
            row=1, col=1,
        )  # fmt: skip
    epochs = [h["epoch"] for h in history]
    colours = {"train": "#1f77b4", "test": "#ff7f0e", "real": "#2ca02c"}
    names = {"train": "training images", "test": "held-out images", "real": "real photos"}
    for split, colour in colours.items():
        rows = [(e, h[split]) for e, h in zip(epochs, history) if split in h]
        if not rows:
            continue
        xs = [e for e, _ in rows]
        for col, key in ((1, "loss"), (2, "balanced_accuracy")):
            fig.add_trace(
                go.Scatter(
                    x=xs,
                    y=[s.get(key) for _, s in rows],
                    name=names[split],
                    legendgroup=split,
                    showlegend=col == 2,
                    mode="lines+markers",
                    marker=dict(size=9, color=colour),
                    line=dict(color=colour),
                ),
                row=1,
                col=col,
            )
    fig.update_xaxes(title_text="epochs", rangemode="tozero")
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    fig.update_layout(
        modebar=MODEBAR,
        height=height,
        margin=dict(l=0, r=0, t=30, b=0),
        legend=dict(orientation="h", y=-0.3, yanchor="top"),
    )
    return fig


def small_multiples(
    panels: dict[str, list[dict]],
    x_title: str,
    y_title: str,
    y_range: tuple[float, float] = (0.0, 1.0),
    cols: int = 4,
    vline: float | None = None,
    panel_height: int = 170,
):
    """One small panel per entry of ``panels`` (e.g. per method), sharing both axes, so that
    many methods stay readable side by side.

    Each panel is a list of series ``{"name", "x", "y"}`` plus optional ``"dash"``; series of
    the same name get the same colour in every panel and one legend entry. ``vline`` marks an
    x value (e.g. the threshold in use) in every panel.
    """
    import plotly.graph_objects as go
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    labels = list(panels)
    rows = max(1, -(-len(labels) // cols))
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=labels,
        shared_xaxes=True,
        shared_yaxes=True,
        horizontal_spacing=0.02,
        vertical_spacing=0.28 / rows if rows > 1 else 0.0,
    )
    colours: dict[str, str] = {}
    for i, label in enumerate(labels):
        row, col = i // cols + 1, i % cols + 1
        for series in panels[label]:
            name = series["name"]
            first = name not in colours
            colours.setdefault(name, qualitative.Plotly[len(colours) % len(qualitative.Plotly)])
            fig.add_trace(
                go.Scatter(
                    x=series["x"],
                    y=series["y"],
                    name=name,
                    legendgroup=name,
                    showlegend=first,
                    mode="lines",
                    line=dict(color=colours[name], dash=series.get("dash", "solid")),
                ),
                row=row,
                col=col,
            )
        if vline is not None:
            fig.add_vline(x=vline, line=dict(color="grey", dash="dash", width=1), row=row, col=col)
    fig.update_yaxes(range=list(y_range))
    fig.update_xaxes(title_text=x_title, row=rows)
    fig.update_yaxes(title_text=y_title, col=1)
    fig.update_annotations(font_size=12)
    # the legend under the panels and their axis title, where no subplot title is
    fig.update_layout(
        modebar=MODEBAR,
        height=panel_height * rows + 140,
        margin=dict(l=0, r=0, t=30, b=100),
        legend=dict(orientation="h", y=-60 / (panel_height * rows), yanchor="top", x=0),
    )
    return fig
