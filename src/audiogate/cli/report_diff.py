"""`audiogate report diff A B`: which utterances got worse from A to B, in the terminal.

A and B are each a report folder (its audiogate-report.json and samples/) or a baseline
file (baselines/<model>/<dataset>.jsonl). Pairs are matched by id, else by dataset; with
one pair on each side they are compared whatever their names (a baseline recorded with
another setting against this run). Sides that share no scored utterance are named and the
command exits 2: nothing was compared, so nothing may read as "no utterance got worse".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from audiogate.errors import AudiogateError
from audiogate.results.compare import (
    Utterance,
    compare,
    corpus_score,
    from_baseline,
    from_records,
    groups,
    moved_windows,
    present_keys,
)
from audiogate.results.diff_text import change_lines, counts_line, group_table
from audiogate.results.report import Row, read_samples, samples_path

_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass
class Side:
    """One pair's utterances as one argument of the diff holds them."""

    pair_id: str
    source: Path
    utts: dict[str, Utterance]
    metric: str | None = None  # None: a WER/CER baseline file, which does not say which
    language: str | None = None
    groups: list[str] = field(default_factory=list)
    protocol: str | None = None  # the gating protocol whose texts the records keep

    @property
    def dataset(self) -> str:
        return self.pair_id.split("/", 1)[-1]


def _report_sides(folder: Path) -> dict[str, Side]:
    report = folder / "audiogate-report.json"
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise AudiogateError(f"{report}: not a readable audiogate report ({exc})") from exc
    sides = {}
    for raw in data.get("rows", []):
        r = Row.from_json(raw).result
        samples = samples_path(folder, r.model, r.dataset)
        if not samples.is_file():
            continue  # a pair that failed before scoring has no records
        sides[r.pair_id] = Side(r.pair_id, samples, from_records(read_samples(samples),
                                                                 r.metric),
                                r.metric, r.language, list(r.groups), r.score.protocol)
    if not sides:
        raise AudiogateError(f"{folder}: no pair with per-sample records (samples/*.jsonl)")
    return sides


def _baseline_side(path: Path) -> Side:
    utts = from_baseline(path)
    first = next((line for line in path.read_text(encoding="utf-8").splitlines()
                  if line.strip()), "{}")
    metric = "acc" if "correct" in json.loads(first) else None
    language = None
    if metric is None:
        texts = " ".join(u.reference or "" for u in list(utts.values())[:50])
        language = "zh" if _CJK.search(texts) else ("en" if texts.strip() else None)
    return Side(f"{path.parent.name}/{path.stem}", path, utts, metric, language)


def load_sides(path: Path) -> dict[str, Side]:
    """The pairs a report folder (or its JSON file) or a baseline file holds."""
    if path.is_dir():
        return _report_sides(path)
    if path.name.endswith(".json"):
        return _report_sides(path.parent)
    if path.is_file():
        side = _baseline_side(path)
        return {side.pair_id: side}
    raise AudiogateError(f"{path}: neither a report folder nor a baseline file")


def match(a: dict[str, Side], b: dict[str, Side], pair: str | None = None
          ) -> list[tuple[Side, Side]]:
    """(A, B) pairs to compare: same id, else same dataset, else the only pair of each."""
    if pair is not None:
        if pair not in b:
            raise AudiogateError(f"--pair {pair}: not in B (has {', '.join(sorted(b))})")
        b = {pair: b[pair]}
    common = sorted(set(a) & set(b))
    if common:
        return [(a[p], b[p]) for p in common]
    found = []
    for side in b.values():
        same = [x for x in a.values() if x.dataset == side.dataset]
        if len(same) == 1:
            found.append((same[0], side))
    if not found and len(a) == 1 and len(b) == 1:
        found = [(next(iter(a.values())), next(iter(b.values())))]
    if not found:
        raise AudiogateError(f"no pair to compare: A has {', '.join(sorted(a))}; B has "
                             f"{', '.join(sorted(b))} (choose one of B's with --pair)")
    return found


