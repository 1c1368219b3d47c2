"""audiogate-report.html: one self-contained page that shows which utterances moved a score.

Everything is inline (CSS, JS, the chart, the data), so the file opens from a CI artifact
with no network. Long lists are embedded as compact JSON and rendered a page at a time by
the inline script, so a 10,000-utterance pair stays small and responsive. The same rows
and files give the same bytes; only the element marked ``id="run-stamp"`` carries the
run's id and time.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from audiogate.errors import AudiogateError
from audiogate.results.compare import (
    Comparison,
    Group,
    Utterance,
    compare,
    from_baseline,
    from_records,
    group_value,
    groups,
    present_keys,
)
from audiogate.results.listen import Clips, chosen, link_clips, speech_lines
from audiogate.results.report import (
    HTML_FILENAME,
    Row,
    counts_line,
    read_samples,
    samples_path,
)
from audiogate.results.report import verdict as run_verdict
from audiogate.results.speed import speed_cell, speed_html
from audiogate.scoring.edit_ops import EQUAL, EditOp, separator, text_ops
from audiogate.scoring.pair import SampleRecord

MAX_BAD_ROWS = 500  # errored/excluded rows written out; the rest are counted
HYP_START = 80  # characters of a hypothesis shown for errored/excluded samples
# The pairs' sections: what failed first (the "why"), then the rest in the table's order,
# then the pairs that never ran.
SECTION_ORDER = {"fail": 0, "error": 0, "skipped": 2}
SUMMARY_LEGEND = ('<p class="hint">score: WER/CER or accuracy % · 95 % interval: bootstrap '
                  "over samples · limit: from the thresholds file · Δ: score − recorded value · "
                  "RTFx: seconds of audio per second of compute</p>")
LEGEND = ('<p class="legend">In each alignment: <span class="op sub"><del>ref</del><ins>hyp'
          '</ins></span> substitution · <span class="op del"><del>ref</del></span> deletion · '
          '<span class="op ins"><ins>hyp</ins></span> insertion (against the normalized '
          "reference, as scored).</p>")


def _asset(name: str) -> str:
    return resources.files("audiogate.results").joinpath("assets", name).read_text("utf-8")


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _num(value: float | None, fmt: str = ".2f") -> str:
    return "—" if value is None else format(value + 0.0, fmt)


def encode_ops(ops: list[EditOp], sep: str) -> list[Any]:
    """Compact JSON for the page: a string per run of equal tokens, ["s", ref, hyp],
    ["d", ref] and ["i", hyp] for the edits."""
    out: list[Any] = []
    run: list[str] = []
    for o in ops:
        if o.op == EQUAL:
            run.append(o.ref)
            continue
        if run:
            out.append(sep.join(run))
            run = []
        out.append(["s", o.ref, o.hyp] if o.op == "sub" else ["d", o.ref] if o.op == "del"
                   else ["i", o.hyp])
    if run:
        out.append(sep.join(run))
    return out


@dataclass
class PairView:
    """What one pair's section shows, read from its records and its baseline file."""

    records: list[SampleRecord]
    cand: dict[str, Utterance]
    base: dict[str, Utterance] | None
    comparison: Comparison | None
    keys: list[str]
    notes: list[str]
    clips: Clips = field(default_factory=Clips)  # what the page plays (results/listen.py)
    # sample id -> its alignment as scoring made it (the same as encode_ops(text_ops(...)))
    shown: Mapping[str, list[Any]] = field(default_factory=dict)


