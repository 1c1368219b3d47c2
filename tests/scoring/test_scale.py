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
