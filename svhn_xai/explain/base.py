"""The explainer contract: one registry of specs, one ``explain()`` call, one result type.

A method is a function ``run(ctx) -> attribution`` registered with its name, family and
parameters (:func:`register`). :func:`explain` validates the parameters, runs the method on a
(1, 3, S, S) input under the model's lock, counts model passes, and guarantees that no hook
added during the run survives it, also when the method raises.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from svhn_xai.errors import ParameterError
from svhn_xai.explain.blas import one_blas_thread
from svhn_xai.explain.context import Context
from svhn_xai.explain.copies import folded
from svhn_xai.explain.hooks import hooks_released, model_lock
from svhn_xai.explain.params import validate
from svhn_xai.explain.precision import check_precision
from svhn_xai.explain.registry import ExplainerSpec, get_spec
from svhn_xai.model.network import DigitResNet18
from svhn_xai.scoring.heatmap import normalise, reduce_channels, smooth


@dataclass
class Explanation:
    """The result of :func:`explain`.

    Attributes:
        attribution: float32 (3, S, S), the method's raw attribution for the digit's logit
            (with ``contrast`` E: for the digit's logit minus E's).
        relevance: float32 (S, S), the attribution summed over colour channels (signed).
        probability: the model's sigmoid probability that the digit is present.
        logit: the explained output: the digit's logit, or its logit minus E's.
        params: every parameter as used, defaults included.
        seconds: wall time of the attribution alone.
        model_passes: images pushed through the model (forward passes x batch size).
        finite: whether every attribution value is finite; a non-finite map is shown with its
            non-finite values at 0 but never scored
            (:func:`svhn_xai.scoring.localisation.localise`).
        halves: for a sampling method that can split its samples, the maps (3, S, S) that each
            half of them gives (:mod:`svhn_xai.explain.halves`), in the attribution's units;
            None otherwise (and in a batch).
    """

    method: str
    digit: int
    attribution: np.ndarray
    relevance: np.ndarray
    probability: float
    logit: float
    params: dict[str, Any]
    seconds: float
    model_passes: int
    reduction: str
    notes: list[str] = field(default_factory=list)
    contrast: int | None = None  # the digit E of "why D and not E"
    finite: bool = True  # False when the method produced NaN or inf anywhere
    halves: tuple[np.ndarray, np.ndarray] | None = None

    def heatmap(
        self, reduction: str | None = None, clip_percentile: float = 100.0, sigma: float = 0.0
    ) -> np.ndarray:
        """Heatmap (S, S): the reduced map (``reduction`` defaults to the method's own),
        smoothed by a Gaussian of ``sigma`` pixels, divided by its largest magnitude: in
        [-1, 1] with zero relevance at 0 (in [0, 1] for non-negative reductions)."""
        reduced = reduce_channels(self.attribution, reduction or self.reduction)
        return normalise(smooth(reduced, sigma), clip_percentile)


def as_input(image: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """uint8 (S, S, 3) or float (3, S, S) / (1, 3, S, S) in [0, 1] -> float32 (1, 3, S, S)."""
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ParameterError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
        x = torch.from_numpy(image.copy()).permute(2, 0, 1).float().div(255)
    else:
        x = image.detach().float()
    x = x.reshape(1, *x.shape[-3:])
    if tuple(x.shape[1:]) != (3, size, size):
        raise ParameterError(
            f"image must be the model's input, 3x{size}x{size}; got {tuple(x.shape[1:])} "
            "(crop and resize it with svhn_xai.data.target.to_model_input)"
        )
    return x


def _find_rows(
    x: torch.Tensor, inputs: Any, out: torch.Tensor, found: dict[int, torch.Tensor]
) -> None:
    """Put into ``found`` the logits (outputs,) of every row of ``x`` (N, 3, S, S) that a
    forward pass's ``inputs`` hold bit for bit: how :func:`explain` reads the probability from a
    pass the method makes anyway (Saliency's one pass, DeepLift's input half, a perturbation
    method's clean pass) instead of paying for one more."""
    if not (
        isinstance(inputs, torch.Tensor)
        and inputs.shape[1:] == x.shape[1:]
        and inputs.device == x.device
        and inputs.dtype == x.dtype
        and out.dtype == x.dtype  # a bfloat16 pass (precision): the probability needs float32
        and out.ndim == 2
    ):
        return
    flat, rows = inputs.detach().flatten(1), x.flatten(1)
    head = min(64, flat.shape[1])  # a cheap first look, then the whole row for candidates
    for i in range(len(x)):
        if i in found:
            continue
        candidates = (flat[:, :head] == rows[i, :head]).all(1).nonzero()[:, 0]
        for j in candidates.tolist():
            if torch.equal(flat[j], rows[i]):
                found[i] = out[j].detach().float()
                break


def _heads(
    model: DigitResNet18, digits: Sequence[int], contrast: int | None
) -> tuple[list[int], int | None]:
    """The model's head of each digit and of the ``contrast`` digit, each checked."""
    for digit in digits:
        if not isinstance(digit, int) or not 0 <= digit <= 9:
            raise ParameterError(f"digit must be 0-9, got {digit!r}")
    if contrast is not None and (
        not isinstance(contrast, int) or not 0 <= contrast <= 9 or contrast in digits
    ):
        raise ParameterError(f"contrast must be a digit 0-9 other than {digits[0]}")
    try:
        return [model.head(d) for d in digits], None if contrast is None else model.head(contrast)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


def _explain(
    model: DigitResNet18,
    images: Sequence[np.ndarray | torch.Tensor],
    digits: Sequence[int],
    method: str,
    progress: Callable[[float], None] | None,
    contrast: int | None,
    params: dict[str, Any],
    halves: bool = False,
) -> list[Explanation]:
    """The one explanation path: ``images`` in one :class:`Context` (a batch for a ``batched``
    method, else one image), an :class:`Explanation` per image; with ``halves``, one image's
    map keeps the maps of its samples' halves where its method splits them."""
    spec = get_spec(method)
    values = validate(spec.params, params, method)
    heads, other = _heads(model, digits, contrast)
    # on the model's device, in its own precision: a float64 copy gives exact-arithmetic
    # checks their answer
    weight = next(model.parameters())
    x = torch.cat([as_input(image, model.input_size) for image in images])
    x = x.to(weight.device, weight.dtype)
    check_precision(values.get("precision", "float32"), x)
    found: dict[int, torch.Tensor] = {}  # row of x -> its logits, from the method's passes

    def observe(_module: torch.nn.Module, args: tuple, out: torch.Tensor) -> None:
        # counted on the output: DeepLift's own pre-hook doubles the batch with its baselines
        ctx.model_passes += out.shape[0]
        if len(found) < len(x):
            _find_rows(x, args[0], out, found)

    ctx = Context(
        model,
        x,
        heads[0],
        values,
        progress,
        contrast=other,
        observe=observe,
        heads=tuple(heads) if len(heads) > 1 else None,
    )
    if halves and len(x) == 1 and spec.splits(values):  # its samples' halves, recorded
        ctx.halves = []
    with model_lock(model):
        if model.training:
            raise ParameterError("the model must be in eval() mode to be explained")
        ctx.runner = folded(model)
        with hooks_released(model), hooks_released(ctx.runner):
            model.register_forward_hook(observe)
            ctx.runner.register_forward_hook(observe)
            tic = time.perf_counter()
            with one_blas_thread():
                attribution = spec.run(ctx)
            seconds = time.perf_counter() - tic
            missing = [i for i in range(len(x)) if i not in found]
            if missing:  # no pass of the method saw these images unchanged (only noisy copies)
                with torch.no_grad():
                    found.update(zip(missing, ctx.runner(x[missing]).float()))
    attributions = attribution.detach().float().reshape(len(x), 3, *x.shape[-2:]).cpu().numpy()
    explanations = [
        _explanation(
            spec,
            digits[i],
            attributions[i],
            found[i],
            heads[i],
            other,
            values,
            seconds / len(x),
            round(ctx.model_passes / len(x)),
            contrast,
        )
        for i in range(len(x))
    ]
    explanations[0].halves = _halves(ctx.halves, attributions.shape[1:])  # one image only
    return explanations


def _halves(
    recorded: list[tuple[torch.Tensor, torch.Tensor]] | None, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The two half-sample maps (3, S, S) of one image, each the mean of those recorded (one
    pair per draw); None where none were."""
    if not recorded:
        return None
    return tuple(
        torch.stack([pair[k] for pair in recorded]).float().mean(0).reshape(shape).cpu().numpy()
        for k in (0, 1)
    )


def _explanation(
    spec: ExplainerSpec,
    digit: int,
    attribution: np.ndarray,
    logits: torch.Tensor,
    head: int,
    other: int | None,
    values: dict[str, Any],
    seconds: float,
    passes: int,
    contrast: int | None,
) -> Explanation:
    notes = []
    # kept as computed: a NaN or inf map is flagged and never scored, not passed off as zeros
    finite = bool(np.isfinite(attribution).all())
    if not finite:
        notes.append("non-finite attribution values (NaN or inf): this map is not scored")
    elif not np.any(attribution):
        notes.append("the attribution is zero everywhere: the heatmap is empty")
    return Explanation(
        method=spec.key,
        digit=digit,
        attribution=attribution,
        relevance=attribution.sum(0),
        probability=float(torch.sigmoid(logits[head])),
        logit=float(logits[head] - (0 if other is None else logits[other])),
        params=values,
        seconds=seconds,
        model_passes=passes,
        reduction=spec.reduction,
        notes=notes,
        contrast=contrast,
        finite=finite,
    )


def explain(
    model: DigitResNet18,
    image: np.ndarray | torch.Tensor,
    target_digit: int,
    method: str,
    progress: Callable[[float], None] | None = None,
    contrast: int | None = None,
    **params: Any,
) -> Explanation:
    """Explain why ``model`` thinks ``target_digit`` is (or is not) in ``image``.

    Args:
        model: a :class:`DigitResNet18` in eval mode.
        image: the model input, uint8 (S, S, 3) or float (3, S, S) in [0, 1].
        target_digit: the digit whose head is explained.
        method: a registry key (see ``python -m svhn_xai methods``).
        progress: optional callback with the fraction done, for slow perturbation methods.
        contrast: a second digit E: explain "why ``target_digit`` and not E", the difference
            of the two heads' logits (a function of the output, so any method explains it).
        **params: the method's parameters; unknown or out-of-range ones raise ParameterError.

    A sampling method's map comes with the maps of each half of its samples where the method
    keeps them apart (:attr:`Explanation.halves`, for its stability).
    """
    return _explain(model, [image], [target_digit], method, progress, contrast, params, True)[0]


def explain_batch(
    model: DigitResNet18,
    images: Sequence[np.ndarray | torch.Tensor],
    digits: Sequence[int],
    method: str,
    progress: Callable[[float], None] | None = None,
    **params: Any,
) -> list[Explanation]:
    """:func:`explain` for many (image, digit) pairs: the same Explanations, to float rounding.

    A method registered ``batched`` explains all ``images`` in one call, its passes shared
    (one backward for Saliency; every image's perturbations in the same model passes); each
    Explanation's ``seconds`` and ``model_passes`` are then the batch's divided by its size.
    The others, and any method with SmoothGrad on, explain one pair at a time; methods that
    draw random samples seed them per call, so that the maps do not depend on the batch. No
    map keeps its samples' halves (a dataset's maps are not each checked for stability).
    """
    if len(images) != len(digits):
        raise ParameterError(f"{len(images)} images but {len(digits)} digits")
    if not images:
        return []
    spec = get_spec(method)
    if spec.batched and params.get("smooth", "none") == "none" and len(images) > 1:
        return _explain(model, images, digits, method, progress, None, params)
    return [
        _explain(model, [im], [d], method, None, None, params)[0] for im, d in zip(images, digits)
    ]
