"""Speech over the OpenAI wire, for real: `audiogate serve` as a subprocess on 127.0.0.1
serving the embedded eSpeak NG on /v1/audio/speech, and whisper-tiny.en answering chat
requests in speech (--speak-with), driven by the openai engine with its own retries,
timeouts and concurrency. What arrives is what the in-process engines make."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import soundfile as sf
from serve_support import serve

from audiogate.datasets.audio import load_audio
from audiogate.engines import EngineContext, make_engine
from audiogate.engines.speech_audio import PCM_RATE, decode
from audiogate.registry.load import model
from audiogate.samples import Request, Sample

TEXT = "Out in the woods stood a nice little fir tree."


@pytest.fixture(scope="module")
def tts_server() -> Iterator[str]:
    yield from serve("--model", "espeak-en")


@pytest.fixture(scope="module")
def speaking_chat() -> Iterator[str]:
    yield from serve("--model", "whisper-tiny.en", "--speak-with", "espeak-en")


@pytest.fixture(scope="module")
def speaker() -> object:
    return make_engine(model("espeak-en"), EngineContext())


def _request(sample_id: str, text: str, voice: str | None = None) -> Request:
    parts = (("text", text),) + ((("voice", voice),) if voice else ())
    return Request(Sample(sample_id, text, None), None, "tts", "en", parts)


def test_speech_endpoint_answers_the_in_process_clip(tts_server: str, speaker: object) -> None:
    listed = httpx.get(f"{tts_server}/v1/models").json()["data"]
    assert [m["id"] for m in listed] == ["espeak-en"]
    expected = speaker.speak(TEXT)  # type: ignore[attr-defined]
    wav = httpx.post(f"{tts_server}/v1/audio/speech", json={
        "model": "espeak-en", "input": TEXT, "voice": "en-us", "response_format": "wav"})
    assert wav.status_code == 200 and wav.headers["content-type"] == "audio/wav"
    assert wav.content == expected.data
    samples, rate = decode(expected.data)
    for fmt, ctype, want_rate in (("flac", "audio/flac", rate), ("mp3", "audio/mpeg", rate)):
        got = httpx.post(f"{tts_server}/v1/audio/speech", json={
            "model": "espeak-en", "input": TEXT, "response_format": fmt})
        assert got.headers["content-type"] == ctype
        audio, got_rate = sf.read(io.BytesIO(got.content))
        assert got_rate == want_rate and abs(len(audio) - len(samples)) < 2 * 1152
    pcm = httpx.post(f"{tts_server}/v1/audio/speech", json={
        "model": "espeak-en", "input": TEXT, "response_format": "pcm"})
    assert pcm.headers["content-type"] == "audio/pcm"
    assert abs(len(pcm.content) / 2 / PCM_RATE - len(samples) / rate) < 0.01  # 24 kHz raw


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"model": "espeak-en", "input": "hi", "voice": "alloy"}, 400,
     "no eSpeak NG voice named 'alloy'"),
    ({"model": "espeak-en", "input": ""}, 400, "`input` must be a non-empty string"),
    ({"model": "espeak-en", "input": "hi", "speed": 1.5}, 400, "speed 1.5 is not supported"),
    ({"model": "espeak-en", "input": "hi", "response_format": "opus"}, 400,
     "unsupported response_format 'opus'"),
    ({"model": "tts-1", "input": "hi"}, 404, "The model `tts-1` does not exist"),
])
def test_speech_errors_are_openai_shaped(tts_server: str, body: dict[str, object],
                                         status: int, message: str) -> None:
    got = httpx.post(f"{tts_server}/v1/audio/speech", json=body)
    assert got.status_code == status
    assert message in got.json()["error"]["message"]


def test_a_text_to_speech_server_does_not_transcribe(tts_server: str) -> None:
    got = httpx.post(f"{tts_server}/v1/audio/transcriptions",
                     files={"file": ("a.wav", b"RIFF", "audio/wav")}, data={"model": "x"})
    assert got.status_code in (400, 404)


def test_openai_engine_speaks_through_the_server(tts_server: str, speaker: object) -> None:
    engine = make_engine(model("espeak-en-served"), EngineContext(engine_url=tts_server))
    try:
        assert engine.needs_audio is False
        ident = engine.identity()
        assert ident["endpoint"] == "speech" and ident["speech"] == {"voice": "en-us",
                                                                     "format": "wav"}
        assert tts_server not in str(ident)
        got = {o.sample_id: o for o in engine.run([_request("fir", TEXT),
                                                   _request("uk", TEXT, voice="en"),
                                                   _request("bad", TEXT, voice="alloy")])}
    finally:
        engine.close()
    assert got["fir"].error is None and got["fir"].audio is not None
    # timed as every served request is, from sending it to the last byte of the clip
    assert got["fir"].timing is not None and got["fir"].timing.method == "request"
    assert 0 < got["fir"].timing.latency <= got["fir"].seconds
    assert got["fir"].audio.sha256 == speaker.speak(TEXT).sha256  # type: ignore[attr-defined]
    assert got["uk"].audio is not None and got["uk"].audio.sha256 != got["fir"].audio.sha256
    assert got["bad"].audio is None
    assert "HTTP 400" in str(got["bad"].error) and "no eSpeak NG voice named 'alloy'" in \
        str(got["bad"].error)


@pytest.mark.slow
def test_a_chat_answer_in_speech_keeps_both_answers(speaking_chat: str, speaker: object,
                                                    shared_data: Path) -> None:
    path = shared_data / "LibriSpeech" / "test-clean" / "1089" / "134691" / \
        "1089-134691-0000.flac"
    audio = load_audio(path)
    whisper = make_engine(model("whisper-tiny.en"), EngineContext())
    try:
        written = whisper.transcribe(audio, "en")  # type: ignore[attr-defined]
    finally:
        whisper.close()
    engine = make_engine(model("whisper-tiny.en-spoken"), EngineContext(engine_url=speaking_chat))
    try:
        [out] = list(engine.run([Request(Sample("c", "", path), audio, "asr", "en", None)]))
    finally:
        engine.close()
    assert out.error is None and out.text == written
    assert out.audio is not None and out.audio.transcript == written
    assert out.audio.sha256 == speaker.speak(written).sha256  # type: ignore[attr-defined]
    # a server that cannot speak says so, and a text-only request is answered in text
    body = {"model": "whisper-tiny.en", "messages": [{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {
            "data": base64.b64encode(path.read_bytes()).decode(), "format": "flac"}}]}]}
    plain = httpx.post(f"{speaking_chat}/v1/chat/completions", json=body, timeout=120).json()
    assert "audio" not in plain["choices"][0]["message"]
    bad = httpx.post(f"{speaking_chat}/v1/chat/completions", timeout=120, json={
        **body, "modalities": ["text", "audio"], "audio": {"voice": "en-us", "format": "ogg"}})
    assert bad.status_code == 400 and "unsupported audio.format 'ogg'" in \
        bad.json()["error"]["message"]


def test_answers_in_speech_are_never_streamed() -> None:
    """A stream's text chunks carry no audio: an entry answering in speech is sent whole
    (and timed by its request), and asking it to stream is a registry error."""
    from dataclasses import replace

    from audiogate.engines.openai_engine import OpenAIEngine
    from audiogate.errors import RegistryError

    spec = model("whisper-tiny.en-spoken")
    assert OpenAIEngine(spec, EngineContext(), "http://127.0.0.1:1").stream is False
    forced = replace(spec, options={**spec.options, "stream": True})
    with pytest.raises(RegistryError, match="stream applies to written answers"):
        OpenAIEngine(forced, EngineContext(), "http://127.0.0.1:1")
