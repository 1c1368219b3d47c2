"""A pair's speed from its per-sample timings, the paired latency ratio, speed baselines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audiogate.errors import ThresholdsError
from audiogate.gate.speed import (
    differences,
    engine_version,
    measured_on,
    paired_latency,
    read_speed_baseline,
    summarize,
    timed,
    write_speed_baseline,
)
from audiogate.gate.stats import bootstrap_quantile, bootstrap_ratio_of_sums, paired_median_ratio
from audiogate.scoring.pair import SampleRecord, with_rtfx


def record(i: int, latency: float | None, audio: float = 4.0, *, ttft: float | None = None,
           error: str | None = None, in_flight: int = 1) -> SampleRecord:
    timing: dict[str, Any] | None = None
    if latency is not None:
        timing = {"latency": latency, "method": "stream" if ttft else "request",
                  "in_flight": in_flight, "batch": 1}
        if ttft is not None:
            timing["ttft"] = ttft
    return SampleRecord(f"s{i:03d}", None, "ref", "hyp", "hyp", error=error,
                        audio_seconds=audio, timing=with_rtfx(timing, audio))


def latencies(n: int, seed: int = 1, scale: float = 1.0) -> list[float]:
    rng = np.random.default_rng(seed)
    return list((0.2 + rng.gamma(2.0, 0.05, size=n)) * scale)


def test_bootstrap_quantile_brackets_numpys_quantile_and_is_seeded() -> None:
    values = latencies(200)
    for q in (0.5, 0.9, 0.99):
        interval = bootstrap_quantile(values, q, n_resamples=2000)
        assert interval.estimate == pytest.approx(np.quantile(values, q))
        assert interval.low <= interval.estimate <= interval.high
    assert bootstrap_quantile(values, 0.9, n_resamples=500) == \
        bootstrap_quantile(values, 0.9, n_resamples=500)
    with pytest.raises(ValueError, match="non-negative"):
        bootstrap_quantile([0.1, -1.0], 0.5)


def test_ratio_of_sums_is_rtfx() -> None:
    audio, seconds = [4.0, 8.0, 2.0], [0.5, 1.0, 0.5]
    interval = bootstrap_ratio_of_sums(audio, seconds, n_resamples=1000)
    assert interval.estimate == pytest.approx(14.0 / 2.0)
    assert interval.low <= 7.0 <= interval.high


def test_paired_median_ratio_tells_a_30_percent_slowdown_from_noise() -> None:
    base = np.array(latencies(60, seed=1))
    rng = np.random.default_rng(7)
    same = base * rng.normal(1.0, 0.05, size=60)  # the same server, 5 % jitter
    slower = base * 1.3 * rng.normal(1.0, 0.05, size=60)
    equal = paired_median_ratio(base, same, margin=0.10, n_resamples=4000)
    worse = paired_median_ratio(base, slower, margin=0.10, n_resamples=4000)
    assert not equal.worse and equal.low < 1.0 < equal.high
    assert worse.worse and worse.bound > 1.10 and worse.median == pytest.approx(1.3, abs=0.05)
    assert "slower by > 10 % at 95 %" in worse.describe()
    assert "not slower by > 10 %" in equal.describe()
    with pytest.raises(ValueError, match="positive"):
        paired_median_ratio([0.0, 1.0], [1.0, 1.0])


def test_summary_counts_only_samples_answered_and_timed_in_this_run() -> None:
    records = [record(i, v, ttft=v / 2) for i, v in enumerate(latencies(40))]
    records.append(record(98, 0.01, error="HTTP 400"))  # a fast refusal is no speed
    records.append(record(99, None))  # reused from the store: no timing
    speed = summarize(records, wall_seconds=10.0, complete=False, n_resamples=500)
    assert speed is not None
    assert (speed["timed"], speed["answered"], speed["total"]) == (40, 41, 42)
    p50 = speed["latency"]["p50"]
    assert p50["estimate"] == pytest.approx(np.median(latencies(40)))
    assert p50["low"] <= p50["estimate"] <= p50["high"]
    assert speed["ttft"]["p50"]["estimate"] == pytest.approx(p50["estimate"] / 2)
    assert speed["rtfx"]["estimate"] == pytest.approx(4.0 * 40 / sum(latencies(40)))
    assert speed["throughput"] is None  # not every sample was inferred in this run
    assert speed["worst"][0][1] == max(latencies(40))
    assert summarize([record(1, None)], wall_seconds=1.0, complete=True,
                     n_resamples=10) is None


def test_throughput_is_samples_per_wall_second_with_an_interval() -> None:
    records = [record(i, 0.4, in_flight=4) for i in range(40)]
    speed = summarize(records, wall_seconds=4.0, complete=True, n_resamples=500)
    assert speed is not None and speed["throughput"]["estimate"] == pytest.approx(10.0)
    assert speed["throughput"]["low"] <= 10.0 <= speed["throughput"]["high"]


def test_measured_on_names_hardware_engine_concurrency_and_batch() -> None:
    host = {"cpu": "AMD EPYC", "cpus": 2, "gpu": None, "gpu_count": 0, "load_1m": 3.2}
    identity = {"engine": "openai", "server": {"version": "0.32.0"}}
    facts = measured_on(host, identity, {"concurrency": 8}, [record(1, 0.3)])
    assert facts == {"cpu": "AMD EPYC", "cpus": 2, "gpu": None, "gpu_count": 0,
                     "engine": "openai", "engine_version": "0.32.0", "concurrency": 8,
                     "batch_size": 1}
    gpu_box = {**facts, "gpu": "NVIDIA H100 80GB HBM3", "gpu_count": 1}
    assert differences(gpu_box, facts) == ["gpu None (recorded 'NVIDIA H100 80GB HBM3')",
                                           "gpu_count 0 (recorded 1)"]
    assert engine_version({"engine": "whisper-cpu", "faster_whisper": "1.1.1",
                           "ctranslate2": "4.5.0"}) == "faster-whisper 1.1.1, ctranslate2 4.5.0"
    assert engine_version({"engine": "vllm", "vllm": "0.32.0"}) == "vllm 0.32.0"
    assert engine_version({"engine": "transformers", "transformers": "5.25.0",
                           "torch": "2.13.0+cpu"}) == "transformers 5.25.0, torch 2.13.0+cpu"
    assert engine_version({"engine": "echo", "plugin": {"distribution": "echo-engine",
                                                        "version": "2.1.0"}}) == \
        "echo-engine 2.1.0"
    assert engine_version({"engine": "python", "identity": {"version": "1.1"}}) == "1.1"
    assert engine_version({"engine": "python", "identity": {}}) is None


def test_speed_baseline_round_trip_and_paired_latency(tmp_path: Path) -> None:
    base = [record(i, v) for i, v in enumerate(latencies(30))]
    path = tmp_path / "b.speed.jsonl"
    write_speed_baseline(path, base)
    assert read_speed_baseline(path) == pytest.approx(  # microsecond resolution
        dict(zip(timed(base).ids, latencies(30), strict=True)), abs=1e-6)
    slower = [record(i, v * 1.3) for i, v in enumerate(latencies(30))]
    result, line = paired_latency(read_speed_baseline(path), slower, margin=0.1,
                                  confidence=0.95, n_resamples=1000)
    assert result is not None and result.worse and result.median == pytest.approx(1.3)
    assert line.startswith("latency ×1.300")
    other = [record(i + 100, v) for i, v in enumerate(latencies(30))]
    assert paired_latency(read_speed_baseline(path), other, margin=0.1, confidence=0.95,
                          n_resamples=100) == (None, "no timed sample in common with the "
                                                     "speed baseline")
    path.write_text('{"id": "a", "latency": 0.2}\n{"id": "b"}\n')
    with pytest.raises(ThresholdsError, match=r"b\.speed\.jsonl:2: bad speed baseline line"):
        read_speed_baseline(path)
