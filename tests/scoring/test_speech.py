"""What is measured on produced speech before a pair is scored, on real clips: the judge
(the embedded Whisper) transcribes each one and its transcript becomes the scored answer;
a chat answer's written text is kept beside it with the WER between the two; speaker
similarity to the voice prompt and DNSMOS are measured; a clip that is missing or not audio
is the sample's error, naming the judge; measurements are kept in the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiogate.datasets.audio import load_audio
from audiogate.engines import EngineContext, make_engine
from audiogate.registry import load as registry
from audiogate.results.audio_store import AudioStore, MeasureCache
from audiogate.results.store import Store
from audiogate.samples import Sample
from audiogate.scoring.judge import Judge
from audiogate.scoring.pair import Outcome
from audiogate.scoring.speech import SpeechStep

pytestmark = pytest.mark.slow

TEXT = "He could wait no longer."


def _outcome(sample_id: str, clip: str | None, written: str | None = None) -> Outcome:
    speech = None if clip is None else {"audio": {"sha256": Path(clip).stem, "path": clip,
                                                  "format": "wav"}}
    return Outcome(sample_id, TEXT.upper(), None, written, written, None, speech=speech)


def test_clips_are_judged_and_measured(tmp_path: Path, shared_data: Path) -> None:
    speaker = make_engine(registry.model("espeak-en"), EngineContext())
    kept = AudioStore(tmp_path / "audio").keep(speaker.speak(TEXT))  # type: ignore[attr-defined]
    prompt = shared_data / "LibriSpeech" / "test-clean" / "1089" / "134691" / \
        "1089-134691-0001.flac"
    garbage = tmp_path / "audio" / f"{'0' * 64}.wav"
    garbage.write_bytes(b"RIFF not really")
    samples = {"tts": Sample("tts", TEXT.upper(), prompt),
               "chat": Sample("chat", TEXT.upper(), None),
               "silent": Sample("silent", TEXT.upper(), None),
               "broken": Sample("broken", TEXT.upper(), None),
               "lost": Sample("lost", TEXT.upper(), tmp_path / "no-such-prompt.flac")}
    outcomes = [_outcome("tts", kept.path), _outcome("chat", kept.path, "He could wait."),
                _outcome("silent", None), _outcome("broken", str(garbage)),
                _outcome("lost", kept.path)]
    judge_spec = registry.model("whisper-tiny.en")
    judge = Judge(judge_spec, make_engine(judge_spec, EngineContext()))
    dataset = registry.dataset("tts-ls-test-clean")
    with Store.open(tmp_path / "store.sqlite") as store:
        step = SpeechStep(dataset, judge, ["sim-ge2e", "dnsmos", "text-speech-wer"], {},
                          MeasureCache(store, dataset.name))
        step.finish(outcomes, samples)
        by_id = {o.sample_id: o for o in outcomes}
        tts, chat = by_id["tts"], by_id["chat"]
        heard = judge.engine.transcribe(  # type: ignore[attr-defined]
            load_audio(Path(str(kept.path))), "en")
        assert tts.error is None and tts.raw == heard and tts.answer == heard.strip()
        assert tts.speech is not None and tts.speech["judge"] == "whisper-tiny.en"
        assert tts.speech["transcript"] == heard
        metrics = tts.speech["metrics"]
        assert 0.0 < metrics["sim-ge2e"] < 1.0 and tts.speech["prompt_audio"] == str(prompt)
        assert metrics["dnsmos"] == tts.speech["dnsmos"]["P808_MOS"]
        assert 1.0 < metrics["dnsmos"] < 5.0 and set(tts.speech["dnsmos"]) >= {"OVRL", "SIG"}
        assert "text-speech-wer" not in metrics  # text-to-speech has no written answer
        assert "text-speech-wer" in tts.speech["metric_errors"]
        # a chat answer: the written one kept, what it said scored, the two compared
        assert chat.speech is not None and chat.speech["written"] == "He could wait."
        assert chat.raw == heard and "sim-ge2e" not in chat.speech["metrics"]
        counts = chat.speech["text_speech"]
        assert counts["normalized_written"] == "he could wait"
        assert counts["errors"] >= 1  # "he could wait" said as all of TEXT
        assert chat.speech["metrics"]["text-speech-wer"] == \
            pytest.approx(100 * counts["errors"] / counts["ref_tokens"])
        assert by_id["silent"].error == "the model produced no speech for this sample"
        broken = by_id["broken"].error or ""
        assert broken.startswith("the judge whisper-tiny.en could not transcribe")
        assert str(garbage) in broken
        lost = by_id["lost"]
        assert lost.error is None and "no-such-prompt.flac" in lost.speech["metric_errors"][  # type: ignore[index]
            "sim-ge2e"]
        # every measurement is in the store: a rerun of the same clips listens no more
        assert store.count(model="judge") == 1
        assert store.count(model="dnsmos") == 1 and store.count(model="sim-ge2e") == 1
        again = [_outcome("tts", kept.path)]
        step.finish(again, samples)
        assert again[0].speech == tts.speech
    judge.engine.close()
