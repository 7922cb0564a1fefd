"""Explainer speed at default parameters on one 64x64 image, against a floor and plain Captum.

    python -m benchmarks.explainers [--checkpoint PATH] [--repeats 3] [--methods a,b]
        [--smooth a,b] [--out results/explainer_speed.json]

For each method: median wall time of ``explain()``; P, the images the method pushes through the
model (``explain()`` reads the probability from one of them, or adds the clean image to the
first batch); the floor: what P images cost in one pass of P (forward only for perturbation
methods and gradient-free CAMs, at batches of 64 from 64 images on; forward plus the input
gradient for the rest);
time / floor; the method called the plain way with the library's own defaults,
``captum.attr.X(model).attribute(x, target=k)`` (Occlusion, which has no default window, with
ours and Captum's default stride of 1). Plain calls that would take minutes (a feature per input
value) are estimated from the per-image cost; those rows carry a "*". Last, the same library
call given our parameters (``same s``: window, stride, samples, references, feature mask,
batch): the like-for-like comparison, timed in alternation with ``explain()`` (one call of each
per round) so that the machine's slow spells hit both alike. The CAM methods are compared with
pytorch-grad-cam called the plain way; RISE has no library to compare with, and Captum's LRP
fails on this ResNet.
``--smooth`` adds a row with SmoothGrad at its defaults for each method named (KEY+smoothgrad).
Everything printed is also written to ``--out``.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import captum.attr as ca
import numpy as np
import torch
from captum._utils.models.linear_model import SkLearnLasso

from benchmarks.record import default_path, save
from svhn_xai.data.sources import open_source
from svhn_xai.data.target import to_model_input
from svhn_xai.explain import REGISTRY, explain
from svhn_xai.explain.base import as_input
from svhn_xai.explain.references import baseline, distribution, grid_mask, seeded
from svhn_xai.model.checkpoint import load_model


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        tic = time.perf_counter()
        fn()
        times.append(time.perf_counter() - tic)
    return statistics.median(times)


# Least seconds of alternating rounds per method (see _side_by_side).
MIN_SECONDS = 2.0
# Seconds between two timed calls. A call that leaves OpenBLAS's worker threads spinning
# (pytorch-grad-cam's EigenCAM SVD, a Lasso fit) takes the cores from whatever runs next for
# about 0.1-0.2 s on this machine: without a pause, one side's wake would be timed on the other.
SETTLE = 0.25


def _side_by_side(
    ours, theirs, repeats: int, min_seconds: float = MIN_SECONDS
) -> tuple[list[float], list[float] | None]:
    """Seconds of each round's call of ``ours`` and of ``theirs`` (or None), timed in
    alternation, one call of each per round after a warm-up of each, so that a slow spell of
    the machine hits both; each call starts :data:`SETTLE` seconds after the one before ends.
    At least ``repeats`` rounds, and enough for ``min_seconds`` of ``ours``: a 40 ms call moves
    by 5-10 % from one run to the next here."""
    tic = time.perf_counter()
    ours()
    rounds = max(repeats, math.ceil(min_seconds / (time.perf_counter() - tic)))
    if theirs is not None:
        theirs()
    mine, other = [], []
    for _ in range(rounds):
        for fn, times in ((ours, mine), (theirs, other)):
            if fn is not None:
                time.sleep(SETTLE)
                tic = time.perf_counter()
                fn()
                times.append(time.perf_counter() - tic)
    return mine, other if theirs is not None else None


def paired_ratio(theirs: list[float], ours: list[float], resamples: int = 10_000) -> dict:
    """The median over rounds of theirs / ours (each round's two calls ran side by side), and
    its 95 % percentile-bootstrap interval over rounds: above 1, ``explain()`` is faster."""
    ratios = np.asarray(theirs) / np.asarray(ours)
    picks = np.random.default_rng(0).integers(0, len(ratios), (resamples, len(ratios)))
    low, high = np.percentile(np.median(ratios[picks], axis=1), [2.5, 97.5])
    return {"median": float(np.median(ratios)), "ci95": [float(low), float(high)]}


def forward_run(model, x: torch.Tensor, batch: int):
    """A call that runs one no-grad forward pass on ``batch`` copies of ``x``."""
    xb = x.expand(batch, -1, -1, -1).contiguous()

    def run() -> None:
        with torch.no_grad():
            model(xb)

    return run


def backward_run(model, x: torch.Tensor, batch: int, head: int):
    """A call that runs one forward and input gradient (no weight gradients, as in every
    gradient method) on ``batch`` copies of ``x``."""
    xb = x.expand(batch, -1, -1, -1).contiguous()

    def run() -> None:
        inp = xb.clone().requires_grad_(True)
        torch.autograd.grad(model(inp)[:, head].sum(), inp)

    return run


def forward_cost(model, x: torch.Tensor, batch: int = 64, repeats: int = 3) -> float:
    """Seconds per image of a no-grad forward pass in batches of ``batch``."""
    return _median_time(forward_run(model, x, batch), repeats) / batch


def backward_cost(model, x: torch.Tensor, batch: int, head: int, repeats: int = 3) -> float:
    """Seconds for one forward and input gradient on a batch of ``batch`` images."""
    return _median_time(backward_run(model, x, batch, head), repeats)


def _plain_cams(model, x: torch.Tensor, head: int) -> dict:
    """pytorch-grad-cam's own calls at the stage our CAMs default to (layer3)."""
    import pytorch_grad_cam as pgc
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    classes = {
        "grad_cam": pgc.GradCAM,
        "grad_cam_plus_plus": pgc.GradCAMPlusPlus,
        "xgrad_cam": pgc.XGradCAM,
        "layer_cam": pgc.LayerCAM,
        "score_cam": pgc.ScoreCAM,
        "eigen_cam": pgc.EigenCAM,
    }

    def call(cls) -> None:
        with cls(model, [model.layer3]) as cam:
            cam(x, targets=[ClassifierOutputTarget(head)])
        model.zero_grad(set_to_none=True)

    return {key: (lambda c=cls: call(c)) for key, cls in classes.items()}


def plain_captum(model, x: torch.Tensor, head: int, key: str, forward_time: float):
    """(seconds, estimated?) of the plain Captum call with Captum's defaults."""
    plain = {
        "integrated_gradients": lambda: ca.IntegratedGradients(model).attribute(x, target=head),
        "saliency": lambda: ca.Saliency(model).attribute(x, target=head),
        "deep_lift": lambda: ca.DeepLift(model).attribute(x, target=head),
        "deep_lift_shap": lambda: ca.DeepLiftShap(model).attribute(
            x, baselines=torch.zeros(2, *x.shape[1:]), target=head
        ),
        "gradient_shap": lambda: ca.GradientShap(model).attribute(
            x, baselines=torch.zeros(2, *x.shape[1:]), target=head
        ),
        "input_x_gradient": lambda: ca.InputXGradient(model).attribute(x, target=head),
        "guided_backprop": lambda: ca.GuidedBackprop(model).attribute(x, target=head),
        "guided_gradcam": lambda: ca.GuidedGradCam(model, model.layer3).attribute(x, target=head),
        "deconvolution": lambda: ca.Deconvolution(model).attribute(x, target=head),
        # Captum's Occlusion needs a window; its default stride is 1 (2,809 windows here)
        "occlusion": lambda: ca.Occlusion(model).attribute(
            x, sliding_window_shapes=(3, 12, 12), target=head
        ),
        "lime": lambda: ca.Lime(model).attribute(x, target=head),
        "kernel_shap": lambda: ca.KernelShap(model).attribute(x, target=head),
        "lrp": lambda: ca.LRP(model).attribute(x, target=head),
        **_plain_cams(model, x, head),
    }
    if key == "rise":
        return "-", False  # no library implements it
    if key in plain:
        try:
            return _median_time(plain[key], 1), False
        except Exception as exc:  # e.g. Captum's LRP refuses our Add module
            return f"fails ({type(exc).__name__})", False
    # a feature per input value, evaluated one perturbed image per pass (Captum's defaults):
    values = x.numel()
    per_pass = forward_time * 4  # a batch of one costs several times a batched image
    passes = {
        "feature_ablation": values + 1,
        "shapley_value_sampling": 25 * values + 1,
        "feature_permutation": values + 1,
    }.get(key)
    if passes is None:  # a method no library call stands for: nothing to compare with
        return "-", False
    return passes * per_pass, True


def captum_same_params(model, x: torch.Tensor, head: int, key: str):
    """The plain call of the library a method wraps, given the method's default parameters
    (``captum.attr.X(model).attribute(x, target=k, ...)``; pytorch-grad-cam for the CAMs), or
    None where no library call computes the same thing (RISE, LRP on this ResNet)."""
    defaults = {p.name: p.default for p in REGISTRY[key].params}
    black = baseline(x, defaults.get("baseline", "black"))  # the method's own reference
    mask = grid_mask(x.shape[-1], defaults.get("superpixel", 1))
    refs = distribution(x, defaults.get("baselines", "blur"), defaults.get("n_baselines", 4))
    per_eval = defaults.get("perturbations_per_eval", 1)

    def sampled(explainer, **kw):
        with seeded(0):
            return explainer.attribute(
                x,
                baselines=black,
                target=head,
                feature_mask=mask,
                n_samples=defaults["n_samples"],
                perturbations_per_eval=per_eval,
                **kw,
            )

    def lime():
        from captum.attr._core.lime import get_exp_kernel_similarity_function

        return sampled(
            ca.Lime(
                model,
                interpretable_model=SkLearnLasso(alpha=defaults["alpha"]),
                similarity_func=get_exp_kernel_similarity_function(
                    "cosine", defaults["kernel_width"]
                ),
            )
        )

    def gradient_shap():
        with seeded(0):
            return ca.GradientShap(model).attribute(
                x,
                baselines=refs,
                target=head,
                n_samples=defaults["n_samples"],
                stdevs=defaults["stdevs"],
            )

    same = {
        "integrated_gradients": lambda: ca.IntegratedGradients(model).attribute(
            x,
            baselines=black,
            target=head,
            n_steps=defaults["n_steps"],
            method=defaults["integration"],
            internal_batch_size=defaults["internal_batch_size"],
        ),
        "saliency": lambda: ca.Saliency(model).attribute(x, target=head, abs=defaults["abs"]),
        "deep_lift": lambda: ca.DeepLift(model).attribute(x, baselines=black, target=head),
        "deep_lift_shap": lambda: ca.DeepLiftShap(model).attribute(x, baselines=refs, target=head),
        "gradient_shap": gradient_shap,
        "input_x_gradient": lambda: ca.InputXGradient(model).attribute(x, target=head),
        "guided_backprop": lambda: ca.GuidedBackprop(model).attribute(x, target=head),
        "guided_gradcam": lambda: ca.GuidedGradCam(
            model, getattr(model, defaults.get("layer", "layer3"))
        ).attribute(x, target=head, interpolate_mode=defaults.get("interpolate_mode", "nearest")),
        "deconvolution": lambda: ca.Deconvolution(model).attribute(x, target=head),
        "feature_ablation": lambda: ca.FeatureAblation(model).attribute(
            x, baselines=black, target=head, feature_mask=mask, perturbations_per_eval=per_eval
        ),
        "occlusion": lambda: ca.Occlusion(model).attribute(
            x,
            sliding_window_shapes=(3, defaults.get("window", 12), defaults.get("window", 12)),
            strides=(3, defaults.get("stride", 4), defaults.get("stride", 4)),
            baselines=black,
            target=head,
            perturbations_per_eval=per_eval,
        ),
        "shapley_value_sampling": lambda: sampled(ca.ShapleyValueSampling(model)),
        "lime": lime,
        "kernel_shap": lambda: sampled(ca.KernelShap(model)),
        **_plain_cams(model, x, head),  # already at our stage, layer3
    }
    return same.get(key)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--methods", default="all")
    parser.add_argument(
        "--smooth", default="saliency,lrp", help="methods also timed with SmoothGrad ('' for none)"
    )
    parser.add_argument("--out", default=str(default_path("explainer_speed")))
    args = parser.parse_args()
    model, card = load_model(args.checkpoint)
    item = to_model_input(open_source("synthetic", "test")[0], model.input_size).item
    digit = item.labels[0]
    head = model.head(digit)
    x = as_input(item.image, model.input_size)
    keys = list(REGISTRY) if args.methods == "all" else args.methods.split(",")
    fwd = forward_cost(model, x)
    single = forward_cost(model, x, batch=1)  # what a separate pass for the probability costs
    print(
        f"torch threads {torch.get_num_threads()}; batched forward {fwd * 1e3:.2f} ms/image; "
        f"a lone forward {single * 1e3:.2f} ms"
    )
    header = f"{'method':24s} {'time s':>8s} {'passes':>7s} {'floor s':>8s} {'/floor':>7s}"
    print(header + f" {'captum s':>10s} {'speed-up':>9s} {'same s':>10s}  speed-up [95 % CI]")
    ours, captum = {}, {}  # seconds per method, reused by the comparisons below the table
    rows, at_captum_budget = [], []
    smoothed = [f"{k}+smoothgrad" for k in args.smooth.split(",") if k]
    for key in keys + smoothed:
        method, _, smooth = key.partition("+")
        params = {"smooth": smooth} if smooth else {}
        spec = REGISTRY[method]
        passes = explain(model, item.image, digit, method, **params).model_passes
        call = captum_same_params(model, x, head, method) if not smooth else None
        mine, theirs = _side_by_side(
            lambda m=method, p=params: explain(model, item.image, digit, m, **p),
            call,
            args.repeats,
        )
        seconds = statistics.median(mine)
        same = statistics.median(theirs) if theirs else None
        paired = paired_ratio(theirs, mine) if theirs else None
        ours[key] = seconds
        if spec.cost.gradient_free:
            # at the best batch the method could use: a lone image costs a lone pass
            floor = passes * (fwd if passes >= 64 else forward_cost(model, x, batch=passes))
        else:
            floor = backward_cost(model, x, passes, head)
        plain, estimated = plain_captum(model, x, head, key, fwd) if not smooth else ("-", False)
        captum[key] = plain
        if isinstance(plain, str):
            captum_col, speed = plain, "-"
        else:
            captum_col = f"{plain:9.3f}{'*' if estimated else ' '}"
            speed = f"{plain / seconds:8.1f}x"
        same_col = f"{same:9.3f}" if same is not None else "-"
        same_speed = "-"
        if paired is not None:
            low, high = paired["ci95"]
            same_speed = f"{paired['median']:.2f}x [{low:.2f}, {high:.2f}]"
        print(
            f"{key:24s} {seconds:8.3f} {passes:7d} {floor:8.3f} {seconds / floor:7.2f} "
            f"{captum_col:>10s} {speed:>9s} {same_col:>10s}  {same_speed}"
        )
        rows.append(
            {
                "method": key,
                "family": spec.family,
                "seconds": seconds,
                "passes": passes,
                "floor_seconds": floor,
                "captum_seconds": None if isinstance(plain, str) else plain,
                "captum_estimated": estimated,
                "captum_error": plain if isinstance(plain, str) else None,
                "same_params_seconds": same,
                "same_params_ratio": paired,
                "rounds": len(mine),
            }
        )
    print("* estimated: Captum's default feature mask makes every input value a feature")
    # LIME and KernelShap default to 256 samples (see README: fewer give noise); at Captum's own
    # budgets, what is left is the cost per sample: batched passes and 64 superpixel features
    for key, samples in (("lime", 50), ("kernel_shap", 25)):
        if key in keys:
            small = _median_time(
                lambda k=key, n=samples: explain(model, item.image, digit, k, n_samples=n),
                args.repeats,
            )
            print(
                f"{key} at Captum's budget ({samples} samples): {small:.3f} s, "
                f"{captum[key] / small:.1f}x"
            )
            at_captum_budget.append(
                {
                    "method": key,
                    "n_samples": samples,
                    "seconds": small,
                    "captum_seconds": captum[key],
                }
            )
    same_window_stride = None
    if "occlusion" in keys:  # the stricter comparison: Captum given our window and stride too
        same = _median_time(
            lambda: ca.Occlusion(model).attribute(
                x, sliding_window_shapes=(3, 12, 12), strides=(3, 4, 4), target=head
            ),
            args.repeats,
        )
        ratio = same / ours["occlusion"]
        print(f"occlusion vs Captum with our window and stride (12, 4): {ratio:.1f}x")
        same_window_stride = {"seconds": ours["occlusion"], "captum_seconds": same}
    measured = {
        "repeats": args.repeats,
        "min_seconds": MIN_SECONDS,
        "batched_forward_ms": fwd * 1e3,
        "lone_forward_ms": single * 1e3,
        "methods": rows,
        "at_captum_budget": at_captum_budget,
        "occlusion_same_window_and_stride": same_window_stride,
    }
    save(args.out, measured, card["path"])


if __name__ == "__main__":
    main()
