"""Results in the reference table's shape: terminal, Markdown, JSON, per-sample JSONL."""

from __future__ import annotations

import json
import platform
import subprocess
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from audiogate.results.html import FILENAME as HTML_FILENAME
from audiogate.results.html import write_html
from audiogate.results.pair_result import PairResult
from audiogate.results.speed import speed_lines
from audiogate.scoring.open_asr_report import average_wer
from audiogate.scoring.pair import PairScore, SampleRecord

COLUMNS = ("task", "dataset", "model", "measure", "protocol", "performance", "95% CI",
           "threshold", "delta", "samples", "excluded", "errors", "other protocols", "RTFx",
           "status", "note")
# What the wide table's columns mean (under it in the Markdown report, and after it with -v).
COLUMN_LEGEND = ("performance: the score (WER/CER or accuracy %) · 95% CI: bootstrap interval "
                 "over samples · threshold: the gate's limit · delta: performance − recorded "
                 "value · excluded: samples the protocol's abnormal filter left out · other "
                 "protocols: the same outputs scored another way · RTFx: seconds of audio per "
                 "second of compute")
# A pair with no recorded threshold. Reports written before it had this name said "ungated".
NOT_GATED_STATUS = "not gated"
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
        lines.append(f"{name} ({role}): {shown} — {p.edits} errors / "
                     f"{p.ref_tokens} reference tokens; {p.scored} scored, {p.dropped} "
                     f"dropped, {p.excluded} excluded, {p.errors} errors{rtfx}")
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
# Files a run writes into its report folder; an earlier run's copies are removed first.
REPORT_FILES = ("audiogate-report.md", "audiogate-report.json", "audiogate-report.svg",
                "audiogate-report.html")


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


def write_reports(rows: Sequence[Row], report_dir: Path, meta: dict[str, Any] | None = None
                  ) -> list[Path]:
    """audiogate-report.md / .json / .html (and a chart when matplotlib is present).

    The same rows and per-sample files give the same bytes in every file but the run's
    stamp (``run_id`` / ``created`` in ``meta``)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    meta = meta or run_metadata()
    ordered = sorted(rows, key=lambda r: (r.result.task, r.result.dataset, r.result.model))
    md = [f"# audiogate results — {verdict(ordered).upper()}", "", counts_line(ordered), "",
          f"Which utterances moved each score, against the baseline and by group: "
          f"[{HTML_FILENAME}]({HTML_FILENAME}).", "", table(ordered, markdown=True), "",
          f"*{COLUMN_LEGEND}*", ""]
    if meta.get("shard"):
        md[1:1] = ["", f"**--shard {meta['shard']}: a part of each pair's samples; nothing "
                       "was gated here. `audiogate report merge` of all the shards gives "
                       "the verdict.**"]
    elif meta.get("gated") is False:
        md[1:1] = ["", "**--no-gate: nothing was gated in this run; the numbers are "
                       "measurements only.**"]
    for row in ordered:
        md.append(f"- **{row.result.pair_id}**: {row.status.upper()} — {row.reason}")
        md.append(f"  - engine: `{json.dumps(row.result.engine, sort_keys=True)}`; "
                  f"{row.result.inferred} inferred, {row.result.reused} reused from the store"
                  + "".join(f"; {n} from {run}" for run, n in row.result.reused_from.items()))
        if row.result.interval:
            md.append(f"  - 95 % interval: [{row.result.interval['low']:.2f}, "
                      f"{row.result.interval['high']:.2f}] ({row.result.interval['method']}, "
                      f"{row.result.interval['n_resamples']} resamples)")
        for note in row.result.notes:
            md.append(f"  - {note}")
        if row.result.dispatch:
            md.append(f"  - {dispatch_line(row.result.dispatch)}")
        md += [f"  - {line}" for line in speed_lines(row)]
        for sample_id, error in row.result.error_samples[:20]:
            md.append(f"  - error `{sample_id}`: {error}")
        if row.result.score.breakdown:
            md.append(f"  - breakdown: `{json.dumps(row.result.score.breakdown)}`")
        for line in protocol_lines(row.result.score, row.result.protocol_rtfx):
            md.append(f"  - protocol {line}")
    averages = protocol_averages(ordered)
    if averages:
        md += [""] + [f"- {line}" for line in averages]
    md += ["", f"git commit: `{meta.get('git_commit')}` · created {meta.get('created')} · "
               f"versions: {json.dumps(meta.get('versions'))}", ""]
    paths = [report_dir / "audiogate-report.md", report_dir / "audiogate-report.json"]
    paths[0].write_text("\n".join(md), encoding="utf-8")
    paths[1].write_text(json.dumps({"verdict": verdict(ordered), "meta": meta,
                                    "rows": [r.to_json() for r in ordered]}, indent=2,
                                   ensure_ascii=False), encoding="utf-8")
    chart = write_chart(ordered, report_dir / "audiogate-report.svg")
    if chart is not None:
        paths.append(chart)
    paths.append(write_html(ordered, report_dir, meta, chart))
    return paths


CHART_FONT_PT = 9.0  # 12 px at the chart's natural size, ≥ 11 px on any page ≥ 600 px wide


def write_chart(rows: Sequence[Row], path: Path) -> Path | None:
    """Each pair's score beside its limit (SVG); skipped without matplotlib. Text stays
    text (``svg.fonttype: none``): it reads at the page's size and can be searched."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    scored = [r for r in rows if r.result.score.value is not None]
    if not scored:
        return None
    # the same rows give the same bytes: fixed id salt, no creation date in the metadata
    with matplotlib.rc_context({"svg.hashsalt": "audiogate", "svg.id": "audiogate-chart",
                                "svg.fonttype": "none", "font.size": CHART_FONT_PT}):
        return _draw_chart(plt, scored, path)


def _draw_chart(plt: Any, scored: Sequence[Row], path: Path) -> Path:
    """One horizontal bar per pair (its name beside it, never squeezed under it), the 95 %
    interval as a whisker and the limit as a dashed tick."""
    fig, ax = plt.subplots(figsize=(7.0, 1.1 + 0.55 * len(scored)))
    ys = list(range(len(scored)))
    colors = ["tab:red" if r.status in FAILING else "tab:green" if r.status in PASSING
              else "tab:gray" for r in scored]
    values = [r.result.score.value or 0.0 for r in scored]
    errors = [[v - (r.result.interval or {}).get("low", v) for v, r in zip(values, scored,
                                                                          strict=True)],
              [(r.result.interval or {}).get("high", v) - v for v, r in zip(values, scored,
                                                                          strict=True)]]
    ax.barh(ys, values, height=0.6, color=colors, xerr=errors, capsize=4)
    for y, r in zip(ys, scored, strict=True):
        if r.limit is not None:
            ax.vlines(r.limit, y - 0.4, y + 0.4, colors="black", linestyles="dashed")
    ax.set_yticks(ys)
    ax.set_yticklabels([f"{r.result.model}\n{r.result.dataset}" for r in scored])
    ax.invert_yaxis()  # the summary table's order, top to bottom
    ax.set_xlabel("score: WER/CER % or accuracy % (whisker: 95 % interval; dashed: limit)")
    fig.tight_layout()
    fig.savefig(path, format="svg", metadata={"Date": None})
    plt.close(fig)
    return path


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
