"""Reference inputs: the Gaussian blur that blurred baselines and distributions are made of."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from svhn_xai.explain.references import distribution, gaussian_blur


def _separable(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """The textbook form: reflect-pad, then a 1-D Gaussian along each axis."""
    radius = max(1, int(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c = x.shape[1]
    out = F.pad(x, (radius,) * 4, mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


@pytest.mark.parametrize("sigma", [0.3, 1.0, 4.0, 8.0, 16.0])
def test_blur_equals_the_padded_separable_convolution(sigma):
    x = torch.rand(2, 3, 64, 56, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    torch.testing.assert_close(gaussian_blur(x, sigma), _separable(x, sigma), rtol=0, atol=1e-12)


def test_blur_by_hand_on_three_pixels():
    """sigma 0.5: radius 1, kernel (e^-2, 1, e^-2) / (1 + 2e^-2); the border pixel reads its
    neighbour twice (reflection), the middle one both neighbours."""
    x = torch.tensor([[[[0.0, 1.0, 0.0]]]], dtype=torch.float64)
    e = torch.exp(torch.tensor(-2.0, dtype=torch.float64))
    side, centre = 2 * e / (1 + 2 * e), 1 / (1 + 2 * e)
    # rows: a single row reflects onto itself (blur matrix 1); columns: the 3-pixel kernel
    expected = torch.stack([side, centre, side]).view(1, 1, 1, 3)
    torch.testing.assert_close(gaussian_blur(x, 0.5), expected)


def test_blur_keeps_a_flat_image_flat_with_a_kernel_wider_than_it():
    """Kernel 97 px wide on a 10 px image: the reflections go on, and every row still sums
    to one."""
    x = torch.full((1, 3, 10, 10), 0.25)
    torch.testing.assert_close(gaussian_blur(x, 16.0), x)


def test_blur_distribution_runs_from_fine_to_coarse():
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    refs = distribution(x, "blur", 4)
    assert refs.shape == (4, 3, 64, 64)
    detail = [float((r - x[0]).abs().mean()) for r in refs]
    assert detail == sorted(detail)  # the more blur, the further from the image


def test_slic_segments_follow_an_edge_that_the_grid_cuts_through():
    """A dark left third and a light rest: no SLIC segment holds both sides of the edge,
    while the 16 px grid's cells straddle it (the edge at x = 21 is inside a cell)."""
    from svhn_xai.explain.references import grid_mask, slic_mask

    image = torch.full((3, 64, 64), 0.9)
    image[:, :, :21] = 0.1
    mask = slic_mask(image, 16)[0, 0]
    assert mask.shape == (64, 64) and int(mask.min()) == 0
    ids = torch.unique(mask)
    assert torch.equal(ids, torch.arange(len(ids)))  # consecutive ids
    assert 8 <= len(ids) <= 32  # about as many as asked
    left, right = set(mask[:, :21].unique().tolist()), set(mask[:, 21:].unique().tolist())
    assert not left & right
    grid = grid_mask(64, 16)[0, 0]
    assert set(grid[:, :21].unique().tolist()) & set(grid[:, 21:].unique().tolist())


def test_a_slic_map_is_constant_on_each_segment(model, house):
    from svhn_xai.explain import explain
    from svhn_xai.explain.references import slic_mask

    image, digit, _ = house
    e = explain(model, image, digit, "kernel_shap", segments="slic", n_samples=40,
                coalitions="paired", superpixel=16)  # fmt: skip
    x = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    mask = slic_mask(x, 16)[0, 0].numpy()
    relevance = e.relevance
    for segment in np.unique(mask):
        values = relevance[mask == segment]
        assert np.allclose(values, values[0], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("method", ["kernel_shap", "shapley_value_sampling"])
def test_where_slic_finds_one_segment_the_grid_takes_its_place(model, method):
    """Noise leaves SLIC with a single segment (checked first): the method falls back to the
    grid, so it still runs, in the grid's passes, with a map constant on each 16 px cell."""
    from svhn_xai.explain import explain
    from svhn_xai.explain.cost import estimated_passes
    from svhn_xai.explain.references import slic_mask

    noise = torch.rand(3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert int(slic_mask(noise, 16).max()) == 0
    image = (noise.permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    options = {"segments": "slic", "superpixel": 16, "n_samples": 10}
    e = explain(model, image, 0, method, **options)
    assert e.model_passes == estimated_passes(method, options)
    cells = e.relevance.reshape(4, 16, 4, 16)
    assert np.allclose(cells, cells[:, :1, :, :1], rtol=1e-4, atol=1e-7)
    assert len(np.unique(cells[:, 0, :, 0].round(7))) > 1  # more than one feature played


@pytest.mark.parametrize("method", ["kernel_shap", "shapley_value_sampling"])
def test_the_estimate_for_an_image_counts_its_slic_segments(model, house, method):
    """SLIC cuts the test house into 13 segments, not the grid's 16: the estimate for that
    image counts 13, as the explanation plays them (Shapley Value Sampling's passes grow with
    them; KernelShap's distinct coalitions hardly notice)."""
    from svhn_xai.explain import explain
    from svhn_xai.explain.cost import estimated_passes

    image, digit, _ = house
    options = {"segments": "slic", "superpixel": 16, "n_samples": 12}
    e = explain(model, image, digit, method, **options)
    assert e.model_passes == estimated_passes(method, options, 64, image)


def test_without_the_image_the_grids_cells_are_assumed(house):
    from svhn_xai.explain.cost import estimated_passes

    options = {"segments": "slic", "superpixel": 16, "n_samples": 1, "orders": "independent"}
    assert estimated_passes("shapley_value_sampling", options, 64) == 16 + 1
    assert estimated_passes("shapley_value_sampling", options, 64, house[0]) == 13 + 1
