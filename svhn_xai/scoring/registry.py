"""Every score the project reports, declared once: what it is called, what it measures, which
way is better, how it is shown, how it is computed on one map and how it is averaged.

The CLI's tables, every app page, the docs generator and the JSON ``directions`` read
:data:`METRICS`; :func:`score` computes each per-map metric on one heatmap. Adding a metric is
one :func:`register` call here (with its computation, when it is computed per map) and its test.

Families: ``mask`` (scores of the mask cut at one threshold), ``threshold-free`` (read from the
whole map, so no threshold rule changes them), ``curve`` (summaries of the IoU-vs-threshold
curves), ``faithfulness`` (deletion, insertion and ROAD curves,
:mod:`svhn_xai.scoring.faithfulness`), ``class`` (class sensitivity over a photo's digits)
and ``cost``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from svhn_xai.scoring.heatmap import mask_box, threshold
from svhn_xai.scoring.metrics import (
    box_accuracy,
    box_iou,
    box_mask,
    iou_pixels,
    pointing_game,
    pointing_game_tolerant,
    pxap,
    rank_accuracy,
    relevance_mass,
)

DIRECTION_WORDS = {"higher": "Higher is better.", "lower": "Lower is better.", "neither": ""}


@dataclass(frozen=True)
class Cut:
    """One map as every per-map metric sees it.

    ``heat`` (H, W): the normalised (possibly smoothed, clipped) map the mask is cut from;
    ``relevance`` (H, W): the raw map; ``boxes`` (K, 4) and their pixel mask ``truth``;
    ``mask``: the active pixels; ``heatmap_box``: their box (None when empty); ``iou_2``: its
    best IoU with a target box (0 when empty)."""

    heat: np.ndarray
    relevance: np.ndarray
    boxes: np.ndarray
    truth: np.ndarray
    mask: np.ndarray
    heatmap_box: np.ndarray | None
    iou_2: float


@dataclass(frozen=True)
class Metric:
    """One reported score.

    ``label`` heads a table column in the app and the docs; ``short`` heads a terminal column;
    ``help`` says what it measures (:meth:`describe` adds the direction). ``interval`` is how
    its mean's 95 % interval is made: ``bootstrap`` (photos resampled, see
    :mod:`svhn_xai.scoring.bootstrap`), ``wilson`` (a share of hits: Wilson's score interval over
    photos) or ``best_threshold`` (a threshold chosen over the set, re-chosen in every
    resample). ``per_pair`` computes it on one map; None where another module computes it.
    """

    key: str
    label: str
    short: str
    help: str
    direction: str
    family: str
    digits: int = 3
    interval: str = "bootstrap"
    per_pair: Callable[[Cut], float] | None = None

    @property
    def arrow(self) -> str:
        return {"higher": "↑", "lower": "↓"}.get(self.direction, "")

    @property
    def column(self) -> str:
        """A table column's title: the label without its gloss, and the arrow ("IoU₁ ↑" for
        "IoU₁ (pixels)"), so that a leaderboard fits the page; the help text says the rest."""
        return f"{self.label.split(' (')[0]} {self.arrow}".strip()

    def describe(self) -> str:
        """The help text with which way is better, for tooltips and docs."""
        return f"{self.help} {DIRECTION_WORDS[self.direction]}".strip()

    def format(self, value: float | None) -> str:
        """``value`` at this metric's precision; "–" when there is none."""
        if value is None or not np.isfinite(value):
            return "–"
        return f"{value:.{self.digits}f}"

    def best(self, values: dict[str, float]) -> str:
        """The name whose value is best on this metric (the strongest baseline, say); the
        metric must have a direction."""
        pick = max if self.direction == "higher" else min
        return pick(values, key=values.__getitem__)


