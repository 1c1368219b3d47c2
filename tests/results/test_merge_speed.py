"""`audiogate report merge` with timings in the records.

A whole run's speed verdict is re-derived from its records' timings by the gate's own code
(a stored speed status the records do not give is named, as a stored score is); a pair put
back together from sample shards merges with every timing kept, and is never speed-gated:
shards timed apart are not one run's latencies, so its speed is "not comparable" (a
failure under --require-gate), never a pass or a fail.

The reports are written by the real gate and writers from records scored by the real
scoring path (the test-clean slice's six references, answered word for word), and merged
by the real command in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pair_reports import META

from audiogate.datasets import load_dataset
from audiogate.gate.decide import GateRules, decide
from audiogate.gate.paired import interval, per_sample
from audiogate.gate.speed import summarize
from audiogate.gate.thresholds import Thresholds, load
from audiogate.registry import load as registry
from audiogate.results.decision_row import row as decision_row
from audiogate.results.report import samples_path, write_samples
from audiogate.results.writers import write_reports
from audiogate.samples import sample_set_fingerprint, shard_info, shard_of
from audiogate.scoring.pair import Outcome, SampleRecord, score
from audiogate.scoring.pair_result import PairResult

MODEL, DATASET = "whisper-tiny.en", "librispeech-test-clean"
N = 300  # bootstrap resamples of the runs (and so of the merge)
FACTS = {"cpu": "AMD EPYC", "cpus": 2, "gpu_count": 0, "engine": "whisper-cpu",
         "engine_version": "1.1.1", "concurrency": 1, "batch_size": 1}
THRESHOLDS = """\
whisper-tiny.en:
  librispeech-test-clean:
    - metric: wer
      value: 0.0
      max: 5.0
      samples: 6
    - metric: speed
      samples: 6
      measured_on: {cpu: AMD EPYC, cpus: 2, gpu_count: 0, engine: whisper-cpu,
                    engine_version: 1.1.1, concurrency: 1, batch_size: 1}
      latency_p90: RECORDED
      max_latency_p90: MAX
"""


def records(data: Path) -> list[SampleRecord]:
    """The six clips answered with their own references, each timed as a decode of
    0.20 to 0.25 s."""
    samples = load_dataset(registry.dataset(DATASET), data)
    outcomes = [Outcome(s.id, s.reference, str(s.audio_path), s.reference, s.reference, None,
                        seconds=0.2 + k / 100, audio_seconds=4.0 + k, meta=dict(s.meta),
                        timing={"latency": 0.2 + k / 100, "method": "decode", "in_flight": 1,
                                "batch": 1})
                for k, s in enumerate(samples)]
    return score(registry.dataset(DATASET), outcomes)[1]


def thresholds(tmp_path: Path, max_latency_p90: float) -> Thresholds:
    path = tmp_path / "thresholds.yaml"
    text = THRESHOLDS.replace("MAX", str(max_latency_p90))
    path.write_text(text.replace("RECORDED", str(max_latency_p90 / 1.25)), encoding="utf-8")
    return load(path, registry.models(), registry.datasets())


def write_run(folder: Path, recs: list[SampleRecord], gated: Thresholds,
              shard: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run's report folder as the plugin writes it: the result, its speed, the gate's
    decision (a shard's: measured, judged when merged), the per-sample file."""
    spec = registry.dataset(DATASET)
    summary = score(spec, [Outcome(r.id, r.reference, r.audio_path, r.raw_output, r.answer,
                                   None, seconds=r.seconds, audio_seconds=r.audio_seconds,
                                   meta=dict(r.meta), timing=r.timing) for r in recs])[0]
    wall = sum(r.seconds for r in recs)
    result = PairResult(MODEL, DATASET, spec.task, spec.language, spec.metric, summary,
                        sample_set_fingerprint(r.id for r in recs),
                        sum(r.audio_seconds for r in recs), wall, wall, len(recs), 0,
                        {"engine": "whisper-cpu"}, answer_rules={}, shard=shard,
                        interval=interval(per_sample(recs, "wer"), "wer", n_resamples=N))
    result.speed = summarize(recs, wall_seconds=wall, complete=True, n_resamples=N)
    result.measured_on = dict(FACTS)
    rules = GateRules(n_resamples=N, shard=None if shard is None else
                      f"{shard['index']}/{shard['count']}")
    decision = decide(result, recs, gated, rules, record_hint="")
    samples = write_samples(recs, samples_path(folder, MODEL, DATASET))
    row = decision_row(result, decision, gated, samples)
    write_reports([row], folder, {**META, **({"shard": rules.shard} if shard else {})})
    return row.to_json()


