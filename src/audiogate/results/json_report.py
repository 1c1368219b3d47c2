"""audiogate-report.json: the verdict, the run's metadata and every row, for tools (and for
`audiogate report merge`, which re-derives what it reads)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audiogate.results.report import JSON_FILENAME, Row, verdict


def write_json(rows: Sequence[Row], report_dir: Path, meta: dict[str, Any]) -> Path:
    """Write ``audiogate-report.json`` for rows already in report order."""
    path = report_dir / JSON_FILENAME
    path.write_text(json.dumps({"verdict": verdict(rows), "meta": meta,
                                "rows": [r.to_json() for r in rows]}, indent=2,
                               ensure_ascii=False), encoding="utf-8")
    return path
