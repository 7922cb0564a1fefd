"""One evaluation over a data set, the same for the CLI, the Evaluate page and the benchmarks:
which explainer finds the digit, how faithful it is, and whether it depends on the model at all.

- Localisation: for every image and every target digit present in it, each method's heatmap is
  scored (:func:`svhn_xai.scoring.localisation.localise`) and so are the baselines, identically
  (:mod:`.records`).
- Faithfulness (:mod:`svhn_xai.scoring.faithfulness`): deletion and insertion curves under two
  imputations (black, blur), and ROAD on request; for methods and baselines alike.
- Sanity (:mod:`.sanity`): cascading model-parameter randomisation, on request.

What to run is one :class:`EvaluationOptions`; :func:`run_evaluation` runs it. Summaries
(:mod:`svhn_xai.evaluation.summary`) carry every metric's direction, with intervals over photos.
Per-pair records are appended to a JSONL file as they are made, so an interrupted run resumes
(under the same conditions only, :mod:`.resume`).
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from svhn_xai.data.item import HouseNumber
from svhn_xai.evaluation.records import pair_records
from svhn_xai.evaluation.resume import Resumed, reusable_records, sanity_line, stale
from svhn_xai.evaluation.sanity import RANDOMISATION_ORDER, randomisation_check
from svhn_xai.evaluation.summary import summarise
from svhn_xai.explain import REGISTRY
from svhn_xai.explain.params import validate
from svhn_xai.model.network import DigitResNet18
from svhn_xai.scoring.class_sensitivity import from_records as class_sensitivity
from svhn_xai.scoring.metrics import BASELINES
from svhn_xai.scoring.protocol import DEFAULT_PROTOCOL, Protocol
from svhn_xai.shards import Shard, gather

# pairs explained together by default (evaluate --batch-size): on a CPU a gradient pass costs
# ~8.5 ms an image in batches of 16, ~7 ms in 32, ~8 ms in 64; see
# benchmarks/evaluate_throughput.py, whose peak memory stays well under 4 GB
BATCH_SIZE = 32
FAITHFULNESS = ("none", "basic", "road", "all")  # as evaluate --faithfulness names them


@dataclass(frozen=True)
class EvaluationOptions:
    """What one evaluation runs.

    Attributes:
        methods: registry keys of the methods to score.
        digits: the target digits to consider (None: all the model has heads for).
        protocol: the mask rule; with ``calibrated``, the mode and sigma that the calibrated
            values are read in.
        calibrated: per method/baseline threshold values chosen on other images
            (:func:`svhn_xai.scoring.calibration.calibrate`), applied unchanged; a name without
            one is read under ``protocol`` as it is.
        params: per method, the parameters it is explained with.
        limit: use the first ``limit`` images only.
        faithfulness: ``none`` (localisation scores only, far cheaper), ``basic`` (deletion and
            insertion, black and blur), ``road``/``all`` (also ROAD MoRF/LeRF, a sparse solve per
            map and fraction).
        steps: slices of the deletion and insertion curves.
        batch_size: pairs explained together (:func:`.records.pair_records`); batches are cut
            by global pair index, so their make-up does not depend on the number of processes.
        sanity: images for the randomisation check, on rank 0 after the scores (0: none).
    """

    methods: Sequence[str]
    digits: Sequence[int] | None = None
    protocol: Protocol = DEFAULT_PROTOCOL
    calibrated: Mapping[str, float] | None = None
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    limit: int | None = None
    faithfulness: str = "basic"
    steps: int = 16
    batch_size: int = BATCH_SIZE
    sanity: int = 0

    def __post_init__(self) -> None:
        unknown = [m for m in self.methods if m not in REGISTRY]
        if unknown:
            raise ValueError(f"unknown methods: {', '.join(unknown)}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.batch_size}")
        if self.faithfulness not in FAITHFULNESS:
            raise ValueError(f"faithfulness must be one of {', '.join(FAITHFULNESS)}")

    @property
    def curves(self) -> bool:
        return self.faithfulness != "none"

    @property
    def road(self) -> bool:
        return self.faithfulness in ("road", "all")

    def conditions(self, checkpoint_sha256: str | None) -> dict[str, Any]:
        """What a resumed record must have been made under: the resume key of a partial file.

        ``params`` holds every registered method's settings with its defaults filled in, not
        only those given: a record made before a default moved must not be reused after it.
        """
        settings = {
            key: validate(REGISTRY[key].params, dict(self.params.get(key, {})), key)
            for key in sorted(REGISTRY)
        }
        return {
            "checkpoint_sha256": checkpoint_sha256,
            "protocol": self.protocol.to_dict(),
            "params": json.loads(json.dumps(settings)),  # as the file will read back
            "road": self.road,
            "calibrated": dict(self.calibrated or {}),
            **({"steps": self.steps} if self.steps != 16 else {}),
            **({} if self.curves else {"curves": False}),
        }


def run_evaluation(
    model: DigitResNet18,
    items: Sequence[HouseNumber],
    options: EvaluationOptions,
    *,
    partial: str | os.PathLike[str] | None = None,
    resume: bool = True,
    progress: Callable[[int, int], None] | None = None,
    checkpoint_sha256: str | None = None,
    shard: Shard | None = None,
) -> dict[str, Any] | None:
    """Score ``options.methods`` on every (image, digit present) pair of ``items``.

    Args:
        items: model inputs (boxes in model-input pixels), in a fixed order; a source with a
            ``labels(i)`` method names item ``i``'s digits without decoding its photo.
        partial: JSONL file of per-pair records, headed by the conditions they were made under
            (:meth:`EvaluationOptions.conditions`); with ``resume`` the records of an
            interrupted run are reused when its conditions are these (a method whose settings
            moved is made again, the others' records kept), and
            :class:`~.resume.ResumeMismatch` is raised, naming what differs, when another
            checkpoint, protocol or imputation made them. The randomisation check's results
            are kept there too, per method, and reused the same way.
        progress: called with (pairs done, pairs in all).
        checkpoint_sha256: the model file's digest, recorded and checked on resume.
        shard: under torchrun, this process's :class:`~svhn_xai.shards.Shard`: it does the
            batches it owns, writes its records to its own ``partial`` file (resumable on its
            own), and rank 0 gathers every rank's records into the one leaderboard.

    Returns the leaderboard (:func:`summarise`) with ``class_sensitivity`` per method over the
    photos with >= 2 different evaluated digits, from the same maps (no second pass), and
    ``sanity`` when asked for; None on ranks other than 0.
    """
    shard = shard or Shard()
    digits = tuple(options.digits) if options.digits is not None else model.digits
    count = min(options.limit or len(items), len(items))
    reader = _Reader(items)
    pairs = [(i, d) for i in range(count) for d in sorted(set(reader.labels(i))) if d in digits]
    path = Path(shard.name(partial)) if partial is not None else None
    conditions = options.conditions(checkpoint_sha256)
    resumed = reusable_records(conditions, path, resume) if path else Resumed()
    if path is not None and not resumed.header:
        path.write_text(json.dumps({"conditions": conditions}) + "\n")
    tic = time.perf_counter()
    out = open(path, "a") if path is not None else None  # noqa: SIM115  (closed in finally)
    try:
        records = _score_pairs(model, reader, pairs, options, resumed.records, out, shard, progress)
    finally:
        if out is not None:
            out.close()
    gathered = gather(shard, records)
    # the largest resident memory of any rank so far, in MB (ru_maxrss is in kB on Linux)
    peaks = gather(shard, [resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024])
    if gathered is None or peaks is None:
        return None
    order = {pair: n for n, pair in enumerate(pairs)}
    records = sorted(gathered, key=lambda r: order[r["index"], r["digit"]])
    summary = _summary(records, options, digits)
    summary.update(
        processes=shard.world,
        seconds=time.perf_counter() - tic,  # the pairs' evaluation, all ranks, wall time
        peak_rss_mb=max(peaks),
    )
    if options.sanity:
        summary["sanity"] = _sanity(model, items, options, resumed, path)
    return summary


def _sanity(
    model: DigitResNet18,
    items: Sequence[HouseNumber],
    options: EvaluationOptions,
    resumed: Resumed,
    path: Path | None,
) -> dict[str, Any]:
    """The randomisation check of ``options.methods`` on the first ``options.sanity`` images
    (one pair each), reusing an interrupted run's results per method where it checked as many
    images under the same settings, and appending what it checks to the partial file."""
    chosen = [items[i] for i in range(min(options.sanity, len(items)))]
    reuse = resumed.sanity if resumed.sanity_images == len(chosen) else {}
    todo = [m for m in options.methods if m not in reuse]
    result = {"layers": list(RANDOMISATION_ORDER), "methods": {}}
    if todo:
        checked = [(item.image, item.labels[0]) for item in chosen]
        result = randomisation_check(model, checked, todo, batch_size=options.batch_size)
        if path is not None:
            with open(path, "a") as out:
                out.write(sanity_line(len(chosen), result) + "\n")
    every = {**reuse, **result["methods"]}
    return {**result, "methods": {m: every[m] for m in options.methods}}


class _Reader:
    """Items read once each. A source that knows its labels without decoding (SVHN's
    digitStruct) is read once per photo, in the batch that needs it; any other is read once
    when its labels are asked for, and kept until its last pair is done. Both ways, items
    enter ``read`` in photo order, so the finished ones are at its front."""

    def __init__(self, items: Sequence[HouseNumber]) -> None:
        self.items, self.read = items, {}
        self.known = getattr(items, "labels", None)

    def labels(self, i: int) -> tuple[int, ...]:
        if self.known is not None:
            return self.known(i)
        self.read[i] = self.items[i]
        return self.read[i].labels

    def __getitem__(self, i: int) -> HouseNumber:
        if i not in self.read:
            self.read[i] = self.items[i]
        return self.read[i]

    def forget_before(self, index: int) -> None:
        while self.read and next(iter(self.read)) < index:  # every pair of that photo done
            del self.read[next(iter(self.read))]


def _score_pairs(
    model: DigitResNet18,
    reader: _Reader,
    pairs: list[tuple[int, int]],
    options: EvaluationOptions,
    done: dict[tuple[int, int], dict[str, Any]],
    out: TextIO | None,
    shard: Shard,
    progress: Callable[[int, int], None] | None,
) -> list[dict[str, Any]]:
    """The records of this process's batches of ``pairs``: reused from ``done`` where whole,
    made (and appended to ``out``) where not."""
    size = options.batch_size
    batches = range(0, len(pairs), size)
    mine = [start for b, start in enumerate(batches) if shard.owns(b)]
    total = sum(len(pairs[start : start + size]) for start in mine)
    records: list[dict[str, Any]] = []
    for start in mine:
        batch = pairs[start : start + size]
        kept = {pair: done[pair] for pair in batch if pair in done}
        # each pair's methods without a usable entry; a pair with none is made whole
        missing = {
            pair: tuple(m for m in options.methods if stale(kept[pair]["methods"].get(m)))
            if pair in kept
            else tuple(options.methods)
            for pair in batch
        }
        for methods in dict.fromkeys(missing.values()):
            todo = [(i, reader[i], d) for i, d in batch if methods and missing[i, d] == methods]
            if not todo:
                continue
            made = pair_records(
                model, todo, methods, options.protocol, options.params, options.road,
                options.calibrated, options.steps, options.curves,
            )  # fmt: skip
            for record in made:
                pair = record["index"], record["digit"]
                if pair in kept:  # keep what was reusable: its baselines, its other methods
                    record = {
                        **kept[pair],
                        "methods": {**kept[pair]["methods"], **record["methods"]},
                    }
                kept[pair] = record
                if out is not None:
                    out.write(json.dumps(record) + "\n")
        if out is not None:
            out.flush()
        records += [kept[pair] for pair in batch]
        reader.forget_before(batch[-1][0])
        if progress is not None:
            progress(len(records), total)
    return records


def _summary(
    records: list[dict[str, Any]], options: EvaluationOptions, digits: Sequence[int]
) -> dict[str, Any]:
    rule = options.protocol
    settings = options.conditions(None)["params"]
    summary = summarise(records, list(options.methods))
    summary["class_sensitivity"] = class_sensitivity(records, options.methods, BASELINES)
    summary.update(
        {
            "protocol": rule.to_dict(),
            "threshold_mode": rule.mode,
            "threshold": rule.value,
            "digits": list(digits),
            "faithfulness": (
                ["black", "blur", *(["road"] if options.road else [])] if options.curves else []
            ),
            "batch_size": options.batch_size,
            "threshold_source": "calibrated" if options.calibrated else "fixed",
            # each method's settings as run, defaults filled in: a row is read at these
            "method_params": {key: settings[key] for key in options.methods},
        }
    )
    if options.calibrated:
        summary["calibrated"] = dict(options.calibrated)
    return summary