def merge(tmp_path: Path, *folders: Path, extra: tuple[str, ...] = ()
          ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = tmp_path / "merged"
    done = subprocess.run([sys.executable, "-m", "audiogate.cli", "report", "merge",
                           *map(str, folders), "-o", str(out),
                           f"--thresholds={tmp_path / 'thresholds.yaml'}", *extra],
                          capture_output=True, text=True, check=False)
    report = json.loads((out / "audiogate-report.json").read_text(encoding="utf-8"))
    [row] = report["rows"]
    return done, row


@pytest.mark.parametrize(("max_p90", "status"), [(0.5, "pass"), (0.1, "fail")])
def test_a_whole_runs_speed_verdict_is_re_derived_from_its_records(
        tmp_path: Path, shared_data: Path, max_p90: float, status: str) -> None:
    recs = records(shared_data)
    stored = write_run(tmp_path / "run", recs, thresholds(tmp_path, max_p90))
    assert stored["status"] == status and stored["speed"]["status"] == status
    done, row = merge(tmp_path, tmp_path / "run")
    assert done.returncode == (0 if status == "pass" else 1), done.stdout + done.stderr
    assert "disagree" not in done.stdout
    assert row["status"] == status and row["speed"] == stored["speed"]
    assert row["result"]["speed"] == stored["result"]["speed"]  # the same bytes, re-derived
    assert [json.loads(line)["timing"] for line in
            (tmp_path / "merged" / "samples" / f"{MODEL}__{DATASET}.jsonl").read_text()
            .splitlines()] == [r.timing for r in recs]


def test_a_stored_speed_pass_the_records_do_not_give_fails_the_merge(
        tmp_path: Path, shared_data: Path) -> None:
    """A run slower than its limit, its report edited to say it passed: the merge re-derives
    the speed gate from the timings and names the disagreement."""
    write_run(tmp_path / "run", records(shared_data), thresholds(tmp_path, 0.1))
    path = tmp_path / "run" / "audiogate-report.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["rows"][0]["status"] = "pass"
    data["rows"][0]["speed"]["status"] = "pass"
    path.write_text(json.dumps(data), encoding="utf-8")
    done, row = merge(tmp_path, tmp_path / "run")
    assert done.returncode == 1, done.stdout + done.stderr
    assert row["status"] == "fail" and row["speed"]["status"] == "fail"
    assert "stored status PASS, re-derived FAIL (speed slower: latency p90" in row["reason"]


def test_merged_shards_keep_their_timings_and_are_not_speed_gated(
        tmp_path: Path, shared_data: Path) -> None:
    """Two sample shards of a timed run merge (the accuracy gate passes); the merged pair's
    speed is summarized from every shard's timings but never gated: not comparable, and a
    failure under --require-gate."""
    recs = records(shared_data)
    gated = thresholds(tmp_path, 0.5)
    samples = load_dataset(registry.dataset(DATASET), shared_data)
    folders = []
    for index in (1, 2):
        part = [r for r in recs if shard_of(r.id, 2) == index]
        assert part  # both shards hold samples of the six
        folders.append(tmp_path / f"shard-{index}")
        stored = write_run(folders[-1], part, gated, shard_info(samples, index, 2))
        assert stored["status"] == "measured" and stored["speed"] is None  # judged merged
    done, row = merge(tmp_path, *folders)
    assert done.returncode == 0, done.stdout + done.stderr
    assert row["status"] == "pass" and row["speed"]["status"] == "not comparable"
    assert "speed not comparable: reassembled from shards, which were timed apart" \
        in row["reason"]
    speed = row["result"]["speed"]
    assert speed["timed"] == 6 and speed["throughput"] is None  # shards' walls overlap
    assert row["result"]["measured_on"]["shards"] == 2
    assert speed == summarize(recs, wall_seconds=row["result"]["wall_seconds"],
                              complete=False, n_resamples=N)
    required, row = merge(tmp_path, *folders, extra=("--require-gate",))
    assert required.returncode == 1, required.stdout + required.stderr
    assert row["status"] == "fail"
    assert row["reason"].startswith("--require-gate: speed not comparable: reassembled")
