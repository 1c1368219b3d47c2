"""`audiogate report merge`: one table and one verdict from the reports of several CI shards.

Shards that ran whole pairs (`-k`) are put side by side; the sample shards of one pair
(`--shard K/N`) are reassembled from their per-sample records and judged here, against
the thresholds file, exactly as a single run would judge them. `report agree`: clip-by-clip
agreement of two runs; `report detectable`: the smallest regression the paired gate can see.
"""

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
    return merge_all(paths)[0]


def merge_all(paths: list[Path]) -> tuple[list[Row], dict[str, list[tuple[Row, Path]]]]:
    """Whole pairs (a pair in two reports is an error: it ran twice), and the sample shards
    of each sharded pair with the report they came from."""
    rows: dict[str, tuple[Row, Path]] = {}
    sharded: dict[str, list[tuple[Row, Path]]] = {}
    for path in paths:
        for row in read_report(path):
            pair_id = row.result.pair_id
            if row.result.shard is not None:
                sharded.setdefault(pair_id, []).append((row, path))
            elif pair_id in rows:
                raise MergeError(f"{pair_id} appears in both {rows[pair_id][1]} and {path}; "
                                 "each pair must run in exactly one shard")
            else:
                rows[pair_id] = (row, path)
    for pair_id, parts in sharded.items():
        if pair_id in rows:
            raise MergeError(f"{pair_id} ran whole in {rows[pair_id][1]} and as sample shards "
                             f"in {parts[0][1]}; give one or the other")
    return [row for row, _ in rows.values()], sharded


def _folder(path: Path) -> Path:
    return path if path.is_dir() else path.parent


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
    output = Path(args.output)
    try:
        rows, sharded = merge_all(paths)
        judged = judge_shards(sharded, output, args) if sharded else []
    except MergeError as exc:
        print(f"audiogate report merge: {exc}", file=sys.stderr)
        print("verdict: FAIL (the inputs could not be merged)")
        return 1
    meta: dict[str, Any] = run_metadata()
    meta["merged_from"] = [str(p) for p in paths]
    if args.no_gate:
        meta["gated"] = False
    copy_samples(rows, [_folder(p) for p in paths], output)
    rows = rows + judged
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


def judge_shards(sharded: dict[str, list[tuple[Row, Path]]], output: Path,
                 args: argparse.Namespace) -> list[Row]:
    """Each sharded pair reassembled from its records and judged like a single run; a pair
    whose shards do not add up fails, naming the samples."""
    from audiogate.gate.decide import GateRules, decide
    from audiogate.gate.decide import row as decision_row
    from audiogate.gate.thresholds import load as load_thresholds
    from audiogate.registry import load as registry
    from audiogate.results.pair_result import PairResult
    from audiogate.results.reassemble import Part, reassemble
    from audiogate.results.report import read_samples, write_samples

    try:
        models = registry.models(_optional(args.models_file))
        datasets = registry.datasets(_optional(args.datasets_file))
        protocols = registry.protocols(_optional(args.protocols_file))
        thresholds = load_thresholds(Path(args.thresholds), models, datasets, protocols)
    except AudiogateError as exc:
        raise MergeError(str(exc)) from exc
    if not Path(args.thresholds).is_file() and not args.no_gate:
        raise MergeError(f"--thresholds {args.thresholds}: no such file; sample shards are "
                         "judged by the merge (or pass --no-gate to measure only)")
    rules = GateRules(no_gate=args.no_gate, require_gate=args.require_gate)
    out = []
    for pair_id, given in sorted(sharded.items()):
        first = given[0][0].result
        unscored = [(row, path) for row, path in given if "ids" not in (row.result.shard or {})]
        if unscored:  # skipped or failed before scoring in some shard
            out.append(_unscored(pair_id, given, unscored))
            continue
        try:
            parts = [Part(row, _records(read_samples, row, path), path) for row, path in given]
            spec = datasets.get(first.dataset)
            if spec is None:
                raise MergeError(f"dataset {first.dataset!r} is not registered here; pass the "
                                 "--datasets-file the shards ran with")
            n = args.bootstrap_resamples or _resamples(given)
            result, records = reassemble(parts, spec, n_resamples=n, protocols=protocols)
        except AudiogateError as exc:
            failed = PairResult.unscored(first.model, first.dataset, first.task,
                                         first.language, first.metric)
            out.append(Row(failed, "fail", f"the {len(given)} shard(s) of {pair_id} could not "
                                           f"be merged: {exc}"))
            continue
        samples = write_samples(records, samples_path(output, result.model, result.dataset))
        decision = decide(result, records, thresholds,
                          GateRules(rules.no_gate, rules.require_gate, n_resamples=n),
                          record_hint=f"`pytest benchmarks -k {pair_id} --model "
                                      f"{result.model} --update-thresholds`")
        out.append(decision_row(result, decision, thresholds, samples))
    return out


def _unscored(pair_id: str, given: list[tuple[Row, Path]],
              unscored: list[tuple[Row, Path]]) -> Row:
    """A sharded pair that some shard never scored: skipped when every shard skipped it
    (not gated, no data), else a failure naming the shards that did not score it."""
    first = unscored[0][0]
    first.result.shard = None  # the merged row stands for the whole pair
    if len(unscored) == len(given) and all(r.status == "skipped" for r, _ in given):
        return Row(first.result, "skipped", first.reason)
    failed = "; ".join(f"{path}: {row.status} — {row.reason}" for row, path in unscored)
    return Row(first.result, "fail", f"{len(unscored)} of the {len(given)} shard(s) of "
                                     f"{pair_id} did not score it: {failed}")


def _optional(value: str | None) -> Path | None:
    return Path(value) if value else None


def _records(read: Any, row: Row, path: Path) -> list[Any]:
    """A shard's per-sample records of one pair (a shard without them cannot be merged)."""
    source = samples_path(_folder(path), row.result.model, row.result.dataset)
    if not source.is_file():
        raise MergeError(f"{source}: no per-sample records for {row.result.pair_id} beside "
                         f"{path}; a sample shard is merged from its records")
    records: list[Any] = read(source)
    return records


def _resamples(given: list[tuple[Row, Path]]) -> int:
    """The resamples the shards' intervals used (they ran with one command line)."""
    for row, _ in given:
        if row.result.interval and row.result.interval.get("n_resamples"):
            return int(row.result.interval["n_resamples"])
    return 10_000


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
                              help="judges the sample shards' pairs (default thresholds.yaml)")
    merge_parser.add_argument("--models-file", default=None, help="extra model registry YAML")
    merge_parser.add_argument("--datasets-file", default=None,
                              help="extra dataset registry YAML")
    merge_parser.add_argument("--protocols-file", default=None,
                              help="extra scoring protocol registry YAML")
    merge_parser.add_argument("--require-gate", action="store_true",
                              help="fail sharded pairs with no recorded threshold")
    merge_parser.add_argument("--no-gate", action="store_true",
                              help="reassemble and measure the sharded pairs, gate nothing")
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
