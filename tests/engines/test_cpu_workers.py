"""Concurrent CTranslate2 workers sharing one embedded model (AUDIOGATE_CPU_WORKERS): every
request answered once, the same transcripts as one worker, a bad value named.

One worker's transcripts are those of the session's shared decode of the slices (the
plugin's run of the same model with one worker), not decoded again here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from decoded_slices import DecodedSlices

from audiogate.datasets import load_dataset
from audiogate.datasets.audio import load_audio
from audiogate.engines import EngineContext
from audiogate.engines.whisper_cpu import WhisperCpuEngine, cpu_workers, from_spec
from audiogate.errors import RegistryError
from audiogate.paths import cache_home
from audiogate.registry import load as registry
from audiogate.samples import Request


@pytest.mark.slow
def test_two_workers_give_one_workers_transcripts(shared_data: Path,
                                                  decoded_slices: DecodedSlices) -> None:
    samples = load_dataset(registry.dataset("librispeech-test-clean"), shared_data)
    requests = [Request(s, load_audio(s.audio_path), "asr", "en") for s in samples
                if s.audio_path is not None]
    assert len(requests) == 6
    spec = registry.model("whisper-tiny.en")
    one = from_spec(spec, EngineContext(cache_dir=cache_home()))
    two = WhisperCpuEngine(spec.name, one.model_dir, dict(spec.options["settings"]),
                           cache_home(), workers=2)
    try:
        assert (one.workers, two.workers) == (1, 2)
        outputs = list(two.run(iter(requests)))
        identities = two.identity(), one.identity()
    finally:
        one.close()
        two.close()
    first = {r["id"]: r["raw_output"]
             for r in decoded_slices.samples("librispeech-test-clean")}
    decoded = decoded_slices.rows()["librispeech-test-clean"]["result"]["engine"]
    assert decoded == json.loads(json.dumps(identities[1]))  # the same model and settings
    assert sorted(o.sample_id for o in outputs) == sorted(first)  # each once
    assert {o.sample_id: o.text for o in outputs} == first
    assert all(o.error is None and o.text for o in outputs)
    assert identities[0] == identities[1]  # same outputs: stored ones stay reusable


def test_a_bad_worker_count_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIOGATE_CPU_WORKERS", "0")
    with pytest.raises(RegistryError, match="AUDIOGATE_CPU_WORKERS='0'"):
        cpu_workers()
    monkeypatch.setenv("AUDIOGATE_CPU_WORKERS", "3")
    assert cpu_workers() == 3
