"""`audiogate data list|fetch|verify`: get the benchmarks and see what is on disk."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from audiogate.datasets import fetch as fetching
from audiogate.paths import default_data_root


def add_parser(subparsers: Any) -> None:
    """Register `data` and its three actions (each sets ``args.func``)."""
    data = subparsers.add_parser("data", help="list, fetch and verify benchmark datasets",
                                 description=__doc__)
    actions = data.add_subparsers(dest="action", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--data-root", type=Path, default=None,
                       help="data root (default: $AUDIOGATE_DATA_ROOT, else the "
                            "audiogate_data_root of the nearest pyproject.toml's pytest "
                            "settings, else ~/.cache/audiogate/data)")
        p.add_argument("--registry", type=Path, default=None,
                       help="extra datasets YAML (entries add to / override the built-in ones)")

    lst = actions.add_parser("list", help="every registered dataset and its status")
    common(lst)
    lst.set_defaults(func=_list)

    get = actions.add_parser("fetch", help="download, verify and install datasets")
    get.add_argument("names", nargs="+", metavar="NAME", help="dataset or source name")
    common(get)
    get.add_argument("--mirror", default=None, metavar="URL",
                     help="replace the host + path prefix of every URL "
                          "(default: $AUDIOGATE_MIRROR)")
    get.add_argument("--sources", type=Path, default=None,
                     help="extra sources YAML (entries add to / override sources.yaml)")
    get.add_argument("--no-verify", action="store_true",
                     help="accept files that have NO official checksum (their sha256 is "
                          "recorded); files that have one are always checked")
    get.add_argument("--force", action="store_true", help="replace an installed copy")
    get.add_argument("--keep-archive", action="store_true",
                     help="keep the verified archive in <data root>/.downloads")
    get.add_argument("--quiet", action="store_true", help="no progress bar")
    get.set_defaults(func=_fetch)

    ver = actions.add_parser("verify", help="sample counts and kept-archive checksums")
    ver.add_argument("names", nargs="+", metavar="NAME", help="dataset or source name")
    common(ver)
    ver.add_argument("--sources", type=Path, default=None, help="extra sources YAML")
    ver.set_defaults(func=_verify)


def _root(args: argparse.Namespace) -> Path:
    return Path(args.data_root).expanduser() if args.data_root else \
        default_data_root(Path.cwd())


def _row(s: fetching.DatasetStatus) -> str:
    count = f"{s.found}/{s.expected if s.expected is not None else '?'}"
    note = f"  ({s.note})" if s.note else ""
    layout = "  [hf copy]" if s.layout == "hf" else ""
    return f"{s.name:<28} {s.status:<8} {count:>11}  {s.path}{layout}{note}"


def _list(args: argparse.Namespace) -> int:
    root = _root(args)
    print(f"data root: {root}")
    print(f"{'dataset':<28} {'status':<8} {'found/exp':>11}  path")
    for status in fetching.list_datasets(root, args.registry):
        print(_row(status))
    return 0


def _fetch(args: argparse.Namespace) -> int:
    root = _root(args)
    for name in args.names:
        result = fetching.fetch(name, root, base_url=args.mirror, progress=not args.quiet,
                                sources=args.sources, verify=not args.no_verify,
                                force=args.force, keep_archive=args.keep_archive)
        if not result.installed:
            print(f"{name}: already at {result.dest} (use --force to replace)")
            continue
        print(f"{name}: installed {result.dest}")
        for file, hashes in result.observed.items():
            print(f"  {file}: md5 {hashes['md5']} sha256 {hashes['sha256']}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    root = _root(args)
    ok = True
    for name in args.names:
        report = fetching.verify(name, root, sources=args.sources, extra=args.registry)
        ok = ok and report.ok
        for status in report.datasets:
            print(_row(status))
        for file, state in report.archives.items():
            print(f"  archive {file}: {state}")
    return 0 if ok else 1