METRICS: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add ``metric`` to :data:`METRICS`; a key is declared once."""
    if metric.key in METRICS:
        raise ValueError(f"metric {metric.key!r} is already registered")
    if metric.direction not in DIRECTION_WORDS:
        raise ValueError(f"direction must be one of {tuple(DIRECTION_WORDS)}")
    METRICS[metric.key] = metric
    return metric


def directions(keys: Any = None) -> dict[str, str]:
    """``{key: direction}`` of every metric, or of those among ``keys``."""
    return {k: m.direction for k, m in METRICS.items() if keys is None or k in keys}


def family(*names: str) -> list[Metric]:
    """The metrics of the given families, in declaration order."""
    return [m for m in METRICS.values() if m.family in names]


# -- scores of the mask cut at one threshold ----------------------------------------------------
register(Metric(
    "iou_1", "IoU₁ (pixels)", "IoU_1",
    "The mask's pixels against the pixels of the digit's box(es): intersection over union, 0 "
    "to 1.",
    "higher", "mask", per_pair=lambda c: iou_pixels(c.mask, c.truth),
))  # fmt: skip
register(Metric(
    "iou_2", "IoU₂ (boxes)", "IoU_2",
    "The box around the mask against the digit's box: intersection over union, 0 to 1.",
    "higher", "mask", per_pair=lambda c: c.iou_2,
))  # fmt: skip
register(Metric(
    "max_box_acc", "MaxBoxAccV2", "MaxBoxAcc",
    "Share of pairs whose mask's box overlaps the digit's box with IoU ≥ 0.3, 0.5 and 0.7 "
    "(the mean of the three), each at the heat threshold best for the method over the set "
    "(Choe et al. 2020); for one photo, at its own threshold.",
    "higher", "mask", interval="best_threshold", per_pair=lambda c: box_accuracy(c.iou_2),
))  # fmt: skip
register(Metric(
    "active_fraction", "Mask area", "area",
    "Share of the image the mask covers. Compare it with the share the digit's box covers.",
    "neither", "mask", per_pair=lambda c: float(c.mask.mean()),
))  # fmt: skip
# -- read from the whole map: no threshold changes them ------------------------------------------
register(Metric(
    "pxap", "PxAP", "PxAP",
    "Pixel average precision: the area under the precision-recall curve of the heat as a "
    "pixel classifier of the digit's box(es), over every threshold (Choe et al. 2020); a flat "
    "map scores the box's share of the image.",
    "higher", "threshold-free", per_pair=lambda c: pxap(c.heat, c.boxes),
))  # fmt: skip
register(Metric(
    "pointing_game", "Pointing game", "point",
    "1 when the hottest pixel lies inside the digit's box, else 0 (with ties for the maximum, "
    "the share of them inside); over a set, the share of hits.",
    "higher", "threshold-free", digits=2, interval="wilson",
    per_pair=lambda c: pointing_game(c.relevance, c.boxes),
))  # fmt: skip
register(Metric(
    "pointing_game_tolerant", "Pointing ±tol.", "point±",
    "Pointing game that also counts a hottest pixel within a few pixels of the box "
    "(TorchRay's 15 px at 224 px, scaled).",
    "higher", "threshold-free", digits=2, interval="wilson",
    per_pair=lambda c: pointing_game_tolerant(c.relevance, c.boxes),
))  # fmt: skip
register(Metric(
    "relevance_mass", "Mass in box", "mass",
    "Share of the map's positive relevance that falls inside the digit's box(es), 0 to 1.",
    "higher", "threshold-free", per_pair=lambda c: relevance_mass(c.relevance, c.boxes),
))  # fmt: skip
register(Metric(
    "rank_accuracy", "Rank accuracy", "rank",
    "Of the |box| hottest pixels, the share inside the box (Arras et al. 2022), 0 to 1.",
    "higher", "threshold-free", per_pair=lambda c: rank_accuracy(c.relevance, c.boxes),
))  # fmt: skip
# -- summaries of the IoU-vs-threshold curves (svhn_xai.scoring.metrics.iou_curves) -------------
register(Metric(
    "auc_iou_1", "IoU₁ over all thresholds", "AUC IoU_1",
    "IoU₁ averaged over value thresholds 0 to 0.95: the same whatever the threshold rule.",
    "higher", "curve",
))  # fmt: skip
register(Metric(
    "auc_iou_2", "IoU₂ over all thresholds", "AUC IoU_2",
    "IoU₂ averaged over value thresholds 0 to 0.95.", "higher", "curve",
))  # fmt: skip
register(Metric(
    "oracle_iou_1", "Oracle IoU₁", "orcl IoU_1",
    "IoU₁ at the threshold best for each photo, chosen on the photo it scores: an upper "
    "bound, not a score a user could get.",
    "higher", "curve",
))  # fmt: skip
register(Metric(
    "oracle_iou_2", "Oracle IoU₂", "orcl IoU_2",
    "IoU₂ at the threshold best for each photo (an upper bound).", "higher", "curve",
))  # fmt: skip
# -- faithfulness (svhn_xai.scoring.faithfulness) -----------------------------------------------
for _imputation, _how in (("black", "painted black"), ("blur", "replaced by a blurred copy")):
    register(Metric(
        f"auc_deletion_{_imputation}", f"Deletion, {_imputation}", f"del.{_imputation[:3]}",
        f"The digit's probability as the hottest pixels are {_how}, averaged over the curve.",
        "lower", "faithfulness",
    ))  # fmt: skip
for _imputation, _how in (("black", "a black image"), ("blur", "a blurred copy")):
    register(Metric(
        f"auc_insertion_{_imputation}", f"Insertion, {_imputation}", f"ins.{_imputation[:3]}",
        f"The digit's probability as the hottest pixels are put back into {_how}, averaged "
        "over the curve.",
        "higher", "faithfulness",
    ))  # fmt: skip
register(Metric(
    "road_morf", "ROAD, most relevant first", "ROAD Mo",
    "The digit's probability as the most relevant pixels are removed by noisy linear "
    "imputation (Rong et al. 2022), averaged over 10–90 %.",
    "lower", "faithfulness",
))  # fmt: skip
register(Metric(
    "road_lerf", "ROAD, least relevant first", "ROAD Le",
    "The same, the least relevant pixels removed first.", "higher", "faithfulness",
))  # fmt: skip
# -- over a photo's digits, and the cost --------------------------------------------------------
register(Metric(
    "class_sensitivity", "Class sensitivity", "class",
    "On photos with two or more different digits: share of pairs (D, E) where the map for D "
    "is hotter per pixel on D's box than on E's; 0.5 = chance, 1 = always its own.",
    "higher", "class", digits=2, interval="none",
))  # fmt: skip
register(Metric(
    "seconds", "Seconds", "s/img",
    "Wall time of the attribution alone, per (photo, digit) pair.",
    "lower", "cost", digits=2,
))  # fmt: skip

PER_PAIR = tuple(m for m in METRICS.values() if m.per_pair is not None)


@dataclass(frozen=True)
class Scores:
    """A map's per-map scores (``values``, keyed as :data:`METRICS`) and the mask they were
    read from: ``mask`` (H, W) bool, cut at heat ``threshold``; ``heatmap_box`` its box."""

    values: dict[str, float]
    mask: np.ndarray
    threshold: float
    heatmap_box: list[float] | None

    @property
    def empty_mask(self) -> bool:
        return self.heatmap_box is None

    def __getattr__(self, key: str) -> float:
        """A score by its key, as an attribute (``scores.iou_1``)."""
        try:
            return self.__dict__["values"][key]
        except KeyError:
            raise AttributeError(key) from None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: every score, ``threshold``, ``heatmap_box`` and ``empty_mask`` (no mask)."""
        return {
            **self.values,
            "threshold": self.threshold,
            "heatmap_box": self.heatmap_box,
            "empty_mask": self.empty_mask,
        }


