"""What every report is made of: a pair's Row in the reference table's shape, the run's
verdict and counts, the report folder's files and marks, the per-sample JSONL.

The writers (markdown, json_report, chart, html, terminal, junit) each read these and stand
side by side; results.writers calls them. Nothing here imports a writer.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from audiogate.gate.thresholds import NOT_GATED_STATUS
from audiogate.scoring.open_asr_report import average_wer
from audiogate.scoring.pair import PairScore, SampleRecord
from audiogate.scoring.pair_result import PairResult

COLUMNS = ("task", "dataset", "model", "measure", "protocol", "performance", "95% CI",
           "threshold", "delta", "samples", "excluded", "errors", "other protocols", "RTFx",
           "status", "note")
# What the wide table's columns mean (under it in the Markdown report, and after it with -v).
COLUMN_LEGEND = ("performance: the score (WER/CER or accuracy %) · 95% CI: bootstrap interval "
                 "over samples · threshold: the gate's limit · delta: performance − recorded "
                 "value · excluded: samples the protocol's abnormal filter left out · other "
                 "protocols: the same outputs scored another way · RTFx: seconds of audio per "
                 "second of compute")
# Reports written before a pair with no recorded threshold was "not gated" said "ungated".
LEGACY_STATUS = {"ungated": NOT_GATED_STATUS}
SCORING_LIBRARIES = ("jiwer", "sacrebleu", "whisper-normalizer", "kaldialign", "num2words",
                     "faster-whisper", "ctranslate2", "soundfile", "soxr")


@dataclass
class Row:
    """One pair's result with its verdict, as reported and as merged across shards."""

    result: PairResult
    status: str  # pass | fail | error | not gated | measured | updated | skipped
    reason: str
    threshold: str | None = None  # "max 4.15" / "min 71.00", as shown
    recorded: float | None = None
    limit: float | None = None
    baseline: str | None = None  # the entry's per-sample baseline file, when it names one
    # The speed gate's finding ({status, reason, checks, line}); None: no speed entry.
    speed: dict[str, Any] | None = None

    def cells(self) -> dict[str, str]:
        r, s = self.result, self.result.score
        task = f"{r.task}({r.language})" if r.task == "asr" else r.task
        perf = "—" if s.value is None else f"{s.value:.2f}"
        delta = ""
        if self.recorded is not None and s.value is not None:
            delta = f"{round(s.value - self.recorded, 2) + 0.0:+.2f}"
        ci = ""
        if r.interval:
            ci = f"[{r.interval['low']:.2f}, {r.interval['high']:.2f}]"
        note = ""
        if s.abnormal_limit is not None:
            note = (f"Filtered abnormal samples ({s.metric.upper()} > {s.abnormal_limit:g}): "
                    f"{s.excluded}")
        if s.breakdown.get("rule"):
            note = f"{s.breakdown['rule']} MMAU rule"
        if s.errors and s.value is not None:
            note = "; ".join(filter(None, [note, answered_note(s)]))
        return {
            "task": task, "dataset": r.dataset, "model": r.model, "measure": s.metric,
            "protocol": s.protocol or "", "other protocols": other_protocols(s),
            "performance": perf, "95% CI": ci, "threshold": self.threshold or "", "delta": delta,
            "samples": f"{s.scored}/{s.total}", "excluded": str(s.excluded),
            "errors": str(s.errors), "RTFx": "" if r.rtfx is None else f"{r.rtfx:.1f}",
            "status": self.status.upper(), "note": note,
        }

    def to_json(self) -> dict[str, Any]:
        return {"result": self.result.to_json(), "status": self.status, "reason": self.reason,
                "threshold": self.threshold, "recorded": self.recorded, "limit": self.limit,
                "baseline": self.baseline, "speed": self.speed}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        status = LEGACY_STATUS.get(data["status"], data["status"])
        return cls(PairResult.from_json(data["result"]), status, data["reason"],
                   data.get("threshold"), data.get("recorded"), data.get("limit"),
                   data.get("baseline"), data.get("speed"))


