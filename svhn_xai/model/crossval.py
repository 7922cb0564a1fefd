"""K-fold cross-validation of a training recipe on real photographs.

Each fold's model trains on the other folds' photos (plus whatever synthetic images the recipe
mixes in) and is scored on its own fold's photos alone, so every development photo gets an
out-of-fold prediction from a model that never saw it. Those predictions, pooled, are what the
recipe is judged by (see :mod:`svhn_xai.scoring.bootstrap` for the intervals).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from svhn_xai.data.indices import parse_indices
from svhn_xai.errors import ParameterError
from svhn_xai.model.checkpoint import load_checkpoint, model_from_checkpoint
from svhn_xai.model.classification import presence_scores
from svhn_xai.model.config import TrainConfig
from svhn_xai.model.network import DigitResNet18
from svhn_xai.model.predict import predict, resolve_device
from svhn_xai.model.run_data import load_tensors


@dataclass(frozen=True)
class Fold:
    """One fold: index specs (``"a:b"``, several joined by commas) of a split's photos."""

    number: int
    train: str
    test: str


def kfold(span: str, k: int) -> list[Fold]:
    """Split the photos ``span`` (``"a:b"``, 0-based) into ``k`` contiguous folds.

    Fold sizes differ by at most one photo; fold ``i`` tests on its block and trains on the
    others (``kfold("0:192", 3)[1]`` trains on ``"0:64,128:192"`` and tests on ``"64:128"``).
    """
    start, _, stop = span.partition(":")
    try:
        lo, hi = int(start), int(stop)
    except ValueError:
        raise ParameterError(f"the photos to cross-validate must be 'a:b', got {span!r}") from None
    n = hi - lo
    if not 2 <= k <= n:
        raise ParameterError(f"{k} folds of {n} photos: need 2 <= folds <= photos")
    edges = [lo + (n * i) // k for i in range(k + 1)]
    folds = []
    for i in range(k):
        train = [f"{a}:{b}" for a, b in zip(edges[:-1], edges[1:]) if a != edges[i]]
        folds.append(Fold(i, ",".join(train), f"{edges[i]}:{edges[i + 1]}"))
    return folds


@dataclass
class OutOfFold:
    """Pooled out-of-fold predictions on the development photos, in the split's order."""

    probabilities: np.ndarray  # (N photos, heads), each from the fold model that never saw it
    presence: np.ndarray  # (N, 10) multi-hot truth
    folds: list[dict[str, Any]]  # per fold: indices, balanced accuracy, seconds, synthetic test

    def balanced_accuracy(self) -> float:
        digits = tuple(range(self.probabilities.shape[1]))
        return presence_scores(self.probabilities, self.presence, digits)["balanced_accuracy"]


def _probabilities(
    model: DigitResNet18, cfg: TrainConfig, split: str, indices: str
) -> tuple[np.ndarray, np.ndarray]:
    tensors = load_tensors(cfg, "svhn", split, indices, None, 0.0)
    probs = predict(model, tensors.images, next(model.parameters()).device)
    return probs, tensors.presence.numpy()


def score_checkpoint(
    path: str | Path, recipe: TrainConfig, folds: list[Fold], synthetic_images: int = 2000
) -> OutOfFold:
    """A fixed model scored fold by fold the same way: the baseline a recipe must beat."""
    model = model_from_checkpoint(load_checkpoint(path), path).to(resolve_device(recipe.device))
    return _pool(folds, lambda fold: (model, 0.0), recipe, synthetic_images)


def cross_validate(
    recipe: TrainConfig,
    folds: list[Fold],
    workdir: str | Path,
    synthetic_images: int = 2000,
    on_fold: Callable[[dict[str, Any]], None] | None = None,
) -> OutOfFold:
    """Train ``recipe`` once per fold on the fold's training photos; pool the predictions.

    ``recipe`` names the real photos (``data="svhn"``, ``root``, ``split``); its ``indices``,
    test split and output path are set per fold (``workdir/fold-I.pt``). Each model is the last
    epoch's: nothing is chosen on the test photos. Every fold model is also scored on the first
    ``synthetic_images`` of the synthetic test split (a model that forgets synthetic digits
    while learning photos shows there).
    """
    if recipe.data != "svhn":
        raise ParameterError("cross-validation trains on real photos: the recipe needs data=svhn")
    from svhn_xai.model.train import main as train

    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)

    def fit(fold: Fold) -> tuple[DigitResNet18, float]:
        cfg = replace(
            recipe,
            indices=fold.train,
            test_split=recipe.split,
            test_indices=fold.test,
            out=str(workdir / f"fold-{fold.number}.pt"),
            resume=False,
            real_eval=None,
        )
        tic = time.perf_counter()
        train(cfg)
        seconds = time.perf_counter() - tic
        path = Path(cfg.out)
        model = model_from_checkpoint(load_checkpoint(path), path)
        return model.to(resolve_device(recipe.device)), seconds

    return _pool(folds, fit, recipe, synthetic_images, on_fold)


