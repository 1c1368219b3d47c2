"""Regressions as text: for `audiogate report diff` and the end of a failing gate's message,
so a CI log alone shows which utterances got worse and how."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from audiogate.errors import AudiogateError
from audiogate.results.compare import (
    NO_GROUP,
    Change,
    Comparison,
    Group,
    Utterance,
    compare,
    from_baseline,
    from_records,
    group_value,
)
from audiogate.results.report import read_samples
from audiogate.scoring.edit_ops import render, separator, text_ops

CONTEXT = 5  # equal words kept on each side of an edit in one-line alignments


def aligned(utt: Utterance, language: str, *, color: bool = False,
            context: int | None = CONTEXT, protocol: str | None = None) -> str:
    """The hypothesis against its reference, edits marked; a note when no text was kept."""
    if utt.hypothesis is None or utt.reference is None:
        return "(no text kept: a count-only baseline; re-record it with --update-thresholds)"
    ops = text_ops(utt.reference, utt.hypothesis, language, protocol)
    return render(ops, separator(language), color=color, context=context) or "(empty)"


def change_lines(change: Change, metric: str, language: str, group_keys: Sequence[str] = (),
                 *, color: bool = False, context: int | None = CONTEXT,
                 labels: tuple[str, str] = ("baseline", "this run"),
                 protocol: str | None = None) -> list[str]:
    """A heading line (id, change, groups) and the two hypotheses, aligned."""
    where = ", ".join(f"{k} {value}" for k in group_keys
                      if (value := group_value(change.cand, k)) != NO_GROUP)
    where = f" [{where}]" if where else ""
    if metric == "acc":
        was, now = ("correct", "wrong") if change.delta > 0 else ("wrong", "correct")
        return [f"{change.id} {was} → {now}{where}",
                f"  {labels[0]}: {change.base.hypothesis!r}; {labels[1]}: "
                f"{change.cand.hypothesis!r}; answer key: {change.cand.reference!r}"]
    width = max(len(x) for x in labels)
    return [f"{change.id} {change.delta:+d} error(s) ({change.base.errors} → "
            f"{change.cand.errors} of {change.cand.ref_tokens}){where}",
            *(f"  {label.ljust(width)}: "
              f"{aligned(utt, language, color=color, context=context, protocol=protocol)}"
              for label, utt in zip(labels, (change.base, change.cand), strict=True))]


def counts_line(comparison: Comparison) -> str:
    text = (f"{len(comparison.regressions)} worse, {len(comparison.improvements)} better, "
            f"{comparison.unchanged} unchanged")
    only = len(comparison.only_in_base) + len(comparison.only_in_cand)
    if only:
        text += (f"; {len(comparison.only_in_base)} id(s) only in the baseline, "
                 f"{len(comparison.only_in_cand)} only in this run")
    return text


def worst_regressed(baseline: Path, samples: Path, metric: str, language: str,
                    group_keys: Sequence[str] = (), n: int = 3,
                    protocol: str | None = None) -> str:
    """The tail of a failing gate's message: the ``n`` worst regressed utterances against
    the baseline ("" when there is nothing to compare or nothing got worse)."""
    try:
        comparison = compare(from_baseline(baseline), from_records(read_samples(samples),
                                                                   metric))
    except (AudiogateError, OSError, ValueError):
        return ""
    if not comparison.regressions:
        return ""
    lines = [f"worst regressed utterances vs the baseline ({counts_line(comparison)}):"]
    for change in comparison.regressions[:n]:
        lines += ["  " + line for line in change_lines(change, metric, language, group_keys,
                                                       protocol=protocol)]
    return "\n" + "\n".join(lines)


def _number(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value + 0.0:+.2f}" if signed else f"{value:.2f}"


def group_table(groups_by_key: Mapping[str, list[Group]], metric: str,
                labels: tuple[str, str] = ("A", "B")) -> list[str]:
    """Fixed-width table, one block per key; with a baseline, biggest worsening first."""
    lines = []
    for key, rows in groups_by_key.items():
        with_base = any(g.base_score is not None for g in rows)
        sign = -1 if metric == "acc" else 1
        if with_base:
            rows = sorted(rows, key=lambda g: (-(sign * (g.delta or 0.0)), g.value))
        header = [key, "n", f"{labels[1]} {metric}"]
        if with_base:
            header += [f"{labels[0]} {metric}", "Δ"]
        cells = [[g.value, str(g.n), _number(g.score)]
                 + ([_number(g.base_score), _number(g.delta, signed=True)] if with_base else [])
                 for g in rows]
        widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
        lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
                  for row in cells]
        lines.append("")
    return lines
