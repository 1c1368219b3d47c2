"""`audiogate report merge`: one table and one verdict from the reports of several CI shards."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from audiogate.cli import report_diff
from audiogate.errors import AudiogateError
from audiogate.results.report import (
    Row,
    run_metadata,
    samples_path,
    table,
    verdict,
    write_reports,
)


def merge(paths: list[Path]) -> list[Row]:
    """Rows of every report; a pair that appears in two shards is an error (ran twice)."""
    rows: dict[str, tuple[Row, Path]] = {}
    for path in paths:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise AudiogateError(f"{path}: not a readable audiogate report ({exc})") from exc
        for raw in data.get("rows", []):
            row = Row.from_json(raw)
            pair_id = row.result.pair_id
            if pair_id in rows:
                raise AudiogateError(f"{pair_id} appears in both {rows[pair_id][1]} and {path}; "
                                     "each pair must run in exactly one shard")
            rows[pair_id] = (row, path)
    return [row for row, _ in rows.values()]


def copy_samples(rows: list[Row], reports: list[Path], output: Path) -> None:
    """Each pair's per-sample records beside the merged report, so its HTML (and a later
    `audiogate report diff`) shows the utterances, not only the numbers."""
    for row in rows:
        target = samples_path(output, row.result.model, row.result.dataset)
        for report in reports:
            source = samples_path(report.parent, row.result.model, row.result.dataset)
            if source.is_file() and source.resolve() != target.resolve():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                break


def _run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.reports]
    expanded = [p / "audiogate-report.json" if p.is_dir() else p for p in paths]
    rows = merge(expanded)
    meta: dict[str, Any] = run_metadata()
    meta["merged_from"] = [str(p) for p in expanded]
    copy_samples(rows, expanded, Path(args.output))
    written = write_reports(rows, Path(args.output), meta)
    print(table(rows, markdown=False))
    outcome = verdict(rows)
    print(f"\nverdict: {outcome.upper()} ({len(rows)} pairs from {len(expanded)} reports)")
    for path in written:
        print(f"report: {path}")
    return 0 if outcome == "pass" else 1


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
    report_diff.add_parser(sub)
