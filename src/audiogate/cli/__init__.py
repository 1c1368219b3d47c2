"""The `audiogate` command. Subcommands live in their own modules and register here."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from audiogate.errors import AudiogateError

# Each module exposes add_parser(subparsers) that sets `func` (args -> exit code).
SUBCOMMANDS: list[str] = [
    "audiogate.cli.data",
    "audiogate.cli.serve",
    "audiogate.cli.report",
    "audiogate.cli.weights",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiogate", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for module in SUBCOMMANDS:
        importlib.import_module(module).add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except AudiogateError as exc:
        print(f"audiogate: error: {exc}", file=sys.stderr)
        return 2
    return code
