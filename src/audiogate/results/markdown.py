"""audiogate-report.md: the verdict, the reference-shaped table and each pair's details, for a
pull request or a CI summary page."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audiogate.results.listen import summary_lines
from audiogate.results.report import (
    COLUMN_LEGEND,
    HTML_FILENAME,
    MARKDOWN_FILENAME,
    Row,
    counts_line,
    dispatch_line,
    protocol_averages,
    protocol_lines,
    table,
    verdict,
)
from audiogate.results.speed import speed_lines


def write_markdown(rows: Sequence[Row], report_dir: Path, meta: dict[str, Any]) -> Path:
    """Write ``audiogate-report.md`` for rows already in report order."""
    md = [f"# audiogate results — {verdict(rows).upper()}", "", counts_line(rows), "",
          f"Which utterances moved each score, against the baseline and by group: "
          f"[{HTML_FILENAME}]({HTML_FILENAME}).", "", table(rows, markdown=True), "",
          f"*{COLUMN_LEGEND}*", ""]
    if meta.get("shard"):
        md[1:1] = ["", f"**--shard {meta['shard']}: a part of each pair's samples; nothing "
                       "was gated here. `audiogate report merge` of all the shards gives "
                       "the verdict.**"]
    elif meta.get("gated") is False:
        md[1:1] = ["", "**--no-gate: nothing was gated in this run; the numbers are "
                       "measurements only.**"]
    for row in rows:
        md.append(f"- **{row.result.pair_id}**: {row.status.upper()} — {row.reason}")
        md.append(f"  - engine: `{json.dumps(row.result.engine, sort_keys=True)}`; "
                  f"{row.result.inferred} inferred, {row.result.reused} reused from the store"
                  + "".join(f"; {n} from {run}" for run, n in row.result.reused_from.items()))
        if row.result.interval:
            md.append(f"  - 95 % interval: [{row.result.interval['low']:.2f}, "
                      f"{row.result.interval['high']:.2f}] ({row.result.interval['method']}, "
                      f"{row.result.interval['n_resamples']} resamples)")
        md += [f"  - {line}" for line in summary_lines(row.result)]
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
    averages = protocol_averages(rows)
    if averages:
        md += [""] + [f"- {line}" for line in averages]
    md += ["", f"git commit: `{meta.get('git_commit')}` · created {meta.get('created')} · "
               f"versions: {json.dumps(meta.get('versions'))}", ""]
    path = report_dir / MARKDOWN_FILENAME
    path.write_text("\n".join(md), encoding="utf-8")
    return path
