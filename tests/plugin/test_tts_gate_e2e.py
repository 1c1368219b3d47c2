"""The CPU default gates speech output out of the box: `pytest benchmarks -k tts` in this
checkout (its thresholds.yaml, baselines and shipped data; a fresh store and report folder)
runs the embedded eSpeak NG on the LibriSpeech test-clean slice, judged by the embedded
Whisper, and passes; a tightened limit fails it, and a run heard by another judge is not
comparable: an error, never a pass."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PAIR = "espeak-en/tts-ls-test-clean"


def _benchmarks(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks", "-k", "tts", "-p", "no:randomly",
         "--store", str(tmp_path / "store.sqlite"), "--report-dir", str(tmp_path / "reports"),
         *extra], cwd=REPO, capture_output=True, text=True, timeout=1500, check=False)


def _tightened(tmp_path: Path, metric: str, bound: str, limit: float) -> Path:
    folder = tmp_path / "tight"
    shutil.copytree(REPO / "baselines" / "espeak-en", folder / "baselines" / "espeak-en",
                    dirs_exist_ok=True)
    yaml = YAML()
    data = yaml.load((REPO / "thresholds.yaml").read_text(encoding="utf-8"))
    [entry] = [e for e in data["espeak-en"]["tts-ls-test-clean"] if e["metric"] == metric]
    entry[bound] = limit
    entry["value"] = limit  # a recorded value on the strict side would not load
    with (folder / "thresholds.yaml").open("w", encoding="utf-8") as f:
        yaml.dump(data, f)
    return folder / "thresholds.yaml"


def test_pytest_benchmarks_k_tts_passes_and_a_tightened_limit_fails(tmp_path: Path) -> None:
    passed = _benchmarks(tmp_path)
    assert passed.returncode == 0, passed.stdout[-3000:] + passed.stderr[-2000:]
    assert re.search(r"PASS\s+tts-ls-test-clean\s+WER 23\.58", passed.stdout), passed.stdout
    report = json.loads((tmp_path / "reports" / "audiogate-report.json").read_text())
    [row] = [r for r in report["rows"] if r["result"]["dataset"] == "tts-ls-test-clean"]
    result = row["result"]
    assert row["status"] == "pass" and result["judge"]["model"] == "whisper-tiny.en"
    assert result["inferred"] == 6 and result["score"]["errors"] == 0
    assert "sim-ge2e: SIM-GE2E 0.60 within min" in row["reason"]
    assert "dnsmos: DNSMOS 3.25 within min" in row["reason"]
    assert result["metrics"]["sim-ge2e"]["scored"] == 5  # one speaker has no second clip
    # the clips were kept beside the store, and the report links some beside itself
    kept = sorted((tmp_path / "audio").glob("*.wav"))
    assert len(kept) == 6
    linked = set((tmp_path / "reports" / "audio").iterdir())
    html = (tmp_path / "reports" / "audiogate-report.html").read_text(encoding="utf-8")
    assert all(f"audio/{p.name}" in html for p in linked)
    assert {p.name for p in kept} <= {p.name for p in linked}

    rerun = _benchmarks(tmp_path)  # nothing spoken or heard again
    assert rerun.returncode == 0
    assert f"{PAIR}: 6/6 done: 6 reused, 0 inferred" in rerun.stdout + rerun.stderr
    kept[0].unlink()  # a stored answer whose clip is gone is spoken again, the same clip
    respoken = _benchmarks(tmp_path)
    assert respoken.returncode == 0
    assert f"{PAIR}: 6/6 done: 5 reused, 1 inferred" in respoken.stdout + respoken.stderr
    assert kept[0].is_file()

    tight_wer = _benchmarks(tmp_path, "--thresholds",
                            str(_tightened(tmp_path, "wer", "max", 20.0)))
    assert tight_wer.returncode == 1
    assert f"{PAIR}: regressed: WER 23.58 > max 20.00" in tight_wer.stdout
    tight_dnsmos = _benchmarks(tmp_path, "--thresholds",
                               str(_tightened(tmp_path, "dnsmos", "min", 3.5)))
    assert tight_dnsmos.returncode == 1
    assert f"{PAIR}: dnsmos: regressed: DNSMOS 3.25 < min 3.50" in tight_dnsmos.stdout


def test_another_judge_is_an_error_never_a_pass(tmp_path: Path) -> None:
    other = _benchmarks(tmp_path, "--judge", "whisper-base")
    assert other.returncode == 1
    assert f"{PAIR}: ERROR — not comparable: thresholds.yaml records wer of this pair as " \
           "judged by 'whisper-tiny.en'" in other.stdout
    assert "this run was judged by 'whisper-base'" in other.stdout
