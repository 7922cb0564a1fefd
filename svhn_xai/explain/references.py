"""Reference inputs for attribution: single baselines, baseline distributions, dataset images.

All tensors are float in [0, 1] with the image's shape (1, 3, H, W) or a batch (N, 3, H, W).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch

BASELINES = ("black", "white", "blur", "mean", "noise")
DISTRIBUTIONS = ("noise", "blur", "dataset", "black_white")
DONOR_SPLIT = "extra"  # reference and donor images: a synthetic split nothing is scored on


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of (N, C, H, W) with reflected borders (as ``F.pad(mode="reflect")``);
    sigma in pixels, the kernel cut at 3 sigma.

    Computed as ``B_H @ x @ B_W.T`` with each axis's blur, borders included, one cached matrix:
    at 64 px, ten times faster than the separable convolution with its wide kernels (sigma up
    to 16 px for GradientShap's references), equal to it to float rounding.
    """
    rows = _blur_matrix(x.shape[-2], float(sigma), x.dtype, x.device)
    cols = _blur_matrix(x.shape[-1], float(sigma), x.dtype, x.device)
    return rows @ x @ cols.T


@functools.lru_cache(maxsize=32)
def _blur_matrix(size: int, sigma: float, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """(size, size): row j holds the kernel's weights on the pixels that output pixel j reads,
    positions outside [0, size) reflected back in (-1 -> 1, size -> size - 2, repeatedly)."""
    radius = max(1, int(3 * sigma))
    offsets = torch.arange(-radius, radius + 1)
    kernel = torch.exp(-0.5 * (offsets.double() / sigma) ** 2)
    kernel = kernel / kernel.sum()
    if size == 1:
        return torch.ones(1, 1, dtype=dtype, device=device)
    period = 2 * (size - 1)
    read = (torch.arange(size)[:, None] + offsets[None, :]) % period
    read = torch.where(read >= size, period - read, read)
    matrix = torch.zeros(size, size, dtype=torch.float64)
    matrix.scatter_add_(1, read, kernel.expand(size, -1).contiguous())
    return matrix.to(dtype=dtype, device=device)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's and numpy's global generators inside the block, restore them after.

    Captum draws its samples from both (GradientShap's path points from numpy, noise and
    subsets from torch), so one seed makes a run reproducible without changing the caller's.
    """
    state = np.random.get_state()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            np.random.seed(seed)
            yield
    finally:
        np.random.set_state(state)


def baseline(x: torch.Tensor, kind: str, seed: int = 0) -> torch.Tensor:
    """A reference image for each image of ``x`` (N, 3, H, W): what "absence of the digit"
    looks like.

    ``black``/``white``: constant 0/1; ``blur``: the image blurred with sigma = H/8, which
    keeps its colours but wipes out digit shapes; ``mean``: the image's mean colour;
    ``noise``: uniform noise seeded by ``seed``.
    """
    if kind == "black":
        return torch.zeros_like(x)
    if kind == "white":
        return torch.ones_like(x)
    if kind == "blur":
        return gaussian_blur(x, x.shape[-1] / 8)
    if kind == "mean":
        return x.mean(dim=(2, 3), keepdim=True).expand_as(x).clone()
    if kind == "noise":  # the same noise for every image of a batch, as for each alone
        g = torch.Generator().manual_seed(seed)
        noise = torch.rand(x.shape[1:], generator=g, dtype=x.dtype).to(x.device)
        return noise.expand_as(x).clone()
    raise ValueError(f"baseline must be one of {BASELINES}, got {kind!r}")


@functools.lru_cache(maxsize=4)
def dataset_images(count: int, size: int) -> torch.Tensor:
    """``count`` synthetic house numbers at the model's input size (N, 3, S, S).

    Taken from the synthetic *extra* split: never trained on, and disjoint from the images that
    are explained and scored (the synthetic test split and real photos), so that no image is
    ever its own donor or reference. The same images every call.
    """
    from svhn_xai.data.sources import open_source
    from svhn_xai.data.target import to_model_input

    source = open_source("synthetic", DONOR_SPLIT)
    images = [to_model_input(source[i], size).item.image for i in range(count)]
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(255)


def distribution(x: torch.Tensor, kind: str, count: int, seed: int = 0) -> torch.Tensor:
    """``count`` reference images (count, 3, H, W) for DeepLiftShap / GradientShap / KernelShap.

    ``noise``: uniform noise; ``blur``: the image blurred at sigmas from H/16 to H/4;
    ``dataset``: synthetic house numbers of :data:`DONOR_SPLIT`; ``black_white``: black and
    white alternating.
    """
    if kind == "noise":
        g = torch.Generator().manual_seed(seed)
        return torch.rand((count, *x.shape[1:]), generator=g, dtype=x.dtype).to(x.device)
    if kind == "blur":
        sigmas = np.geomspace(x.shape[-1] / 16, x.shape[-1] / 4, count)
        return torch.cat([gaussian_blur(x, float(s)) for s in sigmas])
    if kind == "dataset":
        return dataset_images(count, x.shape[-1]).to(x.device, x.dtype)
    if kind == "black_white":
        values = torch.arange(count, dtype=x.dtype, device=x.device) % 2
        return values.view(-1, 1, 1, 1).expand(count, *x.shape[1:]).clone()
    raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {kind!r}")


def grid_mask(size: int, cell: int) -> torch.Tensor:
    """Square-superpixel feature mask (1, 1, S, S): cells of ``cell`` x ``cell`` pixels, ids 0.."""
    ids = torch.arange(size) // cell
    per_row = (size + cell - 1) // cell
    return (ids[:, None] * per_row + ids[None, :]).view(1, 1, size, size)


def slic_mask(image: torch.Tensor, count: int) -> torch.Tensor:
    """SLIC superpixels of ``image`` (3, S, S) in [0, 1] (Achanta et al. 2012, scikit-image's):
    about ``count`` compact segments that follow its edges, as a feature mask (1, 1, S, S) with
    ids 0 .. n - 1 (n near ``count``; the image decides)."""
    from skimage.segmentation import slic

    pixels = image.detach().permute(1, 2, 0).double().cpu().numpy()
    labels = slic(pixels, n_segments=count, compactness=10.0, start_label=0, channel_axis=-1)
    _, ids = np.unique(labels, return_inverse=True)  # consecutive ids, whatever SLIC numbered
    return torch.from_numpy(ids.reshape(labels.shape)).view(1, 1, *labels.shape).to(image.device)