def _value(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def answered_note(score: PairScore) -> str:
    """The value over the answered samples, beside a value that counts errors as the worst
    answer (``answered only 0.00 (1 error counted as the worst answer)``)."""
    return (f"answered only {_value(score.answered_value)} ({score.errors} error(s) counted "
            "as the worst answer)")


def other_protocols(score: PairScore) -> str:
    """``open-asr 7.71 (dropped 0)``: each other protocol's value as it reports it."""
    return "; ".join(f"{name} {_value(p.reported)} (dropped {p.dropped})"
                     for name, p in score.others().items())


def dispatch_line(dispatch: dict[str, Any]) -> str:
    """How a served pair's requests were sent: the limit over the run, the server's queue."""
    queue = dispatch.get("server_waiting_max")
    line = (f"requests in flight ({dispatch.get('concurrency')}): limit min "
            f"{dispatch.get('limit_min')} / median {dispatch.get('limit_median')} / max "
            f"{dispatch.get('limit_max')}; server queue max "
            f"{'not reported' if queue is None else queue}")
    for replica in dispatch.get("replicas") or []:
        line += (f"; {replica['url']}: {replica['sent']} sent"
                 + (" (dropped)" if replica.get("down") else ""))
    return line


def protocol_lines(score: PairScore, rtfx_by_protocol: dict[str, float | None]) -> list[str]:
    """Every protocol's number for a pair, with what it scored and left out."""
    lines = []
    for name, p in score.protocols.items():
        role = "gates" if name == score.protocol else "reported"
        shown = _value(p.value) if p.digits is None or p.value is None else \
            f"{p.value:.4f}, published as {p.reported}"
        rtfx = f", RTFx {rtfx_by_protocol[name]}" if rtfx_by_protocol.get(name) else ""
        counted = (f" + {p.error_tokens} reference tokens of errored samples counted as "
                   f"deleted (answered only: {_value(p.answered_value)})"
                   if p.error_tokens else "")
        lines.append(f"{name} ({role}): {shown} — {p.edits} errors / "
                     f"{p.ref_tokens} reference tokens{counted}; {p.scored} scored, "
                     f"{p.dropped} dropped, {p.excluded} excluded, {p.errors} errors{rtfx}")
    return lines


def protocol_averages(rows: Sequence[Row]) -> list[str]:
    """Per model and rounding protocol, the mean of its rounded dataset values (how the Open
    ASR Leaderboard averages), over the pairs that ran (all languages together)."""
    found: dict[tuple[str, str, str], list[float]] = {}
    for row in rows:
        s = row.result.score
        for name, p in s.protocols.items():
            if p.reported is not None and p.digits is not None:
                found.setdefault((row.result.model, name, s.metric), []).append(p.reported)
    return [f"{name} average {metric.upper()} of {model} over {len(values)} dataset(s): "
            f"{average_wer(values):.2f} (mean of the rounded dataset values)"
            for (model, name, metric), values in sorted(found.items())]


def table(rows: Sequence[Row], *, markdown: bool) -> str:
    """A fixed-width (terminal) or pipe (Markdown) table of the rows."""
    cells = [r.cells() for r in rows]
    widths = {c: max([len(c)] + [len(x[c]) for x in cells]) for c in COLUMNS}
    if markdown:
        lines = ["| " + " | ".join(c.ljust(widths[c]) for c in COLUMNS) + " |",
                 "| " + " | ".join("-" * widths[c] for c in COLUMNS) + " |"]
        lines += ["| " + " | ".join(x[c].ljust(widths[c]) for c in COLUMNS) + " |" for x in cells]
    else:
        lines = ["  ".join(c.ljust(widths[c]) for c in COLUMNS).rstrip()]
        lines += ["  ".join(x[c].ljust(widths[c]) for c in COLUMNS).rstrip() for x in cells]
    return "\n".join(lines)


def run_metadata() -> dict[str, Any]:
    """Versions of the scoring stack, git commit, host: what makes a number reproducible."""
    versions: dict[str, str | None] = {}
    for name in ("audiogate", *SCORING_LIBRARIES):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=5, check=False).stdout.strip() or None
    except OSError:
        commit = None
    return {"run_id": uuid.uuid4().hex, "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "git_commit": commit,
            "python": platform.python_version(), "versions": versions}