def _complete(a: Side, b: Side) -> tuple[Side, Side, str, str]:
    """Fill what a baseline file does not say (metric, language, groups, meta) from the
    other side."""
    metric = b.metric or a.metric or "wer"
    language = b.language or a.language or "en"
    keys = b.groups or a.groups
    if keys and not present_keys(b.utts, keys):
        b = replace(b, utts={i: replace(u, meta=a.utts[i].meta) if i in a.utts else u
                             for i, u in b.utts.items()})
    return a, replace(b, groups=keys), metric, language


def _score(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def diff_lines(a: Side, b: Side, *, top: int, color: bool, full: bool) -> list[str]:
    a, b, metric, language = _complete(a, b)
    comparison = compare(a.utts, b.utts)
    common = sorted(set(a.utts) & set(b.utts))
    before = corpus_score([a.utts[i] for i in common], metric)
    after = corpus_score([b.utts[i] for i in common], metric)
    change = "" if before is None or after is None else f" ({after - before + 0.0:+.2f})"
    name = a.pair_id if a.pair_id == b.pair_id else f"{a.pair_id} → {b.pair_id}"
    lines = [f"== {name}: {metric.upper()} {_score(before)} → {_score(after)}{change} on "
             f"{len(common)} utterance(s) in both", counts_line(comparison), ""]
    shown = comparison.regressions[:top]
    if shown:
        lines.append(f"top regressions ({len(shown)} of {len(comparison.regressions)}):")
        for n, item in enumerate(shown, start=1):
            first, *rest = change_lines(item, metric, language, b.groups, color=color,
                                        context=None if full else 5, labels=("A", "B"),
                                        protocol=b.protocol or a.protocol)
            lines += [f"{n}. {first}", *(f"   {line}" for line in rest)]
        lines.append("")
    else:
        lines += ["no utterance got worse", ""]
    keys = present_keys(b.utts, b.groups)
    if keys:
        lines.append("groups (biggest worsening first):")
        lines += group_table({k: groups(b.utts, k, metric, a.utts) for k in keys}, metric)
    moved = moved_windows(a.utts, b.utts)
    if moved:
        lines += ["", f"chunking moved in {len(moved)} recording(s):",
                  *(f"  {line}" for line in moved)]
    return lines


def use_color(choice: str, stream: TextIO) -> bool:
    """ANSI colour for a terminal unless NO_COLOR is set (https://no-color.org)."""
    if choice != "auto":
        return choice == "always"
    return stream.isatty() and not os.environ.get("NO_COLOR")


def _run(args: argparse.Namespace) -> int:
    a, b = load_sides(Path(args.a)), load_sides(Path(args.b))
    color = use_color(args.color, sys.stdout)
    print(f"A: {args.a}\nB: {args.b}\n")
    apart = []
    for side_a, side_b in match(a, b, args.pair):
        if not set(side_a.utts) & set(side_b.utts):  # nothing to compare: never "no worse"
            apart.append(f"{side_a.pair_id} (A, {len(side_a.utts)} scored) and "
                         f"{side_b.pair_id} (B, {len(side_b.utts)} scored) share no "
                         "utterance: nothing to compare")
            continue
        for line in diff_lines(side_a, side_b, top=args.top, color=color, full=args.full):
            print(line)
    for line in apart:
        print(f"audiogate report diff: {line}", file=sys.stderr)
    return 2 if apart else 0


def add_parser(sub: Any) -> None:
    diff = sub.add_parser("diff", help="utterances that got worse from A to B, with their "
                                       "alignment, and the per-group change")
    diff.add_argument("a", help="the earlier run: a report folder or a baseline JSONL")
    diff.add_argument("b", help="the later run: a report folder or a baseline JSONL")
    diff.add_argument("--top", type=int, default=10, help="regressions to show (default 10)")
    diff.add_argument("--pair", default=None, help="MODEL/DATASET of B to compare")
    diff.add_argument("--full", action="store_true",
                      help="whole utterances (default: 5 words around each edit)")
    diff.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                      help="ANSI colour (auto: when stdout is a terminal and NO_COLOR is "
                           "unset)")
    diff.set_defaults(func=_run)
