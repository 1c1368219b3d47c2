"""Engine kind tts-cpu: the embedded eSpeak NG as a registered text-to-speech model. Its
request is the dataset's text (the store keys on it), its answer a WAV clip; the same text
gives the same clip, a sample's own voice is honoured, and a text it cannot say is that
sample's error."""

from __future__ import annotations

from pathlib import Path

from audiogate.datasets import load_dataset
from audiogate.datasets._tts import tts_prompt
from audiogate.engines import EngineContext, make_engine
from audiogate.engines.espeak_tts import synthesize
from audiogate.engines.speech_audio import decode, wav_bytes
from audiogate.registry import load as registry
from audiogate.samples import Request, Sample


def _requests(samples: list[Sample]) -> list[Request]:
    spec = registry.dataset("tts-ls-test-clean")
    return [Request(s, None, "tts", "en", tts_prompt(s, spec)) for s in samples]


def test_the_registered_engine_speaks_the_datasets_text(shared_data: Path) -> None:
    spec = registry.dataset("tts-ls-test-clean")
    samples = load_dataset(spec, shared_data)[:2]
    engine = make_engine(registry.model("espeak-en"), EngineContext())
    assert engine.needs_audio is False  # eSpeak NG never hears a voice prompt
    ident = engine.identity()
    assert (ident["engine"], ident["model"], ident["synthesizer"]) == \
        ("tts-cpu", "espeak-en", "espeak-ng")
    assert (ident["voice"], ident["rate"], ident["sample_rate"]) == ("en-us", 175, 22050)
    outputs = {o.sample_id: o for o in engine.run(_requests(samples))}
    for sample in samples:
        out = outputs[sample.id]
        assert out.error is None and out.text is None and out.audio is not None
        # the dataset says: lower-case LibriSpeech's upper-case transcripts
        expected = wav_bytes(*synthesize(sample.reference.lower()))
        assert out.audio.data == expected and out.audio.format == "wav"
        assert out.audio.seconds == len(decode(expected)[0]) / 22050
    again = {o.sample_id: o for o in engine.run(_requests(samples))}
    assert [again[s.id].audio.sha256 for s in samples] == \
        [outputs[s.id].audio.sha256 for s in samples]  # type: ignore[union-attr]


def test_a_samples_voice_and_a_bad_text() -> None:
    engine = make_engine(registry.model("espeak-en"), EngineContext())
    british = Sample("uk", "Good morning.", None, meta={"voice": "en"})
    plain = Sample("us", "Good morning.", None)
    silent = Sample("empty", "   ", None)
    nobody = Sample("nobody", "Hello.", None, meta={"voice": "no-such-voice"})
    got = {o.sample_id: o for o in engine.run(_requests([british, plain, silent, nobody]))}
    assert got["uk"].audio is not None and got["us"].audio is not None
    assert got["uk"].audio.sha256 != got["us"].audio.sha256
    assert got["empty"].audio is None and "nothing to speak" in str(got["empty"].error)
    assert "no eSpeak NG voice named 'no-such-voice'" in str(got["nobody"].error)
