"""`audiogate serve` as a real subprocess: same transcripts as the in-process engine."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from serve_support import serve

from audiogate.datasets.audio import load_audio
from audiogate.datasets.audio import to_wav_bytes as wav_bytes
from audiogate.engines import EngineContext, make_engine
from audiogate.registry.load import model
from audiogate.samples import Request, Sample

# 1089-134686-0001 is one where whisper-tiny.en changes words if the WAV round trip is
# not exact (see audio.to_wav_bytes).
CLIPS = ("1089/134686/1089-134686-0001", "1089/134691/1089-134691-0000")


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """`python -m audiogate.cli serve --port 0`; the URL is read from its stdout."""
    yield from serve("--model", "whisper-tiny.en", timeout=120)


@pytest.fixture(scope="module")
def clips(shared_data: Path) -> list[tuple[str, np.ndarray]]:
    root = shared_data / "LibriSpeech" / "test-clean"
    return [(c.rsplit("/", 1)[1], load_audio(root / f"{c}.flac")) for c in CLIPS]


@pytest.fixture(scope="module")
def in_process(clips: list[tuple[str, np.ndarray]]) -> dict[str, str]:
    engine = make_engine(model("whisper-tiny.en"), EngineContext())
    try:
        return {name: engine.transcribe(audio, "en") for name, audio in clips}  # type: ignore[attr-defined]
    finally:
        engine.close()


def test_health_and_models(served: str) -> None:
    assert httpx.get(f"{served}/health").json() == {"status": "ok"}
    assert httpx.get(f"{served}/v1/models").json()["data"][0]["id"] == "whisper-tiny.en"


def test_transcriptions_match_in_process(served: str, clips: list[tuple[str, np.ndarray]],
                                         in_process: dict[str, str]) -> None:
    for name, audio in clips:
        response = httpx.post(
            f"{served}/v1/audio/transcriptions", timeout=120,
            data={"model": "whisper-tiny.en", "language": "en", "response_format": "json"},
            files={"file": ("a.wav", wav_bytes(audio), "audio/wav")},
        )
        assert response.status_code == 200, response.text
        assert response.json()["text"] == in_process[name]


def test_chat_matches_in_process_and_joins_parts(served: str,
                                                 clips: list[tuple[str, np.ndarray]],
                                                 in_process: dict[str, str]) -> None:
    name, audio = clips[0]
    half = len(audio) // 2
    for pieces in ([audio], [audio[:half], audio[half:]]):  # one part, or the clip in two
        parts = [{"type": "input_audio",
                  "input_audio": {"data": base64.b64encode(wav_bytes(p)).decode(),
                                  "format": "wav"}} for p in pieces]
        body = {"model": "whisper-tiny.en", "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Transcribe."}, *parts]}]}
        answer = httpx.post(f"{served}/v1/chat/completions", json=body, timeout=120).json()
        assert answer["choices"][0]["message"] == {"role": "assistant",
                                                   "content": in_process[name]}


def test_openai_engine_against_served_model(served: str,
                                            clips: list[tuple[str, np.ndarray]],
                                            in_process: dict[str, str]) -> None:
    """The whisper-tiny.en-served entry, pointed at this server: identical outputs."""
    engine = make_engine(model("whisper-tiny.en-served"),
                         EngineContext(engine_url=served, concurrency=2, timeout=120))
    requests = [Request(Sample(name, "", None), audio, "asr", "en") for name, audio in clips]
    try:
        outputs = {o.sample_id: o for o in engine.run(requests)}
    finally:
        engine.close()
    assert {k: (o.text, o.error) for k, o in outputs.items()} == \
        {k: (v, None) for k, v in in_process.items()}


def test_errors_are_openai_shaped(served: str) -> None:
    r = httpx.post(f"{served}/v1/audio/transcriptions", files={"file": ("a.wav", b"junk")},
                   data={"model": "whisper-tiny.en"})
    assert r.status_code == 400 and "cannot decode audio" in r.json()["error"]["message"]
    r = httpx.post(f"{served}/v1/chat/completions", json={"model": "other", "messages": []})
    assert r.status_code == 404 and "does not exist" in r.json()["error"]["message"]
    r = httpx.post(f"{served}/v1/chat/completions",
                   json={"model": "whisper-tiny.en",
                         "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400 and "no input_audio" in r.json()["error"]["message"]
