"""A pair's speed as the reports show it: one terminal cell, Markdown lines, an HTML block
with the latency distribution and the slowest samples. The numbers are gate/speed.py's;
nothing here computes a statistic."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from audiogate.scoring.pair import SampleRecord

if TYPE_CHECKING:
    from audiogate.results.report import Row

MARK = {"fail": "SLOW", "not comparable": "n/c"}  # the speed gate's finding, in the cell
LEGEND = ("latency: median seconds per sample · SLOW: slower than recorded (the speed gate "
          "failed) · n/c: speed not comparable")
BINS = 24  # bars of the latency histogram


def seconds(value: float) -> str:
    """``0.253s``, ``3.00s``, ``12.4s``, ``142s``: three significant digits."""
    return f"{value:.0f}s" if value >= 100 else f"{value:#.3g}s"


def speed_cell(row: Row) -> str:
    """The terminal's and summary table's cell: median latency, and the speed gate's mark."""
    speed = row.result.speed
    if not speed:
        return ""
    mark = MARK.get((row.speed or {}).get("status", ""), "")
    return seconds(speed["latency"]["p50"]["estimate"]) + (f" {mark}" if mark else "")


def _block(name: str, block: Mapping[str, Any], unit: str = "s") -> str:
    parts = []
    for q in ("p50", "p90", "p99"):
        b = block[q]
        parts.append(f"{q} {b['estimate']:.3f} [{b['low']:.3f}, {b['high']:.3f}]")
    return f"{name} ({unit}) " + " · ".join(parts)


def _ratio(name: str, block: Mapping[str, Any] | None, unit: str) -> str | None:
    if not block:
        return None
    return (f"{name} {block['estimate']:.2f} [{block['low']:.2f}, {block['high']:.2f}]"
            + (f" {unit}" if unit else ""))


def speed_lines(row: Row) -> list[str]:
    """What the Markdown report says of a pair's speed (empty when nothing was timed)."""
    speed, facts = row.result.speed, row.result.measured_on
    lines: list[str] = []
    if speed:
        conf = f"{speed['confidence'] * 100:g} %"
        lines.append(f"speed ({conf} bootstrap intervals, {speed['timed']} of "
                     f"{speed['total']} samples timed, {', '.join(speed['methods'])}): "
                     + _block("latency", speed["latency"]))
        if speed.get("ttft"):
            itl = speed.get("itl_mean")
            lines.append(_block("time to first token", speed["ttft"])
                         + (f" · mean inter-token {itl * 1000:.1f} ms" if itl else ""))
        extra = [x for x in (_ratio("RTFx", speed.get("rtfx"), ""),
                             _ratio("throughput", speed.get("throughput"), "samples/s"))
                 if x]
        extra.append(f"requests in flight: median {speed['in_flight_median']:g}, max "
                     f"{speed['in_flight_max']}")
        lines.append(" · ".join(extra))
    if facts and (speed or row.speed):
        lines.append("measured on: " + ", ".join(f"{k} {v}" for k, v in facts.items()
                                                 if v is not None)
                     + (f"; model load {row.result.load_seconds:.1f} s"
                        if row.result.load_seconds else ""))
    if row.speed:
        lines.append(f"speed gate: {row.speed['status'].upper()} — {row.speed['reason']}")
    return lines


def _e(value: object) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def histogram_svg(latencies: Sequence[float], marks: Mapping[str, float]) -> str:
    """Latencies as an inline SVG histogram (text stays text), with the percentiles in
    ``marks`` as dashed lines; the same values give the same bytes."""
    values = np.asarray(latencies, dtype=float)
    width, height, left, bottom = 640, 150, 40, 30
    low, high = float(values.min()), float(values.max())
    if high <= low:
        high = low + 1e-3
    counts, edges = np.histogram(values, bins=BINS, range=(low, high))
    top = int(counts.max()) or 1
    bar = (width - left - 10) / BINS
    plot = height - bottom - 10

    def x(v: float) -> float:
        return left + (v - low) / (high - low) * (width - left - 10)

    out = [f'<svg class="latency-hist" role="img" viewBox="0 0 {width} {height}" '
           f'width="{width}" height="{height}" style="max-width: 100%; height: auto" '
           'aria-label="latency distribution">']
    for k, n in enumerate(counts):
        h = plot * int(n) / top
        out.append(f'<rect x="{left + k * bar:.1f}" y="{10 + plot - h:.1f}" '
                   f'width="{max(bar - 1, 1):.1f}" height="{h:.1f}" fill="#4878a8">'
                   f"<title>{edges[k]:.3f}–{edges[k + 1]:.3f} s: {int(n)}</title></rect>")
    for name, value in marks.items():
        out.append(f'<line x1="{x(value):.1f}" x2="{x(value):.1f}" y1="8" y2="{10 + plot}" '
                   'stroke="#222" stroke-dasharray="4 3"/>'
                   f'<text x="{x(value) + 3:.1f}" y="18" font-size="12">{_e(name)}</text>')
    axis = 10 + plot + 16
    out.append(f'<text x="{left}" y="{axis}" font-size="12">{low:.3f} s</text>'
               f'<text x="{width - 10}" y="{axis}" font-size="12" text-anchor="end">'
               f"{high:.3f} s</text>"
               f'<text x="4" y="20" font-size="12">{top}</text></svg>')
    return "".join(out)


def speed_html(row: Row, records: Sequence[SampleRecord]) -> str:
    """A pair's speed block: the numbers, the speed gate's finding, the latency distribution
    and the slowest samples (empty when nothing was timed)."""
    speed = row.result.speed
    if not speed:
        return ""
    out = ["<h3>Speed</h3>"]
    out += [f'<p class="speed">{_e(line)}</p>' for line in speed_lines(row)]
    latencies = [float(r.timing["latency"]) for r in records
                 if r.error is None and r.timing and r.timing.get("latency")]
    if latencies:
        marks = {q: speed["latency"][q]["estimate"] for q in ("p50", "p90")}
        out.append(f'<figure class="latency">{histogram_svg(latencies, marks)}'
                   "<figcaption>latency per sample (seconds; dashed: p50, p90)</figcaption>"
                   "</figure>")
    worst = speed.get("worst") or []
    if worst:
        by_id = {r.id: r for r in records}
        out.append('<table class="speed worst sortable"><thead><tr><th>slowest samples</th>'
                   "<th>latency (s)</th><th>audio (s)</th><th>RTFx</th><th>TTFT (s)</th>"
                   "<th>in flight</th></tr></thead><tbody>")
        for sample_id, latency, audio in worst:
            timing = (by_id[sample_id].timing if sample_id in by_id else None) or {}
            ttft = timing.get("ttft")
            out.append(f"<tr><td>{_e(sample_id)}</td><td class=\"num\">{latency:.3f}</td>"
                       f'<td class="num">{audio:.2f}</td>'
                       f'<td class="num">{audio / latency:.1f}</td>'
                       f'<td class="num">{"" if ttft is None else f"{ttft:.3f}"}</td>'
                       f'<td class="num">{_e(timing.get("in_flight"))}</td></tr>')
        out.append("</tbody></table>")
    return "\n".join(out)
