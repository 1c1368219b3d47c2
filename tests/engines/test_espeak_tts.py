"""The embedded text-to-speech engine: real speech that the embedded Whisper understands,
the same samples every time, and bad requests refused with their reason."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soxr

from audiogate.datasets import load_dataset
from audiogate.datasets.audio import TARGET_RATE
from audiogate.engines import EngineContext
from audiogate.engines.espeak_tts import EspeakError, identity, synthesize
from audiogate.engines.whisper_cpu import from_spec
from audiogate.paths import cache_home
from audiogate.registry import load as registry
from audiogate.scoring.pair import Outcome, score_asr

TEXT = "He hoped there would be stew for dinner, turnips and carrots."


def _digest(samples: np.ndarray) -> str:
    return hashlib.sha256(samples.tobytes()).hexdigest()


def test_same_text_same_samples() -> None:
    first, rate = synthesize(TEXT)
    synthesize("Something else in between, to move any state the library keeps.")
    second, rate2 = synthesize(TEXT)
    assert (rate, rate2) == (22050, 22050)
    assert first.dtype == np.float32 and first.ndim == 1
    assert _digest(first) == _digest(second)
    seconds = len(first) / rate
    assert 2.0 < seconds < 8.0  # ten words at 175 words per minute, with the end pause
    assert 0.1 < float(np.abs(first).max()) <= 1.0  # speech, not silence or clipping


def test_settings_change_the_samples() -> None:
    normal, rate = synthesize(TEXT)
    fast, _ = synthesize(TEXT, rate=300)
    british, _ = synthesize(TEXT, voice="en")
    assert len(fast) < 0.75 * len(normal)
    assert _digest(british) != _digest(normal)
    chinese, _ = synthesize("今天天气很好。", voice="cmn")
    assert len(chinese) / rate > 0.5


def test_identity_names_what_decides_the_samples() -> None:
    found = identity("en-us", 175).to_json()
    assert found["engine"] == "espeak-ng"
    assert found["library"].startswith("1.")
    assert found["wheel"] == "0.2.4"
    assert len(found["data"]) == 64
    assert (found["voice"], found["rate"], found["sample_rate"]) == ("en-us", 175, 22050)
    assert identity("en", 200).to_json()["data"] == found["data"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"text": "hello", "voice": "no-such-voice"}, "no eSpeak NG voice named 'no-such-voice'"),
    ({"text": "   "}, "nothing to speak"),
    ({"text": "a\0b"}, "NUL"),
    ({"text": "hello", "rate": 20}, "rate 20 words per minute is outside"),
])
def test_bad_requests_are_refused_with_the_reason(kwargs: dict[str, object],
                                                  message: str) -> None:
    with pytest.raises(EspeakError, match=message):
        synthesize(**kwargs)  # type: ignore[arg-type]


@pytest.mark.slow
def test_the_embedded_whisper_understands_it(shared_data: Path) -> None:
    """The six shipped test-clean transcripts, spoken and transcribed by whisper-tiny.en.

    LibriSpeech transcripts are upper case, which eSpeak NG spells out letter by letter
    for some words ("IT" as "I T"): the text is spoken lower-cased. Measured: corpus WER
    23.6 % under UltraEval-Audio's scoring (tiny.en on a formant voice), 1 of 6 exact.
    """
    spec = registry.dataset("librispeech-test-clean")
    samples = load_dataset(spec, shared_data)
    assert len(samples) == 6
    engine = from_spec(registry.model("whisper-tiny.en"), EngineContext(cache_dir=cache_home()))
    outcomes = []
    try:
        for s in samples:
            audio, rate = synthesize(s.reference.lower())
            heard = engine.transcribe(soxr.resample(audio, rate, TARGET_RATE), "en")
            outcomes.append(Outcome(s.id, s.reference, None, heard, heard, None))
    finally:
        engine.close()
    score, records = score_asr(spec, outcomes)
    assert score.value is not None and score.scored == 6
    assert score.value < 30.0, [(r.reference, r.answer) for r in records]
    assert sum(r.score == 0.0 for r in records) >= 1
    assert all(r.score is not None and r.score < 100.0 for r in records)