def _pool(
    folds: list[Fold],
    fit: Callable[[Fold], tuple[DigitResNet18, float]],
    recipe: TrainConfig,
    synthetic_images: int,
    on_fold: Callable[[dict[str, Any]], None] | None = None,
) -> OutOfFold:
    every = [i for fold in folds for i in parse_indices(fold.test, 10**9)]
    if len(set(every)) != len(every):
        raise ParameterError("the folds' test photos overlap")
    probs, truth, records = [], [], []
    synthetic = load_tensors(recipe, "synthetic", "test", None, synthetic_images, 0.0)
    scored, synthetic_score = None, None  # a fixed model is scored once, not once per fold
    for fold in folds:
        model, seconds = fit(fold)
        p, y = _probabilities(model, recipe, recipe.split, fold.test)
        if model is not scored:  # `scored` holds the model, so `is` cannot meet a reused id
            synthetic_probs = predict(model, synthetic.images, next(model.parameters()).device)
            synthetic_score = presence_scores(
                synthetic_probs, synthetic.presence.numpy(), model.digits
            )["balanced_accuracy"]
            scored = model
        record = {
            "fold": fold.number,
            "train": fold.train,
            "test": fold.test,
            "photos": len(y),
            "balanced_accuracy": presence_scores(p, y, model.digits)["balanced_accuracy"],
            "synthetic_test_balanced_accuracy": synthetic_score,
            "train_seconds": round(seconds, 1),
        }
        records.append(record)
        if on_fold is not None:
            on_fold(record)
        probs.append(p)
        truth.append(y)
    order = np.argsort(every, kind="stable")
    return OutOfFold(np.concatenate(probs)[order], np.concatenate(truth)[order], records)


def tune_thresholds(
    probabilities: np.ndarray, presence: np.ndarray, digits: tuple[int, ...], grid: np.ndarray
) -> np.ndarray:
    """Per head, the threshold of ``grid`` with the highest balanced accuracy on these photos
    (the lowest such threshold on ties): shape (len(digits),)."""
    truth = np.asarray(presence)[:, list(digits)] > 0.5
    predicted = np.asarray(probabilities)[:, :, None] >= grid  # (N, heads, thresholds)
    positives, negatives = truth.sum(axis=0), (~truth).sum(axis=0)
    tp = (predicted & truth[:, :, None]).sum(axis=0)
    tn = (~predicted & ~truth[:, :, None]).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        balanced = 0.5 * (tp / positives[:, None] + tn / negatives[:, None])
    return grid[np.argmax(np.nan_to_num(balanced, nan=-1.0), axis=1)]


def thresholds_out_of_fold(
    oof: OutOfFold, folds: list[Fold], grid: np.ndarray | None = None
) -> tuple[np.ndarray, list[list[float]]]:
    """Decisions of a fixed model whose heads' thresholds are tuned per fold on the fold's
    training photos and applied to its test photos.

    ``oof`` must come from a model that never trained on these photos (a fine-tuned fold
    model's training photos are fitted, so thresholds tuned on them say nothing). Returns the
    decisions as 0/1 "probabilities" (N, heads), to be scored at 0.5 like any model's, and
    each fold's thresholds.
    """
    grid = np.round(np.arange(0.02, 0.99, 0.02), 2) if grid is None else grid
    first = min(parse_indices(fold.test, 10**9)[0] for fold in folds)
    digits = tuple(range(oof.probabilities.shape[1]))
    decided = np.zeros_like(oof.probabilities)
    chosen = []
    for fold in folds:
        train = [i - first for i in parse_indices(fold.train, 10**9)]
        test = [i - first for i in parse_indices(fold.test, 10**9)]
        t = tune_thresholds(oof.probabilities[train], oof.presence[train], digits, grid)
        decided[test] = (oof.probabilities[test] >= t).astype(oof.probabilities.dtype)
        chosen.append([float(x) for x in t])
    return decided, chosen
