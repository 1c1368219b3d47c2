"""Benchmarks of sample shards (reported, never asserted on time).

1. One pair (the 42 real test-other clips, whisper-tiny.en decoding every clip, no store)
   run serially, against the same pair as 4 `--shard K/4` runs one after another plus
   `audiogate report merge`: the total time ratio. Each run is its own pytest process, as
   each shard is its own CI job, so the ratio includes what every job pays again (start,
   model load). The merged verdict must equal the serial one.
2. The merge's own seconds for a synthetic 10,000-utterance pair in 4 shards (the real
   test-other references cycled, one random edit each), judged by a limit and a paired
   gate against a 10,000-utterance baseline, reports (HTML included) written.

Run: .venv/bin/pytest tests/perf/test_perf_shards.py --run-perf -q -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

from pair_reports import synthetic

from audiogate.cli import main
from audiogate.gate.paired import baseline_texts, interval, per_sample, write_baseline
from audiogate.registry import load as registry
from audiogate.results.report import Row, samples_path, write_samples
from audiogate.results.writers import write_reports
from audiogate.samples import Sample, sample_set_fingerprint, shard_info, shard_of
from audiogate.scoring.pair import summarize
from audiogate.scoring.pair_result import PairResult

REPO = Path(__file__).resolve().parents[2]
DATASET = "librispeech-test-other"
SHARDS = 4
N = 10_000


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "src"),
                                         env.get("PYTHONPATH", "")])
    return env


def _timed(argv: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False,
                          env=_env())
    return time.perf_counter() - started, done


def test_four_shards_and_a_merge_vs_one_serial_run(tmp_path: Path, shared_data: Path) -> None:
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["audiogate.plugin", '
                                          '"fixtures.gate"]\n')
    (tmp_path / "test_gated_asr.py").write_text((REPO / "benchmarks" / "test_asr.py")
                                                .read_text())
    run = [sys.executable, "-m", "pytest", "-k", DATASET, "--model=whisper-tiny.en",
           f"--data-root={shared_data}", f"--thresholds={REPO / 'thresholds.yaml'}",
           "--no-store", "-p", "no:cacheprovider", "-p", "no:randomly", "-q"]
    serial_s, serial = _timed([*run, "--report-dir=serial"], tmp_path)
    assert serial.returncode == 0, serial.stdout[-2000:]
    shard_s = []
    for k in range(1, SHARDS + 1):
        seconds, done = _timed([*run, f"--shard={k}/{SHARDS}", f"--report-dir=shard-{k}"],
                               tmp_path)
        assert done.returncode == 0, done.stdout[-2000:]
        shard_s.append(seconds)
    merge_s, merged = _timed(
        [sys.executable, "-m", "audiogate.cli", "report", "merge",
         *[f"shard-{k}" for k in range(1, SHARDS + 1)], "-o", "merged",
         f"--thresholds={REPO / 'thresholds.yaml'}"], tmp_path)
    assert merged.returncode == 0, merged.stdout + merged.stderr

    def verdict(folder: str) -> tuple[str, float]:
        row = next(r for r in json.loads((tmp_path / folder / "audiogate-report.json")
                                         .read_text())["rows"]
                   if r["result"]["dataset"] == DATASET)
        return row["status"], row["result"]["score"]["value"]

    assert verdict("merged") == verdict("serial")
    total = sum(shard_s) + merge_s
    print(f"\n{DATASET} (42 clips, whisper-tiny.en, every clip decoded): serial run "
          f"{serial_s:.1f} s; {SHARDS} shards one after another "
          f"{' + '.join(f'{s:.1f}' for s in shard_s)} s + merge {merge_s:.1f} s = "
          f"{total:.1f} s; (shards + merge) / serial = {total / serial_s:.2f}")


def test_merge_of_a_10000_utterance_pair(tmp_path: Path,
                                         references: list[tuple[str, str]]) -> None:
    spec = registry.dataset(DATASET)
    records = synthetic(references, N, seed=0)
    baseline = synthetic(references, N, seed=1)
    ids = [r.id for r in records]
    full = [Sample(i, "", None) for i in ids]
    write_baseline(tmp_path / "baselines" / "big.jsonl", per_sample(baseline, "wer"), "wer",
                   texts=baseline_texts(baseline, "wer"))
    whole = summarize(spec, records)
    assert whole.value is not None
    (tmp_path / "thresholds.yaml").write_text(
        f"whisper-tiny.en:\n  {DATASET}:\n    - metric: wer\n      value: {whole.value:.2f}\n"
        f"      max: {whole.value + 1:.2f}\n      samples: {N}\n"
        f"      sample_set: {sample_set_fingerprint(ids)}\n"
        "      baseline: baselines/big.jsonl\n      gate: [limit, paired]\n"
        "      margin: 0.5\n", encoding="utf-8")
    for k in range(1, SHARDS + 1):
        mine = [r for r in records if shard_of(r.id, SHARDS) == k]
        result = PairResult("whisper-tiny.en", DATASET, "asr", "en", "wer",
                            summarize(spec, mine), sample_set_fingerprint(r.id for r in mine),
                            5.0 * len(mine), 0.5 * len(mine), 0.5 * len(mine), len(mine), 0,
                            {"engine": "whisper-cpu", "model": "whisper-tiny.en"},
                            groups=list(spec.groups), shard=shard_info(full, k, SHARDS),
                            interval=interval(per_sample(mine, "wer"), "wer",
                                              n_resamples=10_000))
        folder = tmp_path / f"shard-{k}"
        write_samples(mine, samples_path(folder, result.model, result.dataset))
        write_reports([Row(result, "measured", "shard")], folder)
    started = time.perf_counter()
    code = main(["report", "merge", *[str(tmp_path / f"shard-{k}") for k in range(1, 5)],
                 "-o", str(tmp_path / "merged"),
                 f"--thresholds={tmp_path / 'thresholds.yaml'}"])
    seconds = time.perf_counter() - started
    row = json.loads((tmp_path / "merged" / "audiogate-report.json").read_text())["rows"][0]
    assert row["result"]["score"]["total"] == N
    assert row["result"]["score"] == json.loads(json.dumps(asdict(whole)))
    assert "paired test:" in row["reason"] or row["status"] == "fail"
    print(f"\nreport merge of a {N:,}-utterance pair in {SHARDS} shards (limit + paired gate, "
          f"10,000 resamples, reports and HTML written): {seconds:.2f} s; exit {code}, "
          f"status {row['status']}")
