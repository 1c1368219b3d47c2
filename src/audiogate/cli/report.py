"""`audiogate report merge`: one table and one verdict from the reports of several CI shards.

Shards that ran whole pairs (`-k`) are put side by side; the sample shards of one pair
(`--shard K/N`) are reassembled from their per-sample records. Every pair is scored again
from its records and judged here, against the thresholds file, exactly as a single run
would judge it (results.merge): a report is believed only where it agrees. `report agree`:
clip-by-clip agreement of two runs; `report detectable`: the smallest regression the paired
gate can see.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from audiogate.cli import report_diff
from audiogate.errors import AudiogateError
from audiogate.results.merge import Given, Judge, MergeRules
from audiogate.results.report import (
    FAILING,
    Row,
    counts_line,
    run_metadata,
    table,
    unfinished,
    verdict,
)
from audiogate.results.writers import write_reports


class MergeError(AudiogateError):
    """An input of `report merge` that makes the merged verdict meaningless."""


def read_report(path: Path) -> tuple[list[Row], dict[str, Any]]:
    """The rows and the run's metadata of one audiogate-report.json (or of the folder
    holding it); a folder whose run did not finish is refused."""
    if path.is_dir():
        path = path / "audiogate-report.json"
    why = unfinished(path.parent)
    if why is not None:
        raise MergeError(f"{path.parent}: the run that writes this folder did not finish "
                         f"({why}); nothing in it is a result: rerun it")
    if not path.is_file():
        raise MergeError(f"{path}: no audiogate report there (a shard that wrote nothing "
                         "cannot count as passing)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        rows, meta = [Row.from_json(raw) for raw in data["rows"]], dict(data.get("meta") or {})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MergeError(f"{path}: not an audiogate report ({type(exc).__name__}: {exc})"
                         ) from exc
    if meta.get("unfinished"):
        raise MergeError(f"{path}: written by a run that did not finish "
                         f"({meta['unfinished']}): rerun it")
    return rows, meta


def merge(paths: list[Path]) -> list[Row]:
    """Rows of every report; a pair that appears in two shards is an error (ran twice)."""
    whole, _ = merge_all(paths)
    return [given.row for given in whole]


def merge_all(paths: list[Path]) -> tuple[list[Given], dict[str, list[Given]]]:
    """Whole pairs (a pair in two reports is an error: it ran twice), and the sample shards
    of each sharded pair, each with the report it came from."""
    whole: dict[str, Given] = {}
    sharded: dict[str, list[Given]] = {}
    for path in paths:
        rows, meta = read_report(path)
        report = path / "audiogate-report.json" if path.is_dir() else path
        for row in rows:
            given = Given(row, report, gated=meta.get("gated") is not False)
            pair_id = row.result.pair_id
            if row.result.shard is not None:
                sharded.setdefault(pair_id, []).append(given)
            elif pair_id in whole:
                raise MergeError(f"{pair_id} appears in both {whole[pair_id].report} and "
                                 f"{report}; each pair must run in exactly one shard")
            else:
                whole[pair_id] = given
    for pair_id, parts in sharded.items():
        if pair_id in whole:
            raise MergeError(f"{pair_id} ran whole in {whole[pair_id].report} and as sample "
                             f"shards in {parts[0].report}; give one or the other")
    return list(whole.values()), sharded


def _run(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.reports]
    output = Path(args.output)
    try:
        whole, sharded = merge_all(paths)
        judge = _judge(args)
    except MergeError as exc:
        print(f"audiogate report merge: {exc}", file=sys.stderr)
        print("verdict: FAIL (the inputs could not be merged)")
        return 1
    meta: dict[str, Any] = run_metadata()
    meta["merged_from"] = [str(p) for p in paths]
    if args.no_gate:
        meta["gated"] = False
    rows = [judge.whole(given, output) for given in whole]
    rows += [judge.sharded(pair_id, given, output) for pair_id, given in sorted(sharded.items())]
    written = write_reports(rows, output, meta)
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


def _judge(args: argparse.Namespace) -> Judge:
    """The registries, the thresholds file and the switches every pair is judged with."""
    from audiogate.gate.thresholds import load as load_thresholds
    from audiogate.registry import load as registry

    if not Path(args.thresholds).is_file() and not args.no_gate:
        raise MergeError(f"--thresholds {args.thresholds}: no such file; the merge judges "
                         "every pair (or pass --no-gate to measure only)")
    try:
        models = registry.models(_optional(args.models_file))
        datasets = registry.datasets(_optional(args.datasets_file))
        protocols = registry.protocols(_optional(args.protocols_file))
        thresholds = load_thresholds(Path(args.thresholds), models, datasets, protocols)
    except AudiogateError as exc:
        raise MergeError(str(exc)) from exc
    return Judge(models, datasets, protocols, thresholds, MergeRules(
        no_gate=args.no_gate, require_gate=args.require_gate, lenient=args.mmau_lenient,
        n_resamples=args.bootstrap_resamples))


def _optional(value: str | None) -> Path | None:
    return Path(value) if value else None


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
    merge_parser.add_argument("--thresholds", default="thresholds.yaml",
                              help="judges every pair (default thresholds.yaml)")
    merge_parser.add_argument("--models-file", default=None, help="extra model registry YAML")
    merge_parser.add_argument("--datasets-file", default=None,
                              help="extra dataset registry YAML")
    merge_parser.add_argument("--protocols-file", default=None,
                              help="extra scoring protocol registry YAML")
    merge_parser.add_argument("--require-gate", action="store_true",
                              help="fail pairs with no recorded threshold (and pairs skipped)")
    merge_parser.add_argument("--no-gate", action="store_true",
                              help="re-score and measure every pair, gate nothing")
    merge_parser.add_argument("--mmau-lenient", action="store_true",
                              help="MMAU: score with the lenient letter rule, as runs given "
                                   "--mmau-lenient did (default: the official rule)")
    merge_parser.add_argument("--bootstrap-resamples", type=int, default=None,
                              help="resamples for intervals and the paired gate (default: as "
                                   "the shards ran)")
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
