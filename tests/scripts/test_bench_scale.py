"""scripts/bench_scale.py: the scale benchmark measures like with like. On a small seeded
set its bare floor (the libraries alone) finds the same corpus WER as audiogate's gating
protocol on the same pairs, every timed run passes, and it prints the ratios; it asserts
nothing about time."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow  # five pytest runs in subprocesses

REPO = Path(__file__).resolve().parents[2]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_scale", REPO / "scripts"
                                                  / "bench_scale.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module
    spec.loader.exec_module(module)
    return module


def test_the_bare_floor_scores_what_audiogate_scores(tmp_path: Path) -> None:
    bench = _script()
    result = bench.bench(300, 7, tmp_path, REPO, True)
    bare = json.loads(result["bare"]["output"].strip().splitlines()[-1])
    report = json.loads((tmp_path / "runs" / "reports" / "audiogate-report.json")
                        .read_text(encoding="utf-8"))
    (row,) = report["rows"]
    assert row["status"] == "pass"
    assert row["result"]["score"]["value"] == pytest.approx(bare["wer"], abs=1e-9)
    assert 5 < bare["wer"] < 20  # about 10 % of the words edited
    paired = json.loads(result["bare_paired"]["output"].strip().splitlines()[-1])
    assert "paired_low" in paired
    text = bench.report(result)
    assert "ratio audiogate / bare" in text and "ratio paired / bare paired" in text
    assert all(result[k]["peak_mb"] > 0 for k in ("bare", "audiogate", "rerun", "paired"))
