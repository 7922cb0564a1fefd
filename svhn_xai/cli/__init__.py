"""``python -m svhn_xai COMMAND``: train, test, explain, evaluate, calibrate, methods, export,
download, shortcut.

Every command takes ``--json`` for machine-readable output. Errors about the user's input or
environment print one line to stderr and exit with status 2; nothing already on disk is touched.

One module per command, each with ``add_parser(sub)`` and ``run(args) -> int``; the parser is
assembled from them in the order of :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence

from svhn_xai.cli import (
    calibrate,
    download,
    evaluate,
    explain,
    export,
    methods,
    shortcut,
    test,
    train,
)
from svhn_xai.cli.options import DIGITS_ALL
from svhn_xai.errors import SvhnXaiError

COMMANDS = (train, test, explain, evaluate, calibrate, methods, export, download, shortcut)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m svhn_xai", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Captum narrates its hooks and gradient settings on every call; the CLI's output is ours
    warnings.filterwarnings("ignore", category=UserWarning, module=r"captum(\.|$)")
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command == "train" and args.target_digit is not None and args.digits != DIGITS_ALL:
        parser.error("--target-digit and --digits exclude each other")
    try:
        return args.func(args)
    except (SvhnXaiError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
