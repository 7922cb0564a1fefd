"""``download``: fetch and unpack an official SVHN Format 1 split."""

from __future__ import annotations

import argparse

from svhn_xai.cli.options import emit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("download", help="fetch and unpack an official SVHN Format 1 split")
    p.add_argument("--split", choices=("train", "test", "extra"), default="test")
    p.add_argument("--root", default="data/svhn", help="where the split folder goes")
    p.add_argument("--base-url", help="mirror to fetch from (default: the official site)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from svhn_xai.data.download import download_split

    folder = download_split(args.split, args.root, base_url=args.base_url)
    emit({"split": args.split, "folder": str(folder)}, args.json, lambda p: f"ready: {p['folder']}")
    return 0
