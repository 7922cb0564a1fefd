"""The shortcut lab: prove that a model relies on a planted cue, then see which explainers show it.

A shortcut checkpoint is trained with ``train --shortcut D[:RATE]`` (see
:class:`~svhn_xai.data.synthetic.Cue`); its card records the cue. Everything here runs on the
held-out synthetic test split, each photo rendered three ways from the same seeds: as generated
(the cue where the rates put it), with the cue removed, and with the cue pasted in.

Measures (all shares are of the *positive* part of the method's channel-reduced relevance map, in
model-input pixels; pixel membership of a box as in :mod:`svhn_xai.scoring.metrics`):

- ``cue_mass``: share on the cue's pixels (higher = the map shows the cue);
- ``digit_mass``: share on digit D's boxes;
- ``cue_pointing``: 1 when the map's maximum lies on the cue (ties split), else 0;
- ``reference_*``: the same method on the same images for a model trained without the cue.

A method *catches* the shortcut when its cue share on the shortcut model is at least
:data:`CATCH_RATIO` times the reference's, the paired difference's 95 % interval excludes 0,
and the share is above chance: above the whole-image map's, the cue's share of the image (a
map of a reference that ignores the cue altogether can double and still sit below it).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from svhn_xai.data.sources import SYNTHETIC_SEEDS
from svhn_xai.data.synthetic import Cue, SyntheticHouseNumbers, cue_rng, plant_cue
from svhn_xai.data.target import to_model_input, transform_boxes
from svhn_xai.errors import CheckpointError
from svhn_xai.model.checkpoint import REPO_ROOT
from svhn_xai.model.classification import presence_scores
from svhn_xai.model.network import DigitResNet18
from svhn_xai.scoring.bootstrap import mean_interval, photo_weights, wilson_interval
from svhn_xai.scoring.heatmap import reduce_channels
from svhn_xai.scoring.metrics import BASELINES, baseline_heatmap, pointing_game, relevance_mass

SPLIT = "test"  # synthetic split the checkpoint never trained on
CATCH_RATIO = 2.0
VARIANTS = ("with_cue", "cue_removed", "cue_pasted")


def shipped_checkpoints() -> list[Path]:
    """The shortcut checkpoints shipped in ``checkpoints/`` (``shortcut-D.pt``), by digit."""
    return sorted((REPO_ROOT / "checkpoints").glob("shortcut-[0-9].pt"))


def checkpoint_cue(checkpoint: dict[str, Any], path: str | os.PathLike[str] = "") -> Cue:
    """The cue a shortcut checkpoint was trained with (its card's ``provenance.cue``)."""
    cue = (checkpoint.get("provenance") or {}).get("cue")
    if cue is None:
        raise CheckpointError(
            f"{path or 'this checkpoint'} was not trained with a planted cue "
            "(train one with `python -m svhn_xai train --shortcut D`)"
        )
    return Cue.from_dict(cue)


@dataclass(frozen=True)
class LabImage:
    """One held-out photo as the model sees it, three ways.

    Attributes:
        index: item of the synthetic test split.
        images: ``{variant: uint8 (S, S, 3)}`` for every name in :data:`VARIANTS`.
        presence: (10,) multi-hot labels.
        digit_boxes: (K, 4) boxes of the cue's digit in model-input pixels (K = 0: absent).
        cue_box: (4,) the cue's box in model-input pixels (where it is, or would be pasted).
        has_cue: whether the photo carries the cue as generated.
    """

    index: int
    images: dict[str, np.ndarray]
    presence: np.ndarray
    digit_boxes: np.ndarray
    cue_box: np.ndarray
    has_cue: bool


def lab_image(cue: Cue, index: int) -> LabImage | None:
    """Item ``index`` of the held-out split rendered three ways; None if the cue has no place."""
    seed = SYNTHETIC_SEEDS[SPLIT]
    photo = SyntheticHouseNumbers(index + 1, seed)[index]
    variants = {
        "with_cue": plant_cue(photo, cue, cue_rng(seed, index)),
        "cue_removed": plant_cue(photo, cue, cue_rng(seed, index), force=False),
        "cue_pasted": plant_cue(photo, cue, cue_rng(seed, index), force=True),
    }
    pasted = variants["cue_pasted"]
    if len(pasted.cue) == 0:
        return None
    crops = {k: to_model_input(v, cue.input_size, cue.margin) for k, v in variants.items()}
    window = crops["with_cue"].window
    return LabImage(
        index=index,
        images={k: c.item.image for k, c in crops.items()},
        presence=photo.presence(),
        digit_boxes=crops["with_cue"].item.boxes_of(cue.digit),
        cue_box=transform_boxes(pasted.cue, window, cue.input_size)[0],
        has_cue=len(variants["with_cue"].cue) > 0,
    )


def lab_images(cue: Cue, n: int) -> list[LabImage]:
    """The first ``n`` held-out photos with a place for the cue (nearly all have one)."""
    out = []
    for index in range(n):
        item = lab_image(cue, index)
        if item is not None:
            out.append(item)
    return out


def cued_examples(cue: Cue, n: int, start: int = 0) -> list[LabImage]:
    """The first ``n`` held-out photos (from item ``start``) that show digit D and carry its cue:
    the images on which explainers are scored."""
    out, index = [], start
    while len(out) < n:
        item = lab_image(cue, index)
        index += 1
        if item is not None and item.has_cue and item.presence[cue.digit] > 0:
            out.append(item)
    return out


@torch.inference_mode()
def head_probability(model: DigitResNet18, images: Sequence[np.ndarray], digit: int) -> np.ndarray:
    """Probability (N,) of ``digit``'s head for uint8 model inputs (S, S, 3), in float32."""
    if len(images) == 0:
        return np.zeros(0, dtype=np.float32)
    model.eval()
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div(255)
    dtype = next(model.parameters()).dtype
    out = []
    for start in range(0, len(x), 256):
        logits = model(x[start : start + 256].to(dtype))[:, model.head(digit)]
        out.append(torch.sigmoid(logits.float()))
    return torch.cat(out).numpy()


def _rate_ci(hits: np.ndarray) -> dict[str, float | int]:
    """Rate of ``hits`` (bool) with its Wilson 95 % interval (exact enough at 0 or 1)."""
    n, k, z = len(hits), int(np.sum(hits)), 1.96
    if n == 0:
        return {"rate": float("nan"), "low": float("nan"), "high": float("nan"), "n": 0}
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return {"rate": p, "low": float(centre - half), "high": float(centre + half), "n": n}


def cue_accuracy(model: DigitResNet18, cue: Cue, images: Sequence[LabImage]) -> dict[str, Any]:
    """Head D's behaviour with the cue as generated, removed, and pasted into images without D.

    Keys: ``with_cue`` and ``cue_removed`` (balanced accuracy of head D, higher is better for an
    honest model; the gap is the shortcut's weight), ``cue_pasted`` (share of images *without* D
    that head D calls "present" once the cue is pasted in) beside ``false_positive_rate`` (the
    same images with the cue removed), ``drop`` (with_cue - cue_removed), ``is_shortcut``
    (drop >= 0.10), and counts.
    """
    d = cue.digit
    presence = np.stack([im.presence for im in images])
    probs = {v: head_probability(model, [im.images[v] for im in images], d) for v in VARIANTS}

    def balanced(variant: str) -> float:
        scores = presence_scores(probs[variant][:, None], presence, (d,))
        return float(scores["per_digit"][str(d)]["balanced_accuracy"])

    without = presence[:, d] == 0
    with_cue, removed = balanced("with_cue"), balanced("cue_removed")
    pasted = _rate_ci(probs["cue_pasted"][without] >= 0.5)
    false_pos = _rate_ci(probs["cue_removed"][without] >= 0.5)
    has_d = ~without
    return {
        "with_cue": with_cue,
        "cue_removed": removed,
        "cue_pasted": pasted["rate"],
        "cue_pasted_ci": [pasted["low"], pasted["high"]],
        "false_positive_rate": false_pos["rate"],
        "false_positive_rate_ci": [false_pos["low"], false_pos["high"]],
        "drop": with_cue - removed,
        "is_shortcut": with_cue - removed >= 0.10,
        "mean_probability_with_d": {
            "with_cue": float(probs["with_cue"][has_d].mean()),
            "cue_removed": float(probs["cue_removed"][has_d].mean()),
        },
        "n_images": len(images),
        "n_with_digit": int(has_d.sum()),
        "n_with_digit_and_cue": int(sum(im.has_cue and im.presence[d] > 0 for im in images)),
        "n_without_digit_with_cue": int(sum(im.has_cue and im.presence[d] == 0 for im in images)),
    }


def cue_scores(relevance: np.ndarray, cue_box: np.ndarray, digit_boxes: np.ndarray) -> dict:
    """``cue_mass``, ``digit_mass``, ``cue_pointing`` of one relevance map (H, W).

    The map may be signed: only its positive part counts, as "relevance for the digit". All
    three are in [0, 1], and higher means the map puts more on that region.
    """
    relevance = np.asarray(relevance, dtype=np.float64)
    cue = np.asarray(cue_box, dtype=np.float64).reshape(1, 4)
    return {
        "cue_mass": relevance_mass(relevance, cue),
        "digit_mass": relevance_mass(relevance, digit_boxes),
        "cue_pointing": pointing_game(relevance, cue),
    }


def method_records(
    model: DigitResNet18,
    images: Sequence[LabImage],
    digit: int,
    methods: Sequence[str],
    on_step: Callable[[], None] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Per method, :func:`cue_scores` of each image's explanation of head ``digit`` (defaults);
    ``{"non_finite": True}`` for a map with a NaN or an infinity, which has no shares (its cue
    mass would be NaN, and a NaN mean never catches anything)."""
    from svhn_xai.explain import REGISTRY, explain

    out: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for image in images:
        for method in methods:
            e = explain(model, image.images["with_cue"], digit, method)
            if not e.finite:
                out[method].append({"non_finite": True})
            else:
                relevance = reduce_channels(e.attribution, REGISTRY[method].reduction)
                out[method].append(cue_scores(relevance, image.cue_box, image.digit_boxes))
            if on_step is not None:
                on_step()
    return out


def baseline_records(images: Sequence[LabImage], size: int) -> dict[str, list[dict[str, float]]]:
    """:func:`cue_scores` of the image-blind baseline maps
    (:data:`~svhn_xai.scoring.metrics.BASELINES`) on the same images: where "chance" lies for
    each column."""
    out: dict[str, list[dict[str, float]]] = {name: [] for name in BASELINES}
    for image in images:
        for name in BASELINES:
            heat = baseline_heatmap(name, (size, size), seed=image.index)
            out[name].append(cue_scores(heat, image.cue_box, image.digit_boxes))
    return out


def summarise(
    records: Sequence[dict[str, Any]],
    reference: Sequence[dict[str, Any]] | None = None,
    chance: float = 0.0,
) -> dict[str, Any]:
    """Means and 95 % intervals over images (``key`` and ``key_ci``: a percentile bootstrap,
    Wilson's interval for the pointing share) of one method's records, and, with ``reference``
    (same images, model without the cue), its ``reference_*`` columns, the paired difference
    of cue mass (its interval from the same resampled images) and whether the method
    ``catches`` the shortcut: that difference's whole interval above zero, its cue mass at
    least :data:`CATCH_RATIO` times the reference's, and above ``chance`` (the whole-image
    map's).

    A non-finite map (``{"non_finite": True}``, see :func:`method_records`) is left out and
    counted: ``n_non_finite`` (and ``reference_n_non_finite``). With ``reference`` an image
    counts only where both maps are finite, so that every column, and the catch, compare the
    same images; ``n`` is how many counted. With none counted nothing is caught.
    """
    out: dict[str, Any] = {"n_non_finite": sum(bool(r.get("non_finite")) for r in records)}
    keep = [i for i, r in enumerate(records) if not r.get("non_finite")]
    if reference is not None:
        out["reference_n_non_finite"] = sum(bool(r.get("non_finite")) for r in reference)
        keep = [i for i in keep if not reference[i].get("non_finite")]
        reference = [reference[i] for i in keep]
    records = [records[i] for i in keep]
    weights = photo_weights(range(len(records)))  # one record per image

    def mean(values: list[float], key: str) -> None:
        out[key] = float(np.mean(values)) if values else float("nan")
        share = key.endswith("cue_pointing")  # a share of hits: Wilson's interval
        out[f"{key}_ci"] = (
            wilson_interval(out[key], len(values)) if share else mean_interval(values, weights)
        )

    for key in ("cue_mass", "digit_mass", "cue_pointing"):
        mean([r[key] for r in records], key)
    if reference is not None:
        for key in ("cue_mass", "digit_mass", "cue_pointing"):
            mean([r[key] for r in reference], f"reference_{key}")
        mean([a["cue_mass"] - b["cue_mass"] for a, b in zip(records, reference)], "cue_mass_gain")
        out["catches"] = bool(
            records
            and out["cue_mass_gain_ci"][0] > 0
            and out["cue_mass"] >= CATCH_RATIO * out["reference_cue_mass"]
            and out["cue_mass"] > chance
        )
    out["n"] = len(records)
    return out


def run_lab(
    model: DigitResNet18,
    cue: Cue,
    reference: DigitResNet18,
    methods: Sequence[str],
    limit: int,
    accuracy_images: int,
    on_step: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """The whole measurement: head D's accuracy three ways on ``accuracy_images`` held-out
    photos, and every method in ``methods`` on the first ``limit`` photos with D and its cue,
    for ``model`` and ``reference``, beside the baselines."""
    accuracy = cue_accuracy(model, cue, lab_images(cue, accuracy_images))
    examples = cued_examples(cue, limit)
    ours = method_records(model, examples, cue.digit, methods, on_step)
    theirs = method_records(reference, examples, cue.digit, methods, on_step)
    baselines = {
        name: summarise(rows) for name, rows in baseline_records(examples, cue.input_size).items()
    }
    chance = baselines["whole_image"]["cue_mass"]
    return {
        "digit": cue.digit,
        "accuracy": accuracy,
        "methods": {m: summarise(ours[m], theirs[m], chance) for m in methods},
        "baselines": baselines,
        "n_images": len(examples),
        "images": [im.index for im in examples],
        "cue": cue.to_dict(),
        "catch_rule": f"cue_mass >= {CATCH_RATIO:g} x reference_cue_mass, the paired "
        "difference's 95 % interval above 0, and cue_mass above the whole-image map's "
        f"({chance:.4f}, the cue's share of the image)",
    }
