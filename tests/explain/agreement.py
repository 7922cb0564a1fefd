"""Comparing our attributions with a library's on the same random images."""

import torch


def random_images(n: int, seed: int = 0) -> torch.Tensor:
    """``n`` uniform-noise images (n, 3, 64, 64) in [0, 1], the same for a seed."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 64, 64, generator=g)


def assert_agrees(ours: torch.Tensor, theirs: torch.Tensor, tolerance: float) -> None:
    """Equal within ``tolerance`` of the library's largest attribution (which is not zero)."""
    scale = theirs.abs().max()
    assert scale > 0
    torch.testing.assert_close(ours, theirs, rtol=0, atol=tolerance * float(scale))
