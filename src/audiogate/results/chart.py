"""audiogate-report.svg: each pair's score beside its limit, drawn by matplotlib when it is
installed (the HTML report inlines it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audiogate.results.report import FAILING, PASSING, Row

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
    # an interval of very few resamples need not hold the value: no whisker below/above it then
    errors = [[max(0.0, v - (r.result.interval or {}).get("low", v))
               for v, r in zip(values, scored, strict=True)],
              [max(0.0, (r.result.interval or {}).get("high", v) - v)
               for v, r in zip(values, scored, strict=True)]]
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
