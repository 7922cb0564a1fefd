"""``methods``: every explainer, its parameters, defaults and ranges."""

from __future__ import annotations

import argparse
from typing import Any

from svhn_xai.cli.options import emit


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("methods", help="list the explainers and their parameters")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from svhn_xai.explain import REGISTRY

    payload = {key: spec.to_dict() for key, spec in REGISTRY.items()}

    def text(p: dict[str, Any]) -> str:
        lines = []
        for key, spec in p.items():
            lines.append(f"{key:24s} {spec['name']} ({spec['family']}): {spec['description']}")
            for name, param in spec["params"].items():
                allowed = param.get("range") or param.get("choices") or ""
                lines.append(f"    {name} = {param['default']!r}  {allowed}")
        return "\n".join(lines)

    emit(payload, args.json, text)
    return 0