def pair_view(row: Row, samples: Path) -> PairView:
    """Load the pair's per-sample records and, when the entry names one, its baseline."""
    metric = row.result.metric
    notes: list[str] = []
    records: list[SampleRecord] = []
    if samples.is_file():
        try:
            records = read_samples(samples)
        except (ValueError, TypeError) as exc:  # a damaged file must not cost the other reports
            notes.append(f"per-sample records unreadable ({samples.name}: {exc})")
    elif row.result.score.total:  # a pair that never got as far as scoring has none
        notes.append(f"per-sample records not found ({samples.name}): no utterances to show")
    cand = from_records(records, metric)
    base = comparison = None
    if row.baseline:
        try:
            base = from_baseline(Path(row.baseline))
        except AudiogateError as exc:
            notes.append(f"baseline not compared: {exc}")
        else:
            comparison = compare(base, cand)
            if any(u.hypothesis is None for u in base.values()):
                notes.append("the baseline keeps counts only (recorded before hypotheses were "
                             "kept): re-record it with --update-thresholds to see its words")
    regressed = [c.id for c in comparison.regressions] if comparison else []
    clips = link_clips(records, chosen({i: u.rate for i, u in cand.items()}, regressed),
                       row.result.task, samples.parent.parent)
    if clips.note():
        notes.append(str(clips.note()))
    return PairView(records, cand, base, comparison, present_keys(cand, row.result.groups),
                    notes, clips)


def pair_data(row: Row, view: PairView) -> dict[str, Any]:
    """The JSON the page's script renders: one entry per scored utterance."""
    metric, language, protocol = row.result.metric, row.result.language, row.result.score.protocol
    sep = separator(language)
    rank = {c.id: i for i, c in enumerate(view.comparison.changes)} if view.comparison else {}
    by_id = {r.id: r for r in view.records}
    utts = []
    for uid in sorted(view.cand):
        u = view.cand[uid]
        item: dict[str, Any] = {"i": uid, "e": u.errors, "n": u.ref_tokens,
                                "g": [group_value(u, k) for k in view.keys]}
        if metric == "acc":
            item["r"], item["h"] = u.reference, u.hypothesis
        else:
            known = view.shown.get(uid)
            item["c"] = known if known is not None else \
                encode_ops(text_ops(u.reference, u.hypothesis, language, protocol), sep)
        b = view.base.get(uid) if view.base is not None else None
        if b is not None:
            item["b"] = b.errors
            if metric == "acc":
                item["bh"] = b.hypothesis
            elif b.hypothesis is not None and (b.hypothesis != u.hypothesis or uid in rank):
                ref = b.reference if b.reference is not None else u.reference
                item["o"] = encode_ops(text_ops(ref, b.hypothesis, language, protocol), sep)
        if uid in rank:
            item["k"] = rank[uid]
        item.update(view.clips.links.get(uid, {}))  # a: produced, in: input, p: voice prompt
        if uid in by_id:
            item.update(speech_lines(by_id[uid]))
        utts.append(item)
    return {"pair": row.result.pair_id, "metric": metric, "sep": sep, "keys": view.keys,
            "baseline": view.base is not None, "utts": utts}


