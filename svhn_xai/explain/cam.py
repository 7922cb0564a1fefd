"""The CAM family (pytorch-grad-cam): a stage's feature maps, weighted, summed, upsampled.

Each method weighs the K feature maps A_k of one stage and keeps ReLU(sum_k w_k A_k):
Grad-CAM with the mean gradient, Grad-CAM++ with its second-order weights, XGradCAM with
gradients scaled by the activations, Score-CAM with the explained score of the image masked by
each map (one model pass per channel, no gradient), LayerCAM pixel by pixel with the positive
gradient, EigenCAM with the maps' first principal component (no target at all: the same map for
every digit). pytorch-grad-cam upsamples the map to the input bilinearly and scales it to
[0, 1]; the attribution is that map, the same on the three colour channels.

The explained score is a weighting of the logits (one head, or D minus E), so contrastive
targets need nothing special. The library's forward hooks are released in a ``finally``
(its context manager swallows IndexErrors), and its ``backward()`` leaves gradients on the
shared model's parameters, which are cleared again.

pytorch-grad-cam is imported when a CAM first runs: it pulls in torchvision, torch._dynamo,
scikit-learn and OpenCV, about 7 s of every cold start (the CLI's, the app's, each torchrun
rank's) that nothing else needs.
"""

from __future__ import annotations

import functools
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch

from svhn_xai.explain.context import Context
from svhn_xai.explain.gradient import GRADCAM_LAYER
from svhn_xai.explain.params import Param
from svhn_xai.explain.registry import ONE_PASS, Cost, register
from svhn_xai.explain.sharing import distinct_rows
from svhn_xai.model.network import STAGES

STAGE_CHANNELS = {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}

LAYER = Param(
    "layer",
    "choice",
    GRADCAM_LAYER,
    "Stage whose feature maps are weighed (the stage Guided GradCAM's measurement chose). "
    "With a 64 px input they are 16, 8, 4 and 2 px wide: a later stage knows more about "
    "digits, an earlier one localises more finely.",
    choices=STAGES,
)
EIGEN_SMOOTH = Param(
    "eigen_smooth",
    "bool",
    False,
    "Replace the weighted sum by the first principal component of the weighted maps "
    "(pytorch-grad-cam's denoising option).",
)


class _Score:
    """The explained score of an output row (K,), or of each of the rows (B, K) of a Score-CAM
    pass, as pytorch-grad-cam's target callable, for the image whose logit weights (K,) are
    ``weights``; ``calls`` (rows [done], shared by a batch's targets) over ``expected`` is the
    progress reported."""

    def __init__(
        self, ctx: Context, weights: torch.Tensor, calls: list[int], expected: int
    ) -> None:
        self.ctx = ctx
        self.weights = weights
        self.calls = calls
        self.expected = expected

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        self.calls[0] += len(output) if output.ndim > 1 else 1
        if self.ctx.progress is not None:
            self.ctx.progress(min(self.calls[0] / self.expected, 1.0))
        return output @ self.weights.to(output.dtype)


def _graph_from_here(_module: torch.nn.Module, _args: tuple, out: torch.Tensor) -> torch.Tensor:
    """A forward hook that makes the stage's output the start of the autograd graph."""
    return out.detach().requires_grad_(True)


@functools.cache
def _library() -> dict[str, Any]:
    """pytorch-grad-cam's CAM classes by name, imported on first use (see module docstring)."""
    import pytorch_grad_cam as pgc
    import pytorch_grad_cam.score_cam

    # Score-CAM draws a tqdm bar on stderr for every image, which nothing can turn off; progress
    # is reported through the target instead (it is called once per masked image)
    pytorch_grad_cam.score_cam.tqdm = SimpleNamespace(tqdm=lambda iterable, **_: iterable)

    class EigenCAM(pgc.EigenCAM):
        """pytorch-grad-cam's EigenCAM with the economy SVD. The library's full SVD also builds
        a C x C basis (256 x 256 at layer3) that it never uses: 23 ms an image on this CPU
        against 0.8 ms, for the same first principal component, its sign included (checked
        against the library's own class in the tests)."""

        def get_cam_image(self, input_tensor, target_layer, target_category, activations,
                          grads, eigen_smooth):  # fmt: skip
            return first_component(activations)

    class ScoreCAM(pgc.ScoreCAM):
        """pytorch-grad-cam's Score-CAM with each distinct image of a batch masked and run
        once. A batch of pairs holds a photo once per digit explained, and its masks come from
        its feature maps alone: the copies share the passes and read their own scores from
        them. The weights are the library's (checked against its own class in the tests)."""

        def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
            with torch.no_grad():
                maps = torch.from_numpy(activations).to(self.device)
                up = torch.nn.UpsamplingBilinear2d(size=input_tensor.shape[-2:])(maps)
                low = up.flatten(2).min(-1)[0][..., None, None]
                high = up.flatten(2).max(-1)[0][..., None, None]
                up = (up - low) / (high - low + 1e-8)  # (N, C, S, S): each map in [0, 1]
                n, channels = activations.shape[:2]
                first, group = distinct_rows(input_tensor) or (torch.arange(n),) * 2
                size = getattr(self, "batch_size", 16)
                scores = torch.empty(n, channels)
                for i, image in enumerate(first.tolist()):
                    rows = (group == i).nonzero()[:, 0].tolist()  # the copies of this image
                    for j in range(0, channels, size):
                        masks = up[image, j : j + size, None]  # (B, 1, S, S)
                        out = self.model(input_tensor[image, None] * masks)
                        for row in rows:
                            scores[row, j : j + size] = targets[row](out).float().cpu()
                return torch.softmax(scores, dim=-1).numpy()

    names = ("GradCAM", "GradCAMPlusPlus", "XGradCAM", "LayerCAM")
    return {
        **{name: getattr(pgc, name) for name in names},
        "EigenCAM": EigenCAM,
        "ScoreCAM": ScoreCAM,
    }


