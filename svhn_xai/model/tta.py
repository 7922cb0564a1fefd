"""Test-time augmentation: a prediction averaged over a few views of the same crop.

A measured option of ``test --tta`` only (JSON ``balanced_accuracy_tta``, beside the plain
``balanced_accuracy``, which never includes it). Explanations never use it: a map explains one
forward pass of the model, not an average of seven.

The views stay inside what training showed the model: its crops' sides were jittered by up to
8 % of the digits' extent (``TrainConfig.jitter``), so each view moves the crop by 4 % of its
side or zooms it by 6 %.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from svhn_xai.model.predict import autocast, to_input

# (shift x, shift y, zoom) of each view, shifts as fractions of the side; the first is the crop
VIEWS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.0, 1.0),
    (0.04, 0.0, 1.0),
    (-0.04, 0.0, 1.0),
    (0.0, 0.04, 1.0),
    (0.0, -0.04, 1.0),
    (0.0, 0.0, 0.94),
    (0.0, 0.0, 1.06),
)


def views(x: torch.Tensor) -> torch.Tensor:
    """Every view of the images ``x`` (N, C, S, S), float: (len(VIEWS), N, C, S, S).

    A view with shift (dx, dy) shows the content moved left by dx and up by dy of the side; zoom
    z > 1 shows less of the photo, larger. Edges repeat the border pixels (as a crop that reached
    past the photo would not: the crops' margins keep that rare)."""
    n = len(x)
    out = []
    for dx, dy, zoom in VIEWS:
        # affine_grid works in [-1, 1] coordinates: a shift of f of the side is 2f there
        theta = torch.tensor(
            [[1 / zoom, 0.0, 2 * dx], [0.0, 1 / zoom, 2 * dy]], dtype=x.dtype, device=x.device
        ).expand(n, 2, 3)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        out.append(
            F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
        )
    return torch.stack(out)


@torch.inference_mode()
def predict_tta(
    model: torch.nn.Module, images: torch.Tensor, device: torch.device, amp: bool = False
) -> np.ndarray:
    """Probabilities (N, heads) for uint8 images (N, 3, S, S): the mean over :data:`VIEWS` of
    each view's sigmoid, in batches of 512 images."""
    model.eval()
    out = []
    for start in range(0, len(images), 512):
        x = to_input(images[start : start + 512], device)
        stacked = views(x)
        with autocast(device, amp):
            logits = model(stacked.flatten(0, 1).contiguous(memory_format=torch.channels_last))
        probs = torch.sigmoid(logits.float()).view(len(VIEWS), len(x), -1).mean(dim=0)
        out.append(probs.cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, len(model.digits)), dtype=np.float32)
