"""The `audiogate` command: the datasets, the reports and the embedded server, outside pytest.

The gates themselves run under pytest (`pytest benchmarks`); this command gets the data,
works with the reports a run wrote, and serves the embedded CPU models over HTTP.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from audiogate import __version__
from audiogate.errors import AudiogateError

# Each module exposes add_parser(subparsers) that sets `func` (args -> exit code).
SUBCOMMANDS: list[str] = [
    "audiogate.cli.data",
    "audiogate.cli.serve",
    "audiogate.cli.report",
    "audiogate.cli.weights",
]


DESCRIPTION = """\
Release gates for audio models. The gates run under pytest:
  pytest benchmarks -k librispeech
This command gets the data, reads the reports and serves the CPU models."""

EXAMPLES = """\
examples:
  audiogate data list                                 what is on disk, per dataset
  audiogate data fetch librispeech-test-clean         download, verify, install
  audiogate report merge reports/shard-* -o reports/all   one verdict from CI shards
  audiogate report detectable baselines/whisper-tiny.en/librispeech-test-other.jsonl
  audiogate serve --model whisper-tiny.en --port 8000  the CPU model over OpenAI endpoints
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="audiogate", description=DESCRIPTION, epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"audiogate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
