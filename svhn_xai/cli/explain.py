"""``explain``: one photo, one digit (or every head), one method, scored against the boxes."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from svhn_xai.cli.options import (
    add_threshold_options,
    digit,
    digit_or_all,
    emit,
    marked_box,
    param,
    protocol_of,
    reading,
)
from svhn_xai.errors import SvhnXaiError

if TYPE_CHECKING:  # imported lazily at run time: every command loads only what it uses
    from svhn_xai.scoring.calibration import Calibration
    from svhn_xai.scoring.protocol import Protocol


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("explain", help="explain one image for one digit and score the heatmap")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", help="a photo (PNG/JPEG/WebP …) of a house number")
    source.add_argument("--index", type=int, help="0-based image of --data/--split (1.png is 0)")
    p.add_argument(
        "--box",
        type=marked_box,
        action="append",
        metavar="x0,y0,x1,y1[:LABEL]",
        help="with --image: a digit's box in the photo's pixels and the digit in it "
        "(repeatable; mark every digit). A box without :LABEL holds --digit",
    )
    p.add_argument(
        "--no-crop",
        action="store_true",
        help="with --image: the photo already is a crop around the house number; by default it "
        "is cropped to the union of all boxes grown 15 %% per side, as the dataset is",
    )
    p.add_argument("--data", choices=("synthetic", "svhn"), default="synthetic")
    p.add_argument("--root", help="svhn: folder holding the split folders")
    p.add_argument("--split", choices=("train", "test", "extra"), default="test")
    p.add_argument(
        "--digit",
        type=digit_or_all,
        required=True,
        help="the digit to explain, or all: every head, scored against its own boxes, "
        "with the method's class sensitivity on the photo",
    )
    p.add_argument(
        "--contrast",
        type=digit,
        metavar="E",
        help="explain why --digit and not E: the difference of the two heads' logits",
    )
    p.add_argument("--method", default="integrated_gradients", help="see `methods`")
    p.add_argument("--param", type=param, action="append", help="name=value (repeatable)")
    add_threshold_options(p)
    p.add_argument(
        "--reduction",
        choices=("sum", "abs", "positive"),
        help="channel reduction of the heatmap (default: the method's own)",
    )
    p.add_argument(
        "--clip-percentile",
        type=float,
        default=100.0,
        help="saturate the heatmap above this percentile (outlier clipping)",
    )
    p.add_argument("--checkpoint", help="default: checkpoints/default.pt")
    p.add_argument("--save-overlay", metavar="PNG")
    p.add_argument("--save-attribution", metavar="NPY")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def _model_input(args: argparse.Namespace, input_size: int, margin: float):
    """The explained image (model input, boxes of every digit) from --image or --data."""
    from svhn_xai.data.image_io import load_rgb
    from svhn_xai.data.marks import box_labels
    from svhn_xai.data.sources import open_source
    from svhn_xai.data.target import marked_photo_input, to_model_input

    if args.image is not None:
        if not args.box:
            raise SvhnXaiError(
                "--image needs at least one --box x0,y0,x1,y1[:LABEL] around a digit"
            )
        labels = box_labels(args.box, args.digit)
        image = load_rgb(args.image)
        boxes = [m.box for m in args.box]
        try:
            return marked_photo_input(image, boxes, labels, input_size, margin, not args.no_crop)
        except ValueError as exc:
            raise SvhnXaiError(f"--box: {exc}") from None
    source = open_source(args.data, args.split, args.root)
    if not 0 <= args.index < len(source):
        raise SvhnXaiError(f"--index {args.index} is outside 0..{len(source) - 1} of {args.split}")
    return to_model_input(source[args.index], input_size, margin)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from svhn_xai.explain import explain
    from svhn_xai.explain.stability import stability
    from svhn_xai.model.checkpoint import load_model
    from svhn_xai.provenance import shown_path
    from svhn_xai.scoring.localisation import localise

    protocol_of(args)  # a bad rule is refused before the model is loaded
    if not 0 < args.clip_percentile <= 100:
        raise SvhnXaiError(f"--clip-percentile must be in (0, 100], got {args.clip_percentile:g}")
    model, card = load_model(args.checkpoint)
    protocol, calibration, why = reading(args, card)
    if args.digit == "all":
        return _explain_all(args, model, card, protocol, calibration, why)
    model_input = _model_input(args, model.input_size, card["config"].get("margin", 0.15))
    item = model_input.item
    params = dict(args.param or [])
    explanation = explain(
        model, item.image, args.digit, args.method, contrast=args.contrast, **params
    )
    result = localise(
        explanation,
        item.boxes_of(args.digit),
        protocol,
        reduction=args.reduction,
        clip_percentile=args.clip_percentile,
        calibration=calibration,
    )
    if why:
        result["notes"].append(why)
    result["image"] = args.image or f"{args.data}/{args.split}/{args.index}"
    result["checkpoint"] = shown_path(card["path"])  # never a server path
    agreement = stability(model, item.image, explanation)
    if agreement is not None:  # a sampling method: how much a second draw agrees
        result["stability"] = agreement
    if args.save_attribution:
        np.save(args.save_attribution, explanation.attribution)
    if args.save_overlay:
        from PIL import Image

        from svhn_xai.report.figures import overlay

        heat = explanation.heatmap(args.reduction, args.clip_percentile, protocol.sigma)
        picture = overlay(
            item.image, heat, gt_boxes=item.boxes_of(args.digit), heat_box=result.get("heatmap_box")
        )
        Image.fromarray(picture).save(args.save_overlay)

    emit(result, args.json, lambda r: _text(r, protocol))
    return 0


def _unstable(found: dict[str, Any]) -> str:
    """What a map that varies between draws needs, in words ('' for a stable one)."""
    from svhn_xai.explain.stability import STABLE_RHO  # loaded already: the map was drawn

    if found["stable"]:
        return ""
    k = found["budget_multiple"]
    need = f"about {k:.0f}x its samples or --param draws" if k else "a larger budget"
    return f" (varies between runs: {need} would reach rho {STABLE_RHO})"


def _text(r: dict[str, Any], protocol: Protocol) -> str:
    """``explain``'s result for one digit in words, as the terminal shows it."""
    head = f"{r['method']} for digit {r['digit']}: p = {r['probability']:.3f}"
    if "contrast" in r:
        head = f"{r['method']} for digit {r['digit']} and not {r['contrast']}: "
        head += f"logit difference {r['logit']:.3f}, p({r['digit']}) = {r['probability']:.3f}"
    head += f", {r['seconds']:.3f} s"
    if "stability" in r:
        rho = r["stability"]["rho"]
        head += f"; seed to seed rho {rho:.2f}" + _unstable(r["stability"])
    if not r["scored"]:
        return head + "\n" + "\n".join(r["notes"])
    reading = (
        f"{r['protocol']['mode']} {r['protocol']['value']:g} calibrated for {r['method']}"
        if r["threshold_source"] == "calibrated"
        else protocol.describe()
    )
    lines = [
        head + f"; mask: {reading}, {r['active_fraction']:.1%} of the pixels",
        f"  {'':24s} " + " ".join(f"{m.short + m.arrow:>10s}" for m in _pair_columns()),
        f"  {r['method']:24s} " + " ".join(f"{m.format(r[m.key]):>10s}" for m in _pair_columns()),
    ]
    for name, b in r["baselines"].items():
        cells = " ".join(f"{m.format(b.get(m.key)):>10s}" for m in _pair_columns())
        lines.append(f"  {'baseline ' + name:24s} {cells}")
    for m in _pair_columns():
        if m.key in r["versus"]:
            v = r["versus"][m.key]
            lines.append(
                f"  {m.short}: {v['difference']:+.3f} against the strongest baseline on it, "
                f"{v['baseline']} ({m.direction} is better)"
            )
    return "\n".join(lines + [f"  note: {n}" for n in r["notes"]])


