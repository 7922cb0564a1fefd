"""Random augmentation of a whole batch at once, on the training device.

Photographs of house numbers differ from our synthetic ones (and from each other) in framing,
colour and exposure; these cheap, label-preserving changes make the model care about digit
shapes alone. No flips: a mirrored 2 is not a 2.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def augment_batch(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Augment float images (B, 3, H, W) in [0, 1]; returns a new tensor of the same shape.

    Per image: a shift of up to 6 % and a zoom of +-8 % (border pixels repeat), a random
    permutation of the colour channels, inversion with probability 0.2, and contrast and
    brightness jitter.
    """
    b, device = images.shape[0], images.device

    def uniform(*shape: int) -> torch.Tensor:
        return torch.rand(*shape, generator=generator, device="cpu").to(device)

    scale = 1 + (uniform(b) - 0.5) * 0.16
    shift = (uniform(b, 2) - 0.5) * 0.12
    theta = torch.zeros(b, 2, 3, device=device)
    theta[:, 0, 0], theta[:, 1, 1] = scale, scale
    theta[:, :, 2] = shift
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    out = F.grid_sample(images, grid, padding_mode="border", align_corners=False)

    perm = torch.argsort(uniform(b, 3), dim=1)
    out = torch.gather(out, 1, perm[:, :, None, None].expand_as(out))
    invert = (uniform(b) < 0.2).float()[:, None, None, None]
    out = invert * (1 - out) + (1 - invert) * out
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    contrast = (0.6 + uniform(b) * 0.8)[:, None, None, None]
    brightness = ((uniform(b) - 0.5) * 0.3)[:, None, None, None]
    return ((out - mean) * contrast + mean + brightness).clamp(0, 1)