def _run(name: str, ctx: Context, **options: object) -> torch.Tensor:
    """The CAM ``name`` (a pytorch-grad-cam class name) of ``ctx``'s images."""
    network = ctx.network
    layer = getattr(network, ctx.params["layer"])
    # The maps need the score's gradient at the stage and nothing below it: with the graph cut
    # at the stage (and the weights frozen, see :func:`~svhn_xai.explain.copies.folded`), the
    # backward stops there, where pytorch-grad-cam's loss.backward() would go on to every
    # weight of the network (more than a whole input gradient), and the gradient-free methods
    # build no graph at all. The gradient at the stage, and so the map, is the same.
    frozen = [p for p in network.parameters() if p.requires_grad]
    cam = _library()[name](network, [layer])
    # prepended: the library's hooks, registered before it, must see the cut output
    cut = (
        layer.register_forward_hook(_graph_from_here, prepend=True) if cam.uses_gradients else None
    )
    if "batch_size" in ctx.params:
        cam.batch_size = ctx.params["batch_size"]
    # rows scored: Score-CAM's masked images, one per channel, else the image itself
    expected = STAGE_CHANNELS[ctx.params["layer"]] if name == "ScoreCAM" else 1
    weights = ctx.output_weights(len(ctx.model.digits)).expand(len(ctx.x), -1)
    calls = [0]
    targets = [_Score(ctx, w, calls, expected * len(ctx.x)) for w in weights]
    try:
        for p in frozen:  # none on the folded copy; the model's own, where it runs itself
            p.requires_grad_(False)
        heat = cam(ctx.x, targets=targets, **options)  # (N, S, S) in [0, 1]
    finally:
        for p in frozen:
            p.requires_grad_(True)
        cam.activations_and_grads.release()
        if cut is not None:
            cut.remove()
        network.zero_grad(set_to_none=True)
    heat = torch.from_numpy(heat).to(ctx.x.dtype)
    return (heat[:, None] / 3).expand(-1, 3, -1, -1).clone()  # the channel sum is the map


def _gradient_cam(key: str, name: str, description: str, cam: str) -> None:
    @register(key, name, "cam", description, (LAYER, EIGEN_SMOOTH), batched=True, cost=ONE_PASS)
    def run(ctx: Context) -> torch.Tensor:
        return _run(cam, ctx, eigen_smooth=ctx.params["eigen_smooth"])


_gradient_cam(
    "grad_cam",
    "Grad-CAM",
    "A stage's feature maps weighted by their mean gradient (Selvaraju et al. 2017).",
    "GradCAM",
)
_gradient_cam(
    "grad_cam_plus_plus",
    "Grad-CAM++",
    "Feature maps weighted by positive gradients with second-order pixel weights, so that "
    "several instances of a class all count (Chattopadhay et al. 2018).",
    "GradCAMPlusPlus",
)
_gradient_cam(
    "xgrad_cam",
    "XGradCAM",
    "Feature maps weighted by gradients scaled by the normalised activations, an axiom-based "
    "Grad-CAM (Fu et al. 2020).",
    "XGradCAM",
)
_gradient_cam(
    "layer_cam",
    "LayerCAM",
    "Each feature-map pixel weighted by its own positive gradient: finer maps from earlier "
    "stages (Jiang et al. 2021).",
    "LayerCAM",
)


@register(
    "score_cam",
    "Score-CAM",
    "cam",
    "Each feature map, upsampled and scaled to [0, 1], masks the image; its weight is the "
    "softmax over maps of the masked images' scores: no gradient (Wang et al. 2020). One "
    "model pass per channel (256 at layer3).",
    (
        LAYER,
        Param(
            "batch_size",
            "int",
            64,
            "Masked images per model pass (speed vs memory).",
            low=1,
            high=1024,
        ),
    ),
    batched=True,
    cost=Cost(lambda p, size: 1 + STAGE_CHANNELS[p["layer"]], gradient_free=True),
)
def score_cam(ctx: Context) -> torch.Tensor:
    return _run("ScoreCAM", ctx)


@register(
    "eigen_cam",
    "EigenCAM",
    "cam",
    "The first principal component of a stage's feature maps (Muhammad & Yeasin 2020): no "
    "gradient and no target, so the same map for every digit (class sensitivity at chance).",
    (LAYER,),
    batched=True,
    cost=Cost(lambda p, size: 1, gradient_free=True),
)
def eigen_cam(ctx: Context) -> torch.Tensor:
    return _run("EigenCAM", ctx)


def first_component(activations: np.ndarray) -> np.ndarray:
    """Each image's activations (N, C, H, W), centred over positions, projected on their first
    principal component: (N, H, W) float32, as ``get_2d_projection`` of pytorch-grad-cam."""
    activations = np.where(np.isnan(activations), 0, activations)
    n, c, h, w = activations.shape
    flat = activations.reshape(n, c, h * w).transpose(0, 2, 1)  # (N, H x W, C)
    flat = flat - flat.mean(axis=1, keepdims=True)
    _, _, vt = np.linalg.svd(flat, full_matrices=False)  # one stacked call, image by image
    return np.float32((flat @ vt[:, 0, :, None]).reshape(n, h, w))
