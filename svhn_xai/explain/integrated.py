"""Integrated Gradients (Sundararajan et al. 2017) as Captum's ``IntegratedGradients`` computes
it, with the first convolution run on two images instead of on every path point.

IG's attribution is (x - b) times the weighted sum, over the path points
x_k = b + α_k (x - b), of the input gradient there: Σ_k w_k ∇f(x_k). The network's first layer
is a convolution, an affine map, and that gives two exact shortcuts:

- forward: conv(x_k) = conv(b) + α_k (conv(x) - conv(b)), so two convolutions serve every point;
- backward: ∇f(x_k) = convᵀ(g_k), with g_k the gradient at the convolution's output, and convᵀ
  is linear, so Σ_k w_k ∇f(x_k) = convᵀ(Σ_k w_k g_k): one transposed convolution for all points.

On this project's ResNet-18 at 64x64 the first convolution costs about a tenth of a forward and
backward pass on a CPU (the gradient of its 3-channel input alone 8 %), more than the one row
that :func:`~svhn_xai.explain.base.explain` adds for the probability. The path points, their
weights (Captum's quadrature rules) and the order of the rows in each pass are Captum's; the
attributions equal Captum's to float rounding (``tests/explain/test_integrated.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from captum.attr._utils.approximation_methods import approximation_parameters

from svhn_xai.model.network import DigitResNet18


def quadrature(method: str, n_steps: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Captum's rule ``method`` with ``n_steps`` points: weights w_k and positions α_k in
    [0, 1] along the path, each (n_steps,), in ``like``'s dtype and device."""
    weights, alphas = approximation_parameters(method)
    return (
        torch.tensor(weights(n_steps), dtype=like.dtype, device=like.device),
        torch.tensor(alphas(n_steps), dtype=like.dtype, device=like.device),
    )


def integrated_gradients(
    network: DigitResNet18,
    x: torch.Tensor,
    baselines: torch.Tensor,
    output_weights: torch.Tensor,
    n_steps: int,
    method: str = "gausslegendre",
    internal_batch_size: int = 64,
    clean: torch.Tensor | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """IG attributions of ``(network(x) * output_weights).sum(-1)``, row by row.

    Args:
        network: the model (or a private copy of it); its ``conv1`` and ``after_conv1`` run.
        x: images (N, 3, S, S).
        baselines: a reference image for each image, (N, 3, S, S).
        output_weights: the explained quantity as weights of the logits: (outputs,) for every
            image (one head; +1/-1 for a contrast), or (N, outputs), a row per image.
        n_steps, method: the quadrature (Captum's ``n_steps`` and ``method``).
        internal_batch_size: rows per pass; as in Captum, each pass takes
            max(1, internal_batch_size // N) path points of every image.
        clean: images (M, 3, S, S) whose logits to compute in the first pass as well (explain()
            reads the probability from them).
        progress: called after each pass with the fraction of path points done.

    Returns:
        The attributions (N, 3, S, S) and ``clean``'s logits (M, outputs), or None without it.
    """
    conv = network.conv1
    n = len(x)
    baselines = baselines.expand_as(x)
    step_weights, alphas = quadrature(method, n_steps, x)
    rows_weights = output_weights.expand(n, -1) if output_weights.ndim == 1 else output_weights
    with torch.enable_grad():  # the input gradient of conv is taken once, at the end
        image = x.detach().requires_grad_()
        end = conv(image)
    with torch.no_grad():
        start = conv(baselines)
        span = end.detach() - start
        clean_z = None if clean is None else (end.detach() if clean is x else conv(clean))
    per_pass = max(1, internal_batch_size // n)
    total = torch.zeros_like(start)  # Σ_k w_k g_k, one per image
    clean_logits = None
    for k in range(0, n_steps, per_pass):
        alpha = alphas[k : k + per_pass].view(-1, 1, 1, 1, 1)
        # rows ordered point by point, every image at each point, as Captum orders them
        z = (start + alpha * span).flatten(0, 1).requires_grad_()
        with torch.enable_grad():
            if clean_z is not None and clean_logits is None:
                logits = network.after_conv1(torch.cat([z, clean_z]))
                logits, clean_logits = logits[: len(z)], logits[len(z) :].detach()
            else:
                logits = network.after_conv1(z)
            # each row's quantity scaled by its point's weight: its gradient is then w_k g_k
            scale = (step_weights[k : k + per_pass].view(-1, 1, 1) * rows_weights).flatten(0, 1)
            (grad,) = torch.autograd.grad((logits * scale).sum(), z)
        # point by point, in place: the backward hands the gradient back channels-last, and a
        # sum over its first dimension reads that layout 4x slower
        for point in grad.unflatten(0, (-1, n)):
            total += point
        if progress is not None:
            progress(min(k + per_pass, n_steps) / n_steps)
    (gradient,) = torch.autograd.grad(end, image, total)
    return (x - baselines) * gradient, clean_logits
