"""The end-of-run summary as terminal lines: a compact table that fits 120 columns, its
one-line legend, and a pair's reason wrapped so a long command still pastes.

Why a separate, narrower table: the reference-shaped table (every protocol, RTFx, notes)
is over 200 columns wide; it stays in the Markdown and HTML reports and behind ``-v``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from audiogate.results.report import Row
from audiogate.results.speed import speed_cell

WIDTH = 120
INDENT = "    "
LEGEND = ("score: WER/CER or accuracy % · 95% CI: bootstrap over samples · limit: from the "
          "thresholds file · Δ: score − recorded")  # samples: scored/total says itself
WIDE_LEGEND = ("performance: the score (WER/CER or accuracy %) · delta: performance − recorded "
               "value · RTFx: audio seconds per second of compute · excluded: abnormal samples "
               "left out (the protocol's filter) · other protocols: the same outputs scored "
               "another way")
HEAD = ("score", "95% CI", "limit", "Δ", "samples")
STATUS_WIDTH = max(len(word) for word in ("NOT GATED", "MEASURED", "UPDATED", "SKIPPED"))


def status_word(status: str) -> str:
    """How a pair's status reads everywhere a person reads it (``not gated`` → NOT GATED)."""
    return status.upper()


def _numbers(row: Row, timed: bool = False) -> tuple[str, ...]:
    c = row.cells()
    score = "—" if row.result.score.value is None else \
        f"{row.result.score.metric.upper()} {c['performance']}"
    s = row.result.score
    samples = ", ".join([c["samples"]] + [f"{n} {word}" for n, word in (
        (s.errors, "errored"), (s.excluded, "excluded")) if n]) if s.total else ""
    speed = (speed_cell(row),) if timed else ()
    return score, c["95% CI"], c["threshold"], c["delta"], *speed, samples


def compact_table(rows: Sequence[Row], width: int = WIDTH) -> list[str]:
    """One block per model: its name as the block's heading (with the column titles), then
    a line per pair: status, dataset, score, interval, limit, Δ, samples. A dataset name too
    long for its column gets a line of its own, so no line is wider than ``width``."""
    ordered = sorted(rows, key=lambda r: (r.result.model, r.result.task, r.result.dataset))
    timed = any(r.result.speed for r in ordered)  # the latency column, when something was timed
    head = (*HEAD[:-1], "latency", HEAD[-1]) if timed else HEAD
    numbers = [_numbers(r, timed) for r in ordered]
    widths = [max([len(h)] + [len(n[i]) for n in numbers]) for i, h in enumerate(head)]
    rest = sum(widths) + 2 * len(widths)
    budget = width - 2 - STATUS_WIDTH - 2 - rest
    name_width = min(max([len(r.result.dataset) for r in ordered] + [7]), max(budget, 7))
    lead = 2 + STATUS_WIDTH + 2 + name_width

    def columns(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))

    lines: list[str] = []
    model = None
    for row, cells in zip(ordered, numbers, strict=True):
        if row.result.model != model:
            model = row.result.model
            if len(model) < lead:
                lines.append((model.ljust(lead) + "  " + columns(head)).rstrip())
            else:
                lines += [model, (" " * lead + "  " + columns(head)).rstrip()]
        start = "  " + status_word(row.status).ljust(STATUS_WIDTH) + "  "
        name = row.result.dataset
        if len(name) > name_width:
            lines.append(start + name)
            start, name = " " * len(start), ""
        lines.append((start + name.ljust(name_width) + "  " + columns(cells)).rstrip())
    return lines


def wrap(text: str, first: str = "", indent: str = INDENT, width: int = WIDTH) -> list[str]:
    """``text`` after ``first`` on lines of at most ``width`` columns, broken at spaces; a
    line of its own in ``text`` stays one (indented as it was). A `command` in backticks that
    has to break is continued with a shell backslash, so it still pastes as one command. A
    single word longer than a line (a path) stays whole."""
    lines: list[str] = []
    for k, part in enumerate(text.split("\n")):
        lead = first if k == 0 else indent + part[:len(part) - len(part.lstrip())]
        lines += _fill(part.strip(), lead, indent if k == 0 else lead + "  ", width)
    return lines


def _fill(text: str, first: str, indent: str, width: int) -> list[str]:
    spans = [m.span() for m in re.finditer(r"`[^`]*`", text)]

    def span_of(position: int) -> int | None:
        return next((k for k, (a, b) in enumerate(spans) if a <= position < b), None)

    words = [(m.group(), span_of(m.start())) for m in re.finditer(r"\S+", text)]
    lines: list[str] = []
    line, fresh = first, True
    for n, (word, span) in enumerate(words):
        in_command = span is not None and n > 0 and words[n - 1][1] == span
        goes_on = span is not None and n + 1 < len(words) and words[n + 1][1] == span
        joined = line + ("" if fresh else " ") + word
        if (not fresh or line.strip()) and len(joined) + (2 if goes_on else 0) > width:
            lines.append(line + (" \\" if in_command and not fresh else ""))
            line = indent + word
        else:
            line = joined
        fresh = False
    lines.append(line)
    return [x.rstrip() for x in lines]


def pair_lines(row: Row, *, show_reason: bool) -> list[str]:
    """A pair's status, id and (when asked) reason, then its notes, each wrapped."""
    word = status_word(row.status)
    reason = row.reason.removeprefix(f"{row.result.pair_id}: ")
    lines = wrap(reason if show_reason else "", first=f"{word} {row.result.pair_id}"
                 + (": " if show_reason else ""))
    if row.status not in {"fail", "error"}:  # a failure's reason carries its notes already
        for note in row.result.notes:
            lines += wrap(note, first=f"{INDENT}note: ", indent=INDENT * 2)
    return lines
