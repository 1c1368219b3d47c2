"""LibriSpeech's own transcripts as text-to-speech input (the CPU default's data): each
utterance's voice prompt is the next one of its speaker, the model is given the text as the
entry says (lower-cased), and a broken line stays an error sample."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from audiogate.datasets import load_dataset
from audiogate.datasets._tts import speak_text, tts_prompt
from audiogate.errors import RegistryError
from audiogate.registry import load as registry
from audiogate.samples import Sample


def test_the_shipped_slice_as_tts(shared_data: Path) -> None:
    spec = registry.dataset("tts-ls-test-clean")
    samples = {s.id: s for s in load_dataset(spec, shared_data)}
    assert len(samples) == 6 and all(s.error is None for s in samples.values())
    first = samples["1089-134686-0000"]
    assert first.reference.startswith("HE HOPED THERE WOULD BE STEW")
    assert first.audio_path is not None and first.audio_path.name == "1089-134686-0001.flac"
    assert first.meta["prompt_text"] == "STUFF IT INTO YOU HIS BELLY COUNSELLED HIM"
    assert first.meta["ground_truth_audio"].endswith("1089-134686-0000.flac")
    # the speaker's last utterance takes the first as its prompt; a lone speaker has none
    assert samples["1089-134691-0001"].meta["prompt_id"] == "1089-134686-0000"
    assert samples["1995-1837-0001"].audio_path is None
    assert tts_prompt(first, spec) == (("text", first.reference.lower()),)


def test_text_case_and_a_samples_voice() -> None:
    spec = registry.dataset("tts-ls-test-clean")
    plain = dataclasses.replace(spec, options={**spec.options, "text_case": "as-written"})
    sample = Sample("x", "He Said HI", None, meta={"voice": "en-gb"})
    assert speak_text(sample, plain) == "He Said HI"
    assert tts_prompt(sample, spec) == (("text", "he said hi"), ("voice", "en-gb"))
    wrong = dataclasses.replace(spec, options={**spec.options, "text_case": "upper"})
    with pytest.raises(RegistryError, match="text_case must be one of as-written, lower"):
        speak_text(sample, wrong)




def test_a_broken_line_stays_an_error(tmp_path: Path, shared_data: Path) -> None:
    root = tmp_path / "LibriSpeech" / "test-clean"
    shutil.copytree(shared_data / "LibriSpeech" / "test-clean", root)
    (root / "1089" / "134686" / "1089-134686-0002.flac").unlink()
    spec = registry.dataset("tts-ls-test-clean")
    samples = {s.id: s for s in load_dataset(spec, tmp_path)}
    broken = samples["1089-134686-0002"]
    assert broken.error is not None and "transcript line has no audio" in broken.error
    assert "missing_audio" not in broken.meta  # not cleared for an engine without audio
    assert samples["1089-134686-0001"].meta["prompt_id"] == "1089-134691-0000"
