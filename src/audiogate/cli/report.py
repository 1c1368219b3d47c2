"""`audiogate report merge`: one table and one verdict from the reports of several CI shards;
`report agree`: clip-by-clip agreement of two runs; `report detectable`."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path
from typing import Any

from audiogate.cli import report_diff
from audiogate.errors import AudiogateError
from audiogate.results.report import (
    FAILING,
    Row,
    counts_line,
    run_metadata,
    samples_path,
    table,
    verdict,
    write_reports,
)


class MergeError(AudiogateError):
    """An input of `report merge` that makes the merged verdict meaningless."""


def read_report(path: Path) -> list[Row]:
    """The rows of one audiogate-report.json (or of the folder holding it)."""
    if path.is_dir():
        path = path / "audiogate-report.json"
    if not path.is_file():
        raise MergeError(f"{path}: no audiogate report there (a shard that wrote nothing "
                         "cannot count as passing)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return [Row.from_json(raw) for raw in data["rows"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MergeError(f"{path}: not an audiogate report ({type(exc).__name__}: {exc})"
                         ) from exc


def merge(paths: list[Path]) -> list[Row]:
    """Rows of every report; a pair that appears in two shards is an error (ran twice)."""
    rows: dict[str, tuple[Row, Path]] = {}
    for path in paths:
        for row in read_report(path):
            pair_id = row.result.pair_id
            if pair_id in rows:
                raise MergeError(f"{pair_id} appears in both {rows[pair_id][1]} and {path}; "
                                 "each pair must run in exactly one shard")
            rows[pair_id] = (row, path)
    return [row for row, _ in rows.values()]


def copy_samples(rows: list[Row], folders: list[Path], output: Path) -> None:
    """Each pair's per-sample records beside the merged report, so its HTML (and a later
    `audiogate report diff`) shows the utterances, not only the numbers."""
    for row in rows:
        target = samples_path(output, row.result.model, row.result.dataset)
        for folder in folders:
            source = samples_path(folder, row.result.model, row.result.dataset)
            if source.is_file() and source.resolve() != target.resolve():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                break


def _run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.reports]
    try:
        rows = merge(paths)
    except MergeError as exc:
        print(f"audiogate report merge: {exc}", file=sys.stderr)
        print("verdict: FAIL (the inputs could not be merged)")
        return 1
    meta: dict[str, Any] = run_metadata()
    meta["merged_from"] = [str(p) for p in paths]
    copy_samples(rows, [p if p.is_dir() else p.parent for p in paths], Path(args.output))
    written = write_reports(rows, Path(args.output), meta)
    print(table(rows, markdown=False))
    for row in rows:
        if row.status in FAILING:
            print(f"{row.result.pair_id}: {row.status.upper()} — {row.reason}")
    for path in written:
        print(f"report: {path}")
    outcome = verdict(rows)
    print(f"verdict: {outcome.upper()} ({len(rows)} pairs from {len(paths)} reports; "
          f"{counts_line(rows)})")
    return 1 if outcome == "fail" else 0


def _detectable(args: argparse.Namespace) -> int:
    """The smallest regression the paired gate can see on this baseline's sample set."""
    import numpy as np

    from audiogate.gate.paired import read_baseline
    from audiogate.gate.stats import min_detectable_regression

    data = read_baseline(Path(args.baseline))
    errors = np.array([v[0] for v in data.values()])
    lens = np.array([v[1] for v in data.values()])
    mdr = min_detectable_regression(errors, lens, confidence=args.confidence, power=args.power)
    print(f"{args.baseline}: {len(data)} samples; the paired gate detects a regression of "
          f"{mdr:.2f} points (+ its margin) with {args.power:.0%} power at "
          f"{args.confidence:.0%} confidence")
    return 0


def _agree(args: argparse.Namespace) -> int:
    """Clip-by-clip agreement of two runs; exit 1 beyond the allowed differing clips."""
    from audiogate.results.agreement import compare

    results = compare(Path(args.a), Path(args.b))
    if not results:
        print(f"audiogate report agree: no dataset in both {args.a} and {args.b}",
              file=sys.stderr)
        return 1
    different = 0
    for agreement in results:
        print(agreement.line())
        for sample_id in agreement.same_words:
            print(f"  same words {sample_id}")
        for sample_id, left, right in agreement.different:
            print(f"  DIFFERENT {sample_id}:\n    a: {left!r}\n    b: {right!r}")
        different += len(agreement.different) + len(agreement.only_one)
    total = sum(a.clips for a in results)
    print(f"agreement: {total - different}/{total} clips agree "
          f"({different} differ, {args.allow} allowed)")
    return 0 if different <= args.allow else 1


def add_parser(subparsers: Any) -> None:
    report = subparsers.add_parser("report", help="work with audiogate reports")
    sub = report.add_subparsers(dest="report_command", required=True)
    merge_parser = sub.add_parser("merge", help="merge the reports of several shards")
    merge_parser.add_argument("reports", nargs="+",
                              help="audiogate-report.json files or the folders holding them")
    merge_parser.add_argument("-o", "--output", default="reports/merged",
                              help="folder for the merged report (default reports/merged)")
    merge_parser.set_defaults(func=_run)
    detect = sub.add_parser("detectable", help="smallest regression the paired gate can "
                                               "detect on a baseline's sample set")
    detect.add_argument("baseline", help="a baseline JSONL written by --update-thresholds")
    detect.add_argument("--confidence", type=float, default=0.95)
    detect.add_argument("--power", type=float, default=0.8)
    detect.set_defaults(func=_detectable)
    agree = sub.add_parser("agree", help="clip-by-clip agreement of two runs of the same "
                                         "weights (e.g. served vs in-process)")
    agree.add_argument("a", help="a report folder (holding samples/)")
    agree.add_argument("b", help="another report folder")
    agree.add_argument("--allow", type=int, default=0,
                       help="differing clips tolerated before exit 1 (default 0)")
    agree.set_defaults(func=_agree)
    report_diff.add_parser(sub)
