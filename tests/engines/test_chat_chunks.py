"""Chat audio parts: the model's per-prompt audio limit and its shortest accepted part.

Unit level (no server): what build_messages sends. tests/vllm_real/test_vllm_chat.py sends the
same shapes to a real vLLM server."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
import soundfile as sf

from audiogate.engines.openai_engine import ChatSettings, audio_chunks, build_messages
from audiogate.errors import EngineError, RegistryError
from audiogate.samples import Request, Sample

RATE = 16000


def request(seconds: float, extra_samples: int = 0) -> Request:
    audio = np.linspace(-0.5, 0.5, round(seconds * RATE) + extra_samples, dtype=np.float32)
    return Request(Sample("clip", "", None), audio, "asr", "en")


def part_lengths(messages: list[dict]) -> list[int]:
    lengths = []
    for part in messages[-1]["content"]:
        data = base64.b64decode(part["input_audio"]["data"])
        lengths.append(len(sf.read(io.BytesIO(data))[0]))
    return lengths


def test_a_short_tail_is_merged_into_the_previous_chunk() -> None:
    chat = ChatSettings({"audio_chunk_seconds": 25, "min_audio_seconds": 0.025})
    assert chat.min_samples == 400
    messages = build_messages(request(50, extra_samples=320), chat)
    assert part_lengths(messages) == [25 * RATE, 25 * RATE + 320]  # no 320-sample part
    messages = build_messages(request(50, extra_samples=400), chat)
    assert part_lengths(messages) == [25 * RATE, 25 * RATE, 400]  # long enough: its own


def test_merging_keeps_every_sample_in_order() -> None:
    audio = np.arange(60 * RATE + 10, dtype=np.float32)
    chunks = audio_chunks(audio, 30, min_samples=400)
    assert [len(c) for c in chunks] == [30 * RATE, 30 * RATE + 10]
    assert np.array_equal(np.concatenate(chunks), audio)


def test_the_default_minimum_covers_what_vllm_refuses() -> None:
    chat = ChatSettings({"audio_chunk_seconds": 25})
    assert chat.min_samples > 320  # real vLLM: "The audio (len=320) is too short"
    assert part_lengths(build_messages(request(25, extra_samples=320), chat)) == [
        25 * RATE + 320]


def test_a_whole_clip_shorter_than_the_minimum_is_refused() -> None:
    chat = ChatSettings({"audio_chunk_seconds": 25})
    with pytest.raises(EngineError, match=r"320 audio samples, shorter than the model's "
                                          r"minimum 400 \(chat.min_audio_seconds\)"):
        build_messages(request(0, extra_samples=320), chat)


def test_more_chunks_than_the_model_takes_are_refused_not_recut() -> None:
    chat = ChatSettings({"audio_chunk_seconds": 30, "max_audios_per_prompt": 4})
    assert len(part_lengths(build_messages(request(120), chat))) == 4  # exactly the limit
    with pytest.raises(EngineError, match=r"130.0 s of audio needs 5 audio parts of <= 30 s, "
                                          r"but the model takes at most 4 per prompt"):
        build_messages(request(130), chat)


def test_the_limit_counts_every_audio_part_of_the_prompt() -> None:
    chat = ChatSettings({"max_audios_per_prompt": 1})
    two = Request(Sample("q", "", None), np.zeros(RATE, dtype=np.float32), "mmau", "en",
                  (("audio", ""), ("text", "and again"), ("audio", "")))
    with pytest.raises(EngineError, match="needs 2 audio parts, but the model takes at most 1"):
        build_messages(two, chat)


def test_settings_are_part_of_the_identity_and_checked() -> None:
    ident = ChatSettings({"max_audios_per_prompt": 4, "min_audio_seconds": 0.05}).identity()
    assert ident["max_audios_per_prompt"] == 4 and ident["min_audio_seconds"] == 0.05
    with pytest.raises(RegistryError, match="at least 1"):
        ChatSettings({"max_audios_per_prompt": 0})
    with pytest.raises(RegistryError, match="unknown setting"):
        ChatSettings({"max_audio": 4})