def _script_json(data: Any) -> str:
    """JSON that cannot end its <script> element early."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


_SVG_DROP = (re.compile(r"<\?xml[^>]*\?>\s*"), re.compile(r"<!DOCTYPE[^>]*>\s*"),
             re.compile(r"<metadata>.*?</metadata>\s*", re.S),
             re.compile(r'\s+xmlns(:\w+)?="[^"]*"'))


def inline_svg(svg: str) -> str:
    """The chart as inline SVG: no XML prolog, DTD, RDF metadata or namespace URLs (which
    are never fetched, but an offline page should not even name a host)."""
    for pattern in _SVG_DROP:
        svg = pattern.sub("", svg)
    return svg.strip()


def _css(status: str) -> str:
    return _e(status.replace(" ", "-"))


def _status(status: str) -> str:
    return f'<span class="status {_css(status)}">{_e(status.upper())}</span>'


def _reason_parts(row: Row) -> tuple[str, str]:
    """(the verdict's line, the rest): a failing gate's message ends in the worst regressed
    utterances as text, for a CI log; the page renders them, so that text is folded away."""
    reason = row.reason.removeprefix(f"{row.result.pair_id}: ")
    head, _, rest = reason.partition("\n")
    return head, rest


def _summary(rows: list[Row], chart: str | None, counts: str | None) -> str:
    """The pairs' table (and the counts, when the header is busy with the failures), the
    columns' legend, the chart."""
    head = ("status", "model", "dataset", "score", "95 % interval", "limit", "Δ", "samples",
            "excluded", "errors", "RTFx")
    out = ['<section id="summary"><h2>Summary</h2>'
           + (f'<p class="counts">{_e(counts)}</p>' if counts else "")
           + '<table class="pairs sortable"><thead><tr>'
           + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    for n, row in enumerate(rows, start=1):
        c = row.cells()
        interval = row.result.interval
        score = "—" if row.result.score.value is None else \
            f"{c['measure'].upper()} {c['performance']}"
        out.append(
            f'<tr class="pair-row {_css(row.status)}" data-pair="{_e(row.result.pair_id)}">'
            f'<td data-v="{_e(row.status)}">{_status(row.status)}</td>'
            f'<td class="name">{_e(row.result.model)}</td>'
            f'<td class="name"><a href="#pair-{n}">{_e(row.result.dataset)}</a></td>'
            f'<td class="num" data-v="{_e(row.result.score.value)}">{_e(score)}</td>'
            f'<td class="num" data-v="{_e(interval["low"] if interval else "")}">'
            f'{_e(c["95% CI"])}</td>'
            f'<td class="num">{_e(c["threshold"])}</td><td class="num">{_e(c["delta"])}</td>'
            + "".join(f'<td class="num">{_e(c[k]) if row.result.score.total else ""}</td>'
                      for k in ("samples", "excluded", "errors"))
            + f'<td class="num">{_e(c["RTFx"])}</td></tr>')
    out += ["</tbody></table>", SUMMARY_LEGEND]
    if chart:
        out.append(f'<figure class="chart">{inline_svg(chart)}</figure>')
    out.append("</section>")
    return "\n".join(out)


def _group_tables(metric: str, view: PairView) -> str:
    if not view.keys:
        return ""
    out = ['<h3>Groups</h3><p class="hint">Worst first; Δ compares the same utterances '
           'with the baseline. Click a column to sort.</p><div class="groups">']
    with_base = view.base is not None
    for key in view.keys:
        rows: list[Group] = groups(view.cand, key, metric, view.base)
        head = [key, "n", metric.upper()] + (["baseline", "Δ"] if with_base else [])
        out.append(f'<table class="group sortable" data-key="{_e(key)}"><thead><tr>'
                   + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>")
        for g in rows:
            cls = ""
            if g.delta is not None and g.delta != 0:
                worse = g.delta < 0 if metric == "acc" else g.delta > 0
                cls = ' class="worse"' if worse else ' class="better"'
            cells = [f"<td>{_e(g.value)}</td>", f'<td class="num">{g.n}</td>',
                     f'<td class="num" data-v="{_e(g.score)}">{_num(g.score)}</td>']
            if with_base:
                cells += [f'<td class="num" data-v="{_e(g.base_score)}">{_num(g.base_score)}'
                          "</td>",
                          f'<td class="num" data-v="{_e(g.delta)}">{_num(g.delta, "+.2f")}</td>']
            out.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
        out.append("</tbody></table>")
    out.append("</div>")
    return "\n".join(out)


def _bad_samples(metric: str, view: PairView) -> str:
    bad = [r for r in view.records if r.error is not None or r.excluded]
    if not bad:
        return ""
    out = [f'<h3>Errored and excluded samples ({len(bad)})</h3>',
           '<table class="bad sortable"><thead><tr><th>sample</th><th>file</th>'
           "<th>problem</th><th>hypothesis starts</th></tr></thead><tbody>"]
    for r in bad[:MAX_BAD_ROWS]:
        problem = (f"error: {r.error}" if r.error is not None
                   else f"excluded: per-sample {metric.upper()} {_num(r.score)} %")
        hyp = (r.answer or r.raw_output or "")[:HYP_START]
        out.append(f'<tr class="{"error" if r.error is not None else "excluded"}">'
                   f"<td>{_e(r.id)}</td><td class=\"path\">{_e(r.audio_path)}</td>"
                   f"<td>{_e(problem)}</td><td>{_e(hyp)}</td></tr>")
    out.append("</tbody></table>")
    if len(bad) > MAX_BAD_ROWS:
        out.append(f'<p class="hint">… and {len(bad) - MAX_BAD_ROWS} more in the per-sample '
                   "JSONL.</p>")
    return "\n".join(out)


def _flagged(row: Row) -> str:
    """Long-form recordings whose stitched output loops or stops early (score unchanged)."""
    flagged = row.result.flagged
    if not flagged:
        return ""
    out = [f'<h3>Abnormal long-form outputs ({len(flagged)})</h3>',
           '<p class="hint">Flagged, not excluded: the score counts them as they are.</p>',
           '<table class="bad flagged sortable"><thead><tr><th>recording</th><th>problem</th>'
           "</tr></thead><tbody>"]
    out += [f'<tr class="flagged"><td>{_e(sample_id)}</td><td>{_e(problem)}</td></tr>'
            for sample_id, problem in flagged[:MAX_BAD_ROWS]]
    out.append("</tbody></table>")
    return "\n".join(out)


def _speech_table(result: Any) -> str:
    """A pair whose answers are speech: its judge, and each speech metric with its interval
    (whether it passed its own gate is in the pair's reason above)."""
    if not result.judge and not result.metrics:
        return ""
    judge = (result.judge or {}).get("model")
    out = [f'<p class="judge">Heard by the judge <b>{_e(judge)}</b>; the utterances below '
           "show its transcripts.</p>" if judge else "",
           '<table class="speech-metrics"><thead><tr><th>speech metric</th><th>value</th>'
           "<th>95 % interval</th><th>scored</th><th>errors</th></tr></thead><tbody>"]
    for name, m in result.metrics.items():
        interval = m.get("interval") or {}
        ci = f"[{interval['low']:.2f}, {interval['high']:.2f}]" if interval else ""
        out.append(f'<tr data-metric="{_e(name)}"><td>{_e(name)}</td>'
                   f'<td class="num">{_num(m.get("value"))}</td><td class="num">{_e(ci)}</td>'
                   f'<td class="num">{_e(m.get("scored"))}</td>'
                   f'<td class="num">{_e(m.get("errors"))}</td></tr>')
    out.append("</tbody></table>")
    return "\n".join(x for x in out if x)


def _counts(view: PairView, row: Row) -> str:
    c, metric = view.comparison, row.result.metric
    if c is None:
        return ""
    worse, better = ("correct → wrong", "wrong → correct") if metric == "acc" else (
        "worse", "better")
    text = (f'<span class="n-worse">{len(c.regressions)}</span> {worse} · '
            f'<span class="n-better">{len(c.improvements)}</span> {better} · '
            f'<span class="n-same">{c.unchanged}</span> unchanged')
    if c.only_in_base or c.only_in_cand:
        text += (f" · {len(c.only_in_base)} only in the baseline, {len(c.only_in_cand)} only "
                 "in this run (left out)")
    return (f'<p class="counts">{text}</p><p class="hint">baseline: '
            f"<code>{_e(row.baseline)}</code></p>")


def _pair_section(n: int, row: Row, view: PairView) -> tuple[str, dict[str, Any] | None]:
    """One pair: its verdict line, then what moved (a list that is there only when the pair
    has utterances: a skipped pair says why, and shows no empty table)."""
    r = row.result
    cells = row.cells()
    ci = f" {cells['95% CI']}" if cells["95% CI"] else ""
    head, rest = _reason_parts(row)
    out = [f'<section class="pair {_css(row.status)}" id="pair-{n}" data-pair="{_e(r.pair_id)}" '
           f'data-status="{_e(row.status)}">',
           f"<h2>{_status(row.status)} {_e(r.model)} / {_e(r.dataset)}</h2>",
           f'<p class="reason">{_e(head)}</p>']
    if rest:
        out.append('<details class="text-diff"><summary>The same as text (as in the CI log)'
                   f'</summary><pre>{_e(rest)}</pre></details>')
    if r.score.total:
        out.append(
            f'<p class="score">{_e(r.metric.upper())} <b>{_e(cells["performance"])}</b>'
            f'{_e(ci)}{" · limit " + _e(row.threshold) if row.threshold else ""}'
            f'{" · Δ " + _e(cells["delta"]) if cells["delta"] else ""}'
            f" · {_e(cells['samples'])} samples, {_e(cells['excluded'])} excluded, "
            f"{_e(cells['errors'])} errors"
            f"{' · latency p50 ' + _e(speed_cell(row)) if r.speed else ''}</p>")
    for note in [*r.notes, *view.notes]:
        out.append(f'<p class="note">{_e(note)}</p>')
    out.append(_speech_table(r))
    data = None
    if view.cand:
        data = pair_data(row, view)
        title = "Against the baseline" if view.base is not None else "Utterances"
        out.append(f"<h3>{title}</h3>")
        out.append(_counts(view, row))
        if r.metric != "acc":
            out.append(LEGEND)
        out.append(f'<div class="utts" data-src="data-{n}"><noscript>The utterance list needs '
                   "JavaScript; the per-sample JSONL has the same records.</noscript></div>")
        out.append(_group_tables(r.metric, view))
    out.append(speed_html(row, view.records))
    out.append(_flagged(row))
    out.append(_bad_samples(r.metric, view))
    out.append("</section>")
    return "\n".join(x for x in out if x), data


def render(rows: list[Row], views: list[PairView], meta: dict[str, Any],
           chart: str | None) -> str:
    """The whole page as text (``write_html`` reads the files and writes it)."""
    verdict = run_verdict(rows)
    failed = [(n, r) for n, r in enumerate(rows, start=1) if r.status in {"fail", "error"}]
    counts = counts_line(rows)
    why = [f'<p class="why"><a href="#pair-{n}">{_e(r.result.pair_id)}</a>: '
           f"{_e(_reason_parts(r)[0])}</p>" for n, r in failed] or \
        [f'<p class="why">{_e(counts)}</p>']
    sections, data = [], {}
    numbered = list(enumerate(zip(rows, views, strict=True), start=1))
    for n, (row, view) in sorted(numbered, key=lambda x: SECTION_ORDER.get(x[1][0].status, 1)):
        section, pair = _pair_section(n, row, view)
        sections.append(section)
        if pair is not None:  # in the table's order, whatever the sections' order
            data[n] = (f'<script type="application/json" id="data-{n}">{_script_json(pair)}'
                       "</script>")
    versions = json.dumps(meta.get("versions"), sort_keys=True)
    return "\n".join([
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>audiogate {verdict.upper()}</title>",
        f"<style>{_asset('report.css')}</style></head><body>",
        f'<header class="verdict {_css(verdict)}"><h1>audiogate: {_status(verdict)}</h1>',
        *why, "</header>",
        "<main>", _summary(rows, chart, counts if failed else None), *sections, "</main>",
        f"<footer><p>git commit <code>{_e(meta.get('git_commit'))}</code> · python "
        f"{_e(meta.get('python'))} · versions <code>{_e(versions)}</code></p>",
        '<p>Run stamp (the only part that differs when the same results are written again): '
        f'<span id="run-stamp">run {_e(meta.get("run_id"))} · created '
        f'{_e(meta.get("created"))}</span></p></footer>',
        *(data[n] for n in sorted(data)), f"<script>{_asset('report.js')}</script>",
        "</body></html>", ""])


def write_html(rows: list[Row], report_dir: Path, meta: dict[str, Any],
               chart: Path | None = None, *,
               shown: Mapping[str, Mapping[str, list[Any]]] | None = None) -> Path:
    """Write ``audiogate-report.html`` for rows already in report order; ``shown`` holds
    alignments scoring already made (pair id -> sample id -> ``encode_ops``'s form)."""
    views = [pair_view(r, samples_path(report_dir, r.result.model, r.result.dataset))
             for r in rows]
    for row, view in zip(rows, views, strict=True):
        view.shown = (shown or {}).get(row.result.pair_id, {})
    svg = chart.read_text(encoding="utf-8") if chart is not None and chart.is_file() else None
    path = report_dir / HTML_FILENAME
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render(rows, views, meta, svg), encoding="utf-8")
    tmp.replace(path)
    return path
