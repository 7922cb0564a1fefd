"""The explainer contract: one registry of specs, one ``explain()`` call, one result type.

A method is a function ``run(ctx) -> attribution`` registered with its name, family and
parameters (:func:`register`). :func:`explain` validates the parameters, runs the method on a
(1, 3, S, S) input under the model's lock, counts model passes, and guarantees that no hook
added during the run survives it, also when the method raises.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import torch

from svhn_xai.errors import ParameterError
from svhn_xai.explain.blas import one_blas_thread
from svhn_xai.explain.copies import folded, submodules
from svhn_xai.explain.params import Param, validate
from svhn_xai.heatmap import normalise, reduce_channels, smooth
from svhn_xai.model import DigitResNet18

FAMILIES = ("gradient", "cam", "perturbation", "relevance propagation")


class Contrast(torch.nn.Module):
    """``model``'s logit of head ``head`` minus that of head ``other``, one column (N, 1).

    "Why D and not E" as a network of its own, so that every method that explains an output
    column (Captum's, the perturbation methods) explains the difference without knowing it.
    """

    def __init__(self, model: torch.nn.Module, head: int, other: int) -> None:
        super().__init__()
        self.model = model
        self.head = head
        self.other = other

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        return out[:, self.head, None] - out[:, self.other, None]


class CleanFirst(torch.nn.Module):
    """``net`` with the clean images ``x`` (N, 3, S, S) appended to its first batch, and their
    rows' outputs dropped again: for methods whose own passes see only changed copies of ``x``
    (GradientShap's noisy samples, LIME's and RISE's masked copies), so that :func:`explain`
    reads the probability from a pass they make anyway at the cost of one more row in it."""

    def __init__(self, net: torch.nn.Module, x: torch.Tensor) -> None:
        super().__init__()
        self.net = net
        self.x = x
        self.pending = True

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        if not self.pending:
            return self.net(batch)
        self.pending = False
        return self.net(torch.cat([batch, self.x.to(batch)]))[: len(batch)]


@dataclass
class Context:
    """What a method gets: the model, the input (N, 3, S, S) in [0, 1], what to explain.

    The explained quantity is ``net(x)[:, target]``: the logit of head ``head``, or, with
    ``contrast`` set, that logit minus the logit of head ``contrast``. Methods that hold the
    model themselves (CAM, LRP) use :meth:`output_weights`, the same quantity as a weighting of
    the model's logits. N is 1, or, for a method registered ``batched`` explained by
    :func:`explain_batch`, the batch, with ``heads`` one head per row (and no contrast).
    """

    model: DigitResNet18
    x: torch.Tensor
    head: int
    params: dict[str, Any]
    progress: Callable[[float], None] | None = None
    model_passes: int = 0  # images through the model; a hook on ``model`` counts its passes
    contrast: int | None = None  # head of the digit E in "why D and not E"
    # explain()'s forward hook: counts passes and reads the probability from the one holding x
    observe: Callable[[torch.nn.Module, tuple, torch.Tensor], None] | None = None
    heads: tuple[int, ...] | None = None  # one head per row of x, for a batch

    # what the methods run: the model with its BatchNorms folded (:func:`folded`), set by
    # explain() under the model's lock; the model itself where it is not set
    runner: torch.nn.Module | None = None

    @property
    def network(self) -> torch.nn.Module:
        """The network the methods call and hook: the same function as :attr:`model`."""
        return self.model if self.runner is None else self.runner

    @cached_property
    def net(self) -> torch.nn.Module:
        """The network whose output column :attr:`target` is explained."""
        if self.contrast is None:
            return self.network
        return Contrast(self.network, self.head, self.contrast)

    @contextmanager
    def watching(self, copy: torch.nn.Module) -> Iterator[None]:
        """Count the passes of ``copy``, a private copy of the model that a method runs instead
        (LRP's canonized one), as the model's own are counted, while the block runs."""
        handle = copy.register_forward_hook(self.observe) if self.observe else None
        try:
            yield
        finally:
            if handle is not None:
                handle.remove()

    def saw(self, images: torch.Tensor, logits: torch.Tensor) -> None:
        """Count ``images`` (B, 3, S, S), with their ``logits`` (B, outputs), as a pass of the
        model, for a method that runs the network's layers without calling it (Integrated
        Gradients), so that :attr:`observe` never saw them."""
        if self.observe is not None:
            self.observe(self.network, (images,), logits)

    def net_with_clean_pass(self) -> torch.nn.Module:
        """:attr:`net` for a method none of whose passes sees ``x`` unchanged (see
        :class:`CleanFirst`)."""
        return CleanFirst(self.net, self.x)

    @property
    def target(self) -> int | list[int]:
        """The explained output column, as Captum takes it: one for all rows, or one per row."""
        if self.heads is not None:
            return list(self.heads)
        return self.head if self.contrast is None else 0

    def output_weights(self, outputs: int) -> torch.Tensor:
        """Weights w of the model's logits with explained quantity = (logits * w).sum(-1):
        (outputs,), or (N, outputs), a row per image, for a batch."""
        if self.heads is not None:
            w = torch.zeros(len(self.heads), outputs, dtype=self.x.dtype, device=self.x.device)
            w[torch.arange(len(self.heads)), list(self.heads)] = 1
            return w
        w = torch.zeros(outputs, dtype=self.x.dtype, device=self.x.device)
        w[self.head] = 1
        if self.contrast is not None:
            w[self.contrast] = -1
        return w


@dataclass(frozen=True)
class ExplainerSpec:
    key: str
    name: str
    description: str
    family: str
    params: tuple[Param, ...]
    run: Callable[[Context], torch.Tensor]
    reduction: str  # default channel reduction for the heatmap (see heatmap.reduce_channels)
    batched: bool = False  # run() takes a batch of images, one head each (see Context)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "family": self.family,
            "reduction": self.reduction,
            "params": {p.name: p.to_dict() for p in self.params},
        }


REGISTRY: dict[str, ExplainerSpec] = {}


def register(
    key: str,
    name: str,
    family: str,
    description: str,
    params: tuple[Param, ...] = (),
    reduction: str = "positive",
    batched: bool = False,
) -> Callable[[Callable[[Context], torch.Tensor]], Callable[[Context], torch.Tensor]]:
    """Decorator: add ``run`` to :data:`REGISTRY` under ``key``; ``batched`` when ``run``
    explains a batch of images in one go (:func:`explain_batch`)."""
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}")

    def decorate(run: Callable[[Context], torch.Tensor]) -> Callable[[Context], torch.Tensor]:
        spec = ExplainerSpec(key, name, description, family, params, run, reduction, batched)
        REGISTRY[key] = spec
        return run

    return decorate


def get_spec(method: str) -> ExplainerSpec:
    if method not in REGISTRY:
        raise ParameterError(f"unknown method {method!r}; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[method]


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
            non-finite values at 0 but never scored (:func:`svhn_xai.localisation.localise`).
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

    def heatmap(
        self, reduction: str | None = None, clip_percentile: float = 100.0, sigma: float = 0.0
    ) -> np.ndarray:
        """Heatmap (S, S): the reduced map (``reduction`` defaults to the method's own),
        smoothed by a Gaussian of ``sigma`` pixels, divided by its largest magnitude: in
        [-1, 1] with zero relevance at 0 (in [0, 1] for non-negative reductions)."""
        reduced = reduce_channels(self.attribution, reduction or self.reduction)
        return normalise(smooth(reduced, sigma), clip_percentile)


_LOCKS: weakref.WeakKeyDictionary[torch.nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: torch.nn.Module) -> threading.RLock:
    """The lock every user of a shared model holds while its hooks may be attached."""
    with _LOCKS_GUARD:
        if model not in _LOCKS:
            _LOCKS[model] = threading.RLock()
        return _LOCKS[model]


def _hook_dicts(module: torch.nn.Module) -> list[dict]:
    names = (
        "_forward_hooks",
        "_forward_pre_hooks",
        "_backward_hooks",
        "_backward_pre_hooks",
        "_forward_hooks_with_kwargs",
        "_forward_pre_hooks_with_kwargs",
        "_forward_hooks_always_called",
    )
    return [getattr(module, n) for n in names if isinstance(getattr(module, n, None), dict)]


def without_hooks(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` with every hook removed (for private copies that deepcopy gave ours)."""
    for m in model.modules():
        for d in _hook_dicts(m):
            d.clear()
    return model


def count_hooks(model: torch.nn.Module) -> int:
    """Hooks attached anywhere in ``model`` (a clean model has none)."""
    return sum(len(d) for m in model.modules() for d in _hook_dicts(m))


_HOOK_DICTS: weakref.WeakKeyDictionary[torch.nn.Module, tuple[int, list[dict]]] = (
    weakref.WeakKeyDictionary()
)


def _model_hook_dicts(model: torch.nn.Module) -> list[dict]:
    """Every hook dict of every module of ``model``, found once per model (a module keeps its
    dicts for life; a scan costs ~2 ms, a tenth of a one-pass explanation), found again when
    the modules change."""
    modules = submodules(model)
    count = len(modules)
    cached = _HOOK_DICTS.get(model)
    if cached is None or cached[0] != count:
        cached = (count, [d for m in modules for d in _hook_dicts(m)])
        _HOOK_DICTS[model] = cached
    return cached[1]


@contextmanager
def hooks_released(model: torch.nn.Module) -> Iterator[None]:
    """Remove, on exit, every hook that was added to ``model`` inside the block."""
    dicts = _model_hook_dicts(model)
    before = [set(d) if d else None for d in dicts]
    try:
        yield
    finally:
        for d, keys in zip(dicts, before):
            if d:  # most of a model's hook dicts are empty
                for key in [k for k in d if keys is None or k not in keys]:
                    d.pop(key, None)


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


def _explain(
    model: DigitResNet18,
    images: Sequence[np.ndarray | torch.Tensor],
    digits: Sequence[int],
    method: str,
    progress: Callable[[float], None] | None,
    contrast: int | None,
    params: dict[str, Any],
) -> list[Explanation]:
    """The one explanation path: ``images`` in one :class:`Context` (a batch for a ``batched``
    method, else one image), an :class:`Explanation` per image."""
    spec = get_spec(method)
    values = validate(spec.params, params, method)
    for digit in digits:
        if not isinstance(digit, int) or not 0 <= digit <= 9:
            raise ParameterError(f"digit must be 0-9, got {digit!r}")
    if contrast is not None and (
        not isinstance(contrast, int) or not 0 <= contrast <= 9 or contrast in digits
    ):
        raise ParameterError(f"contrast must be a digit 0-9 other than {digits[0]}")
    try:
        heads = [model.head(d) for d in digits]
        other = None if contrast is None else model.head(contrast)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None
    # on the model's device, in its own precision: a float64 copy gives exact-arithmetic
    # checks their answer
    weight = next(model.parameters())
    x = torch.cat([as_input(image, model.input_size) for image in images])
    x = x.to(weight.device, weight.dtype)
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
    return [
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
    """
    return _explain(model, [image], [target_digit], method, progress, contrast, params)[0]


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
    draw random samples seed them per call, so that the maps do not depend on the batch.
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