def _explain_all(
    args: argparse.Namespace,
    model,
    card: dict[str, Any],
    protocol: Protocol,
    calibration: Calibration | None,
    why: str | None,
) -> int:
    """``explain --digit all``: every head on one photo, and the method's class sensitivity.

    Every head is scored under ``protocol`` (the --threshold-mode/--threshold/--smooth rule), as
    a single digit is. Class sensitivity reads the unsmoothed heatmaps, as ``evaluate`` and the
    app's All digits page do: like relevance mass, it is a share of heat in the boxes, which the
    mask rule's smoothing is not meant to move.
    """
    from svhn_xai.explain import explain
    from svhn_xai.provenance import shown_path
    from svhn_xai.scoring.class_sensitivity import class_sensitivity, pair_outcomes
    from svhn_xai.scoring.localisation import localise

    if args.contrast is not None:
        raise SvhnXaiError("--contrast explains one digit against another: give --digit D")
    if args.save_overlay or args.save_attribution:
        raise SvhnXaiError("--save-overlay/--save-attribution save one digit: give --digit D")
    model_input = _model_input(args, model.input_size, card["config"].get("margin", 0.15))
    item = model_input.item
    params = dict(args.param or [])
    digits: dict[str, Any] = {}
    heatmaps, boxes = {}, {}
    for d in model.digits:
        e = explain(model, item.image, d, args.method, **params)
        r = localise(
            e, item.boxes_of(d), protocol, reduction=args.reduction,
            clip_percentile=args.clip_percentile, calibration=calibration,
        )  # fmt: skip
        r["notes"] += [why] if why and r["scored"] else []
        digits[str(d)] = r
        heatmaps[d], boxes[d] = e.heatmap(args.reduction, args.clip_percentile), item.boxes_of(d)
    outcomes = pair_outcomes(heatmaps, boxes)
    payload = {
        "method": args.method,
        "image": args.image or f"{args.data}/{args.split}/{args.index}",
        "checkpoint": shown_path(card["path"]),
        "digits": digits,
        "class_sensitivity": {**class_sensitivity(outcomes), "outcomes": outcomes},
    }

    def text(p: dict[str, Any]) -> str:
        lines = [f"{p['method']} on {p['image']}, every head:"]
        for d, r in p["digits"].items():
            row = f"  digit {d}: p = {r['probability']:.3f}"
            if r["scored"]:
                row += (
                    f"  IoU_1 {r['iou_1']:.3f}  IoU_2 {r['iou_2']:.3f}  pointing "
                    f"{r['pointing_game']:.2f}  mass in box {r['relevance_mass']:.3f}"
                )
            else:
                row += "  (not in the photo: not scored)"
            lines.append(row)
        cs = p["class_sensitivity"]
        if cs["score"] is None:
            lines.append("class sensitivity: needs two different digits in the photo")
        else:
            lines.append(f"class sensitivity {cs['score']:.2f} over {cs['pairs']} pairs")
            lines.append(f"  ({cs['direction']})")
            for o in cs["outcomes"]:
                verdict = {1.0: "own box", 0.5: "tie", 0.0: "other box"}[o["win"]]
                lines.append(
                    f"  map of {o['digit']}: heat {o['own']:.3f} on its box, "
                    f"{o['other_box']:.3f} on {o['other']}'s -> {verdict}"
                )
        return "\n".join(lines)

    emit(payload, args.json, text)
    return 0


def _pair_columns():
    """The per-map scores a terminal table shows for one photo, from the metric registry."""
    from svhn_xai.scoring.registry import family

    return [m for m in family("mask", "threshold-free") if m.key != "pointing_game_tolerant"]