def score(
    heat: np.ndarray,
    boxes: np.ndarray,
    mode: str = "value",
    value: float = 0.5,
    relevance: np.ndarray | None = None,
) -> Scores:
    """Every per-map metric of a heatmap (H, W) against the target digit's boxes (K, 4).

    ``heat`` is the map the mask is cut from (normalised, possibly smoothed) by ``mode`` and
    ``value`` (:func:`svhn_xai.scoring.heatmap.threshold`); ``relevance`` the raw map that pointing
    game, relevance mass and rank accuracy read (default: ``heat``). ``truth_area`` cuts as many
    pixels as the boxes cover. The returned :class:`Scores` carries the mask, so that no caller
    cuts it again.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0:
        raise ValueError("the target digit has no box in this image: nothing to localise")
    truth = box_mask(boxes, heat.shape)
    cut = threshold(heat, mode, value, area=int(truth.sum()))
    hbox = mask_box(cut.mask)
    iou_2 = max(box_iou(hbox, b) for b in boxes) if hbox is not None else 0.0
    view = Cut(heat, heat if relevance is None else relevance, boxes, truth, cut.mask, hbox, iou_2)
    return Scores(
        {m.key: m.per_pair(view) for m in PER_PAIR},
        cut.mask,
        cut.threshold,
        None if hbox is None else hbox.tolist(),
    )