FAILING = frozenset({"fail", "error"})
PASSING = frozenset({"pass", "updated"})
NOT_GATED = frozenset({NOT_GATED_STATUS, "measured"})
MARKDOWN_FILENAME = "audiogate-report.md"
JSON_FILENAME = "audiogate-report.json"
SVG_FILENAME = "audiogate-report.svg"
HTML_FILENAME = "audiogate-report.html"
# Files a run writes into its report folder; an earlier run's copies are removed first.
REPORT_FILES = (MARKDOWN_FILENAME, JSON_FILENAME, SVG_FILENAME, HTML_FILENAME)
# Present while a run that writes the folder has not finished; `report merge` refuses it.
RUN_MARKER = "audiogate-run-unfinished.txt"


def verdict(rows: Iterable[Row]) -> str:
    """"fail" if any pair failed or errored; "pass" if some pair passed its gate; otherwise
    "not gated" (nothing was compared with a threshold, so nothing may read as a pass)."""
    statuses = {r.status for r in rows}
    if statuses & FAILING:
        return "fail"
    return "pass" if statuses & PASSING else "not gated"


def counts_line(rows: Iterable[Row]) -> str:
    """``pairs: 3 pass · 1 fail · 0 error · 1 not gated · 1 skipped``."""
    statuses = [r.status for r in rows]
    counts = {"pass": sum(s in PASSING for s in statuses),
              "fail": statuses.count("fail"), "error": statuses.count("error"),
              "not gated": sum(s in NOT_GATED for s in statuses),
              "skipped": statuses.count("skipped")}
    return "pairs: " + " · ".join(f"{n} {name}" for name, n in counts.items())


def claim_report_dir(report_dir: Path, rows: Iterable[Row]) -> None:
    """Remove what an earlier run wrote here and this run does not rewrite (reports, other
    pairs' per-sample files), so nothing in the folder can pass for this run's result.
    Only audiogate's own file names are touched."""
    keep = {samples_path(report_dir, r.result.model, r.result.dataset) for r in rows
            if r.result.score.total}
    for name in REPORT_FILES:
        (report_dir / name).unlink(missing_ok=True)
    for path in report_dir.glob("samples/*.jsonl"):
        if path not in keep:
            path.unlink(missing_ok=True)


def mark_run_started(report_dir: Path) -> None:
    """Before anything of a run can fail: a folder that already exists (it may hold an
    earlier run's reports) says that a run started here and has not finished, so those
    reports cannot pass for this run's result (a run that dies at its start or midway
    leaves the mark behind; a folder made later by this run is marked at its end)."""
    if report_dir.is_dir():
        started = datetime.now(UTC).isoformat(timespec="seconds")
        (report_dir / RUN_MARKER).write_text(
            f"a run started at {started} (pid {os.getpid()}) and has not finished\n",
            encoding="utf-8")


def mark_run_unfinished(report_dir: Path, why: str) -> None:
    """The run ended without a whole result (interrupted, crashed, ran nothing it was asked
    to): the mark stays, saying why (a folder that does not exist holds nothing to mark)."""
    if report_dir.is_dir():
        (report_dir / RUN_MARKER).write_text(f"{why}\n", encoding="utf-8")


def mark_run_finished(report_dir: Path) -> None:
    """The run finished and its reports (or the earlier ones it left untouched) are whole."""
    (report_dir / RUN_MARKER).unlink(missing_ok=True)


def unfinished(report_dir: Path) -> str | None:
    """Why the folder's reports are not a finished run's result, or None."""
    marker = report_dir / RUN_MARKER
    if not marker.exists():
        return None
    try:
        return marker.read_text(encoding="utf-8").strip() or "no reason written"
    except (OSError, UnicodeDecodeError) as exc:
        return f"{marker} is unreadable ({exc})"


def write_samples(records: Sequence[SampleRecord], path: Path) -> Path:
    """One JSON object per sample: the raw output, the normalized texts, S/D/I, score, error."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
    tmp.replace(path)
    return path


def read_samples(path: Path) -> list[SampleRecord]:
    """The per-sample records written by write_samples."""
    with path.open(encoding="utf-8") as f:
        return [SampleRecord(**json.loads(line)) for line in f if line.strip()]


def samples_path(report_dir: Path, model: str, dataset: str) -> Path:
    return report_dir / "samples" / f"{model}__{dataset}.jsonl"
