"""A pair whose answers are speech, run in sample shards and merged: `audiogate report
merge` re-derives its score and its speech metrics from the per-sample records alone and
judges it as the single run is judged; shards heard by different judges do not merge."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, report: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-k", "tts-ls-test-clean",
         "-p", "no:randomly", "--store", str(tmp_path / "store.sqlite"),
         "--report-dir", str(tmp_path / report), *extra],
        cwd=REPO, capture_output=True, text=True, timeout=1500, check=False)


def _merge(tmp_path: Path, *reports: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "audiogate.cli", "report", "merge",
         *(str(tmp_path / r) for r in reports), "-o", str(tmp_path / "merged"),
         "--thresholds", str(REPO / "thresholds.yaml")],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def _result(folder: Path) -> dict[str, object]:
    report = json.loads((folder / "audiogate-report.json").read_text(encoding="utf-8"))
    [row] = report["rows"]
    return {"status": row["status"], **row["result"]}


def test_shards_of_a_tts_pair_merge_into_the_single_run(tmp_path: Path) -> None:
    for k in (1, 2):
        shard = _run(tmp_path, f"shard-{k}", "--shard", f"{k}/2")
        assert shard.returncode == 0, shard.stdout[-3000:] + shard.stderr[-2000:]
    single = _run(tmp_path, "single")  # every output reused from the shards' store
    assert single.returncode == 0, single.stdout[-3000:]
    merged = _merge(tmp_path, "shard-1", "shard-2")
    assert merged.returncode == 0, merged.stdout + merged.stderr
    assert "verdict: PASS" in merged.stdout
    one, both = _result(tmp_path / "single"), _result(tmp_path / "merged")
    assert both["status"] == one["status"] == "pass"
    for key in ("score", "metrics", "judge", "interval", "sample_set"):
        assert both[key] == one[key], key
    assert set(both["metrics"]) == {"sim-ge2e", "dnsmos"}  # type: ignore[arg-type]

    # a shard heard by another judge is not one run's
    path = tmp_path / "shard-2" / "audiogate-report.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    report["rows"][0]["result"]["judge"]["model"] = "whisper-base"
    path.write_text(json.dumps(report), encoding="utf-8")
    refused = _merge(tmp_path, "shard-1", "shard-2")
    assert refused.returncode == 1
    assert "were heard by different judges (whisper-tiny.en vs whisper-base)" in \
        refused.stdout + refused.stderr
