"""What the commands share: argument types, option groups, how maps are read, output."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from svhn_xai.errors import SvhnXaiError

DIGITS_ALL = tuple(range(10))


def digit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a digit 0-9") from None
    if not 0 <= value <= 9:
        raise argparse.ArgumentTypeError(f"{value} is not a digit 0-9")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def digit_or_all(text: str) -> int | str:
    return "all" if text == "all" else digit(text)


def digits(text: str) -> tuple[int, ...]:
    if text == "all":
        return DIGITS_ALL
    values = tuple(digit(t) for t in text.split(","))
    if len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"digits repeat in {text!r}")
    return values


def cue_spec(text: str) -> str:
    from svhn_xai.data.synthetic import Cue

    try:
        Cue.from_spec(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_data_options(p: argparse.ArgumentParser, split: str) -> None:
    p.add_argument(
        "--data",
        choices=("synthetic", "svhn"),
        default="synthetic",
        help="synthetic house numbers (offline default) or real SVHN Format 1",
    )
    p.add_argument("--root", help="svhn: folder holding the split folders (ROOT/test/1.png …)")
    p.add_argument("--split", choices=("train", "test", "extra"), default=split)
    p.add_argument(
        "--indices",
        help="0-based slice 'START:STOP' of the split (e.g. 0:128), or several: '0:64,128:192'",
    )


def add_threshold_options(p: argparse.ArgumentParser) -> None:
    """The mask rule's options; every default is
    :data:`svhn_xai.scoring.protocol.DEFAULT_PROTOCOL`'s."""
    from svhn_xai.scoring.protocol import (
        DEFAULT_PROTOCOL,
        SMOOTH_HIGH,
        SMOOTH_LOW,
        THRESHOLD_MODES,
    )

    p.add_argument(
        "--threshold-mode",
        choices=tuple(THRESHOLD_MODES),
        help=f"how the heatmap becomes a mask (default: {DEFAULT_PROTOCOL.mode}); "
        + "; ".join(f"{m.key}: {m.help}" for m in THRESHOLD_MODES.values()).replace("%", "%%"),
    )
    p.add_argument(
        "--threshold",
        type=float,
        help="the mode's parameter (default: the protocol's, or the mode's own); "
        + "; ".join(
            f"{m.key}: {m.param} in [{m.low:g}, {m.high:g}]"
            for m in THRESHOLD_MODES.values()
            if m.param
        ).replace("%", "%%"),
    )
    p.add_argument(
        "--smooth",
        type=float,
        metavar="SIGMA",
        help=f"Gaussian smoothing of the map before thresholding, sigma in pixels "
        f"[{SMOOTH_LOW:g}, {SMOOTH_HIGH:g}] (default: {DEFAULT_PROTOCOL.sigma:g})",
    )


def protocol_of(args: argparse.Namespace):
    """The mask rule asked for: the default protocol with the given options, range-checked."""
    from svhn_xai.errors import ParameterError
    from svhn_xai.scoring.localisation import resolve_protocol

    try:
        return resolve_protocol(args.threshold_mode, args.threshold, args.smooth)
    except ValueError as exc:
        raise ParameterError(str(exc)) from None


def reading(args: argparse.Namespace, card: dict[str, Any]):
    """How maps are read: ``(protocol, calibration, note)``. With neither --threshold-mode nor
    --threshold, each method and baseline at its value in the checkpoint's calibration file
    (:mod:`svhn_xai.scoring.calibration`); otherwise, or without a usable file (``note`` says
    why), the one fixed rule for all."""
    from svhn_xai.provenance import file_sha256
    from svhn_xai.scoring.calibration import load_calibration

    protocol = protocol_of(args)
    if args.threshold_mode is not None or args.threshold is not None:
        return protocol, None, None
    calibration, why = load_calibration(card["path"], file_sha256(card["path"]))
    if calibration is not None and args.smooth not in (None, calibration.protocol.sigma):
        why = (
            f"--smooth {args.smooth:g} differs from the calibration's sigma "
            f"{calibration.protocol.sigma:g} px: the fixed rule applies"
        )
        calibration = None
    if calibration is None:
        return protocol, None, why
    return calibration.protocol, calibration, None


def emit(payload: dict[str, Any], as_json: bool, text: Callable[[dict[str, Any]], str]) -> None:
    print(json.dumps(payload, indent=2) if as_json else text(payload))


def marked_box(text: str):
    from svhn_xai.data.marks import parse_marked_box

    try:
        return parse_marked_box(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"a parameter is name=value, got {text!r}")
    return name.strip(), value.strip()


def method_keys(spec: str) -> list[str]:
    """The method keys of ``--methods``: comma-separated, or ``all``; an unknown one refused."""
    from svhn_xai.explain import REGISTRY

    methods = list(REGISTRY) if spec == "all" else spec.split(",")
    unknown = [m for m in methods if m not in REGISTRY]
    if unknown:
        raise SvhnXaiError(f"unknown method(s) {', '.join(unknown)}; see `methods`")
    return methods


class ModelInputs:
    """Model inputs of a data source, cropped when read, so that --limit and --resume cost
    nothing up front; ``labels(i)`` where the source knows them without decoding."""

    def __init__(
        self, data: str, split: str, root: str | None, indices: str | None, size: int, margin: float
    ) -> None:
        from svhn_xai.data.sources import open_source

        self.source = open_source(data, split, root, indices=indices)
        self.size, self.margin = size, margin

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, i: int):
        from svhn_xai.data.target import to_model_input

        return to_model_input(self.source[i], self.size, self.margin).item

    @property
    def labels(self):  # the crop keeps every digit: the source's labels(i), where it has one
        return self.source.labels


HELD_OUT = "192:256"  # 0-based: photos 193-256 of the shared sample, held out for every table
