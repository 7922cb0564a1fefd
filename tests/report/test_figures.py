import numpy as np

from svhn_xai.report.figures import colourise, photo_overlay, preview


def test_photo_overlay_puts_the_heat_on_the_crop_window_only():
    photo = np.full((20, 40, 3), 100, np.uint8)
    heat = np.zeros((64, 64))
    heat[:32, :32] = 1.0  # the model input's top-left quadrant is hot
    window = (10, 4, 30, 16)  # 20 x 12 px of the photo became the 64 x 64 input
    out = photo_overlay(photo, heat, window, alpha=0.5, cmap="jet")
    assert out.shape == photo.shape
    hot = np.round(0.5 * 100 + 0.5 * colourise(np.ones((1, 1)))[0, 0])
    cold = np.round(0.5 * 100 + 0.5 * colourise(np.zeros((1, 1)))[0, 0])
    assert out[6, 13].tolist() == hot.tolist()  # the window's top-left quadrant
    assert out[14, 27].tolist() == cold.tolist()  # its bottom-right quadrant
    outside = np.ones((20, 40), bool)
    outside[4:16, 10:30] = False
    assert (out[outside] == 100).all()  # the photo around the crop is left as it was


def test_photo_overlay_scales_window_and_boxes_with_the_width():
    photo = np.zeros((10, 20, 3), np.uint8)
    out = photo_overlay(photo, np.zeros((8, 8)), (0, 0, 20, 10), gt_boxes=[[5, 2, 10, 8]], width=80)
    assert out.shape == (40, 80, 3)
    assert out[8 + 4, 20].tolist() == [0, 230, 0]  # the box's left edge, 4x: x 20, y 8..32
    assert (out[:, 60:] == out[0, 79]).all()  # right of the box: only the blended heat


def test_preview_shrinks_large_photos_once_and_keeps_small_ones():
    big = np.zeros((1000, 2000, 3), np.uint8)
    small, scale = preview(big, 640)
    assert small.shape == (320, 640, 3) and scale == 0.32
    same, one = preview(np.zeros((50, 80, 3), np.uint8), 640)
    assert same.shape == (50, 80, 3) and one == 1.0


def test_sanity_figure_names_methods_for_people_and_shows_every_point():
    from svhn_xai.report.figures import sanity_figure

    sanity = {
        "layers": ["fc", "layer4"],
        "methods": {
            "integrated_gradients": {"correlation": [0.9, -0.6]},
            "custom": {"correlation": [0.5, 0.1]},
        },
    }
    fig = sanity_figure(sanity)
    assert [t.name for t in fig.data] == ["Integrated Gradients", "custom"]
    low, high = fig.layout.yaxis.range
    # every point visible, and the top of the correlation scale (1) with room for its mark
    assert low < -0.6 and 1 <= high <= 1.1
    assert "lower is better" in fig.layout.yaxis.title.text


def test_only_a_map_with_heat_everywhere_gets_a_stretched_colour_scale():
    from svhn_xai.report.figures import display_range

    rng = np.random.default_rng(0)
    rise_like = 0.9 + 0.1 * rng.random((64, 64))  # heat everywhere, between 0.9 and 1
    low, high, stretched = display_range(rise_like)
    assert stretched and 0.9 <= low < high <= 1.0
    sparse = np.abs(rng.normal(0, 0.05, (64, 64)))  # a saliency-like map: a few hot pixels
    sparse[30:34, 30:34] = 1.0
    sparse /= sparse.max()
    assert display_range(sparse) == (0.0, 1.0, False)
    signed = rng.uniform(-1, 1, (64, 64))
    assert display_range(signed) == (-1.0, 1.0, False)
    assert display_range(np.full((8, 8), 0.7)) == (0.0, 1.0, False)  # flat: nothing to stretch


def test_a_framed_image_has_a_thin_line_around_its_pixels():
    """A mask with every pixel active is as white as the page: its frame shows where it ends."""
    from svhn_xai.report.figures import image_figure

    mask = np.full((20, 30, 3), 255, np.uint8)
    framed = image_figure(mask, frame="grey").layout.shapes
    assert len(framed) == 1
    line = framed[0]
    assert (line.x0, line.y0, line.x1, line.y1) == (-0.5, -0.5, 29.5, 19.5)
    assert line.line.color == "grey"
    assert not image_figure(mask).layout.shapes


def test_every_figure_keeps_its_toolbar_off_its_title():
    """Plotly's hover toolbar runs across the top by default, over a narrow figure's title."""
    from svhn_xai.report.figures import (
        curve_figure,
        faithfulness_figure,
        image_figure,
        sanity_figure,
        small_multiples,
        training_figure,
    )

    curve = {"thresholds": [10.0, 20.0], "iou_1": [0.2, 0.3], "iou_2": [0.1, 0.2]}
    figures = [
        image_figure(np.zeros((8, 8, 3), np.uint8), title="Heatmap"),
        curve_figure({"Saliency": curve}),
        faithfulness_figure({}),
        sanity_figure({"layers": ["fc"], "methods": {"saliency": {"correlation": [0.5]}}}),
        small_multiples({"a": [{"name": "s", "x": [0, 1], "y": [0, 1]}]}, "x", "y"),
        training_figure([(0.0, 1.0)], []),
    ]
    assert [f.layout.modebar.orientation for f in figures] == ["v"] * len(figures)
