"""sim-ge2e on real speech: the same LibriSpeech speaker scores above different speakers,
and eSpeak NG's voice is far from a human speaker's."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from audiogate.datasets.audio import TARGET_RATE, load_audio
from audiogate.engines.espeak_tts import synthesize
from audiogate.scoring.speaker_similarity import (
    METRIC,
    SpeakerSimilarityError,
    encoder,
    speaker_similarity,
)

# two clips of each of three speakers, from two chapters where the slice has them
CLIPS = {
    "1089": ["test-clean/1089/134686/1089-134686-0000", "test-clean/1089/134691/1089-134691-0001"],
    "1272": ["dev-clean/1272/128104/1272-128104-0000", "dev-clean/1272/135031/1272-135031-0000"],
    "2033": ["test-other/2033/164914/2033-164914-0000", "test-other/2033/164914/2033-164914-0001"],
}


@pytest.fixture(scope="module")
def embeddings(shared_data: Path) -> dict[str, list[np.ndarray]]:
    enc = encoder()
    return {speaker: [enc.embed(load_audio(shared_data / "LibriSpeech" / f"{clip}.flac"),
                                TARGET_RATE, clip) for clip in clips]
            for speaker, clips in CLIPS.items()}


@pytest.mark.slow
def test_same_speaker_scores_above_different_speakers(
        embeddings: dict[str, list[np.ndarray]]) -> None:
    same = [float(a @ b) for a, b in embeddings.values()]
    different = [float(x[0] @ y[0]) for x, y in itertools.combinations(embeddings.values(), 2)]
    # measured: same 0.86 / 0.81-0.96 across the slice, different 0.45-0.70
    assert min(same) > max(different) + 0.05, (same, different)
    assert min(same) > 0.75 and max(different) < 0.75


@pytest.mark.slow
def test_espeak_is_not_a_human_speaker(shared_data: Path,
                                       embeddings: dict[str, list[np.ndarray]]) -> None:
    speech, rate = synthesize("he hoped there would be stew for dinner turnips and carrots "
                              "and bruised potatoes")
    prompt = load_audio(shared_data / "LibriSpeech" / f"{CLIPS['1089'][0]}.flac")
    similarity = speaker_similarity(prompt, TARGET_RATE, speech, rate)
    same = float(embeddings["1089"][0] @ embeddings["1089"][1])
    assert -1.0 <= similarity < 0.7 < same, (similarity, same)  # measured 0.54 vs 0.86
    # the function and the embeddings agree; the order of the two clips does not matter
    assert speaker_similarity(speech, rate, prompt, TARGET_RATE) == pytest.approx(similarity)


def test_silence_and_bad_input_are_refused() -> None:
    speech, rate = synthesize("A voice to compare with.")
    with pytest.raises(SpeakerSimilarityError, match=r"produced audio: 0\.00 s of speech"):
        speaker_similarity(speech, rate, np.zeros(32000), 16000)
    with pytest.raises(SpeakerSimilarityError, match="prompt audio: expected mono"):
        speaker_similarity(np.zeros(0), 16000, np.zeros(100), 16000)
    identity = encoder().identity()
    assert identity["metric"] == METRIC == "sim-ge2e"
    assert len(identity["weights"]) == 64
