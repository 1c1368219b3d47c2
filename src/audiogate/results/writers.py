"""The one entry point that writes a run's report files: it calls each writer in turn
(Markdown, JSON, the SVG chart, HTML); the writers stand side by side and none calls
another. The terminal summary (results.terminal) and the JUnit properties (results.junit)
are written by the pytest front door at pytest's own hooks, from the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audiogate.results.chart import write_chart
from audiogate.results.html import write_html
from audiogate.results.json_report import write_json
from audiogate.results.markdown import write_markdown
from audiogate.results.report import SVG_FILENAME, Row, run_metadata


def write_reports(rows: Sequence[Row], report_dir: Path, meta: dict[str, Any] | None = None
                  ) -> list[Path]:
    """audiogate-report.md / .json / .html (and a chart when matplotlib is present).

    The same rows and per-sample files give the same bytes in every file but the run's
    stamp (``run_id`` / ``created`` in ``meta``)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    meta = meta or run_metadata()
    ordered = sorted(rows, key=lambda r: (r.result.task, r.result.dataset, r.result.model))
    paths = [write_markdown(ordered, report_dir, meta), write_json(ordered, report_dir, meta)]
    chart = write_chart(ordered, report_dir / SVG_FILENAME)
    if chart is not None:
        paths.append(chart)
    paths.append(write_html(ordered, report_dir, meta, chart))
    return paths
