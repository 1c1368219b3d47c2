"""Scoring at scale gives the same records: the fast JSON form of a record, and (below)
the same pair scored in parallel."""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from pathlib import Path

import pytest

from audiogate.datasets import load_dataset
from audiogate.registry import load as registry
from audiogate.registry.load import DatasetSpec
from audiogate.results.report import write_samples
from audiogate.scoring import parallel
from audiogate.scoring.pair import Outcome, SampleRecord, score_asr


@pytest.fixture(scope="module")
def english() -> DatasetSpec:
    return registry.dataset("librispeech-test-other")


@pytest.fixture(scope="module")
def outcomes(shared_data: Path, english: DatasetSpec) -> list[Outcome]:
    """The slice's references with about 10 % of the words edited (seeded), an errored
    sample, an empty answer, and a sample with meta and windows."""
    samples = load_dataset(english, shared_data)
    words = sorted({w for s in samples for w in s.reference.split()})
    rng = random.Random(31)
    out = []
    for i, s in enumerate(samples):
        hyp = []
        for word in s.reference.split():
            roll = rng.random()
            if roll < 0.05:
                hyp.append(rng.choice(words))
            elif roll < 0.08:
                continue
            else:
                hyp.append(word.lower() if rng.random() < 0.5 else word)
        text = " ".join(hyp) + rng.choice([".", "?", ""])
        if i == 3:
            out.append(Outcome(s.id, s.reference, str(s.audio_path), None, None,
                               "server timed out", audio_seconds=4.5))
        elif i == 5:
            out.append(Outcome(s.id, s.reference, None, "", "", None))
        else:
            out.append(Outcome(s.id, s.reference, str(s.audio_path), text, text, None,
                               seconds=0.25, audio_seconds=3.0, meta=dict(s.meta),
                               windows=[[0.0, 3.0]] if i == 7 else None))
    return out


def _lines(records: list[SampleRecord]) -> list[str]:
    return [json.dumps(r.to_json(), ensure_ascii=False) for r in records]


def test_a_record_s_json_is_the_dataclass_s_own(english: DatasetSpec,
                                                 outcomes: list[Outcome]) -> None:
    _, records = score_asr(english, outcomes)
    records[0].flags.append("looping")
    assert any(r.protocols for r in records) and any(r.error for r in records)
    assert _lines(records) == [json.dumps(asdict(r), ensure_ascii=False) for r in records]


def test_parallel_scoring_writes_the_serial_per_sample_file(
        english: DatasetSpec, outcomes: list[Outcome], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Scored by a pool of two processes in chunks, a pair gives byte for byte the serial
    per-sample file and the same corpus numbers; the pool is started once and serves the
    next pair too."""
    many = [Outcome(f"{o.sample_id}-{copy}", o.reference, o.audio_path, o.raw, o.answer,
                    o.error, o.seconds, o.audio_seconds, meta=dict(o.meta), windows=o.windows)
            for copy in range(3) for o in outcomes]
    monkeypatch.setattr(parallel, "PARALLEL_MIN", 10)
    serial_score, serial = score_asr(english, many)
    parallel_score, records = score_asr(english, many, workers=2)
    pool = parallel._pool
    assert pool is not None and len(parallel.chunks(many, 2)) == 8
    write_samples(serial, tmp_path / "serial.jsonl")
    write_samples(records, tmp_path / "parallel.jsonl")
    assert (tmp_path / "parallel.jsonl").read_bytes() == (tmp_path / "serial.jsonl").read_bytes()
    assert parallel_score == serial_score
    again, _ = score_asr(english, many[:40], workers=2)
    assert parallel._pool is pool  # one pool for the run, not one per pair
    assert again == score_asr(english, many[:40])[0]
    parallel.shutdown()
    assert parallel._pool is None
