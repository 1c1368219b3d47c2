"""Per-sample timings as the engines fill them: served (streamed or not, against
`audiogate serve`'s own server with its added delays), in-process, windowed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from audiogate.datasets import load_dataset
from audiogate.datasets.audio import load_sample_audio
from audiogate.engines import EngineContext, make_engine
from audiogate.engines.embedded_server import make_server, words
from audiogate.engines.openai_engine import OpenAIEngine, _Clock, read_stream
from audiogate.engines.replay_server import ReplayTranscriber, UnknownAudio
from audiogate.engines.windowed import joined_timing
from audiogate.errors import EngineError
from audiogate.registry import load as registry
from audiogate.registry.load import ModelSpec, model
from audiogate.results.store import audio_hash
from audiogate.samples import Request, Sample, Timing

TEXT = "the  quick brown fox "  # double space and a trailing one: joined back exactly


class Fixed:
    def transcribe(self, audio: Any, language: str) -> str:
        return TEXT


@pytest.fixture
def server() -> Iterator[str]:
    httpd = make_server(Fixed(), "m", "en", delay=0.2, token_delay=0.05)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def chat_entry(**options: Any) -> ModelSpec:
    spec = model("tiny-qwen2-audio-vllm-served")
    return replace(spec, options={**spec.options, "served_model_name": "m", **options})


def send(spec: ModelSpec, url: str, n: int = 3) -> list[Any]:
    engine = OpenAIEngine(spec, EngineContext(concurrency=2), url)
    audio = np.zeros(16000, dtype=np.float32)
    try:
        return sorted(engine.run([Request(Sample(f"s{i}", "", None), audio, "asr", "en")
                                  for i in range(n)]), key=lambda o: o.sample_id)
    finally:
        engine.close()


def test_words_join_back_to_the_text() -> None:
    assert words(TEXT) == ["the", "  quick", " brown", " fox", " "]
    assert "".join(words(TEXT)) == TEXT and words("") == []


def test_a_streamed_chat_answer_is_the_whole_answer_with_its_first_token_time(
        server: str) -> None:
    streamed = send(chat_entry(), server)  # chat streams by default
    whole = send(chat_entry(stream=False), server)
    for s, w in zip(streamed, whole, strict=True):
        assert s.text == w.text == TEXT
        assert s.timing.method == "stream" and w.timing.method == "request"
        # the server waits before the first word and between words: five chunks with text,
        # the first token's time before the last byte (what was measured, not how fast)
        assert s.timing.tokens == len(words(TEXT))
        assert 0 < s.timing.ttft < s.timing.latency and s.timing.itl > 0
        assert s.timing.ttft + s.timing.itl * (s.timing.tokens - 1) <= s.timing.latency
        assert w.timing.ttft is None and w.timing.itl is None and w.timing.latency > 0
        assert 1 <= s.timing.in_flight <= 2 and s.timing.limit == 2
        assert s.timing.batch == 1 and s.timing.windows == 1


def test_a_streamed_empty_answer_is_streamed_without_a_first_token() -> None:
    """A model may answer nothing (a window of silence): the stream carries no token, so
    there is no time to first token, and the sample is still known to have streamed."""

    class Silent:
        def transcribe(self, audio: Any, language: str) -> str:
            return ""

    httpd = make_server(Silent(), "m", "en", delay=0.05)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        [out] = send(chat_entry(), f"http://127.0.0.1:{httpd.server_address[1]}", 1)
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert out.text == "" and out.timing.method == "stream"
    assert out.timing.ttft is None and out.timing.latency >= 0.05


def test_stream_setting_must_be_a_boolean(server: str) -> None:
    from audiogate.errors import RegistryError

    with pytest.raises(RegistryError, match="stream must be true or false, not 'yes'"):
        OpenAIEngine(chat_entry(stream="yes"), EngineContext(), server)


def test_a_server_that_ignores_stream_still_gives_the_text_and_the_request_time(
        server: str) -> None:
    """The transcription endpoint answers one JSON document even when asked to stream."""
    spec = model("whisper-tiny.en-served")
    spec = replace(spec, options={**spec.options, "served_model_name": "m", "stream": True})
    [out] = send(spec, server, 1)
    assert out.text == TEXT and out.timing.method == "request" and out.timing.ttft is None


def test_a_stream_ending_in_an_error_is_the_samples_error() -> None:
    lines = ['data: {"choices": [{"delta": {"content": "a"}}]}', "",
             'data: {"error": {"message": "out of memory"}}']
    with pytest.raises(EngineError, match="streamed answer ended in an error: out of memory"):
        read_stream(lines, _Clock(0.0))
    clock = _Clock(0.0)
    text = read_stream(['data: {"choices": [{"delta": {"reasoning_content": "hm"}}]}',
                        'data: {"choices": [{"delta": {"content": "yes"}}]}',
                        "data: [DONE]", 'data: {"choices": [{"delta": {"content": "x"}}]}'],
                       clock)
    assert text == "yes" and len(clock.tokens) == 2  # thinking counts for the first token


def test_windows_sum_their_latencies_and_keep_the_first_token_time() -> None:
    a = Timing(1.0, "stream", ttft=0.2, itl=0.1, tokens=11, in_flight=2, limit=4)
    b = Timing(3.0, "stream", ttft=0.5, itl=0.2, tokens=6, in_flight=3, limit=4)
    joined = joined_timing([a, b])
    assert joined == Timing(4.0, "stream", ttft=0.2, itl=pytest.approx((0.1 * 10 + 0.2 * 5)
                                                                     / 15),
                            tokens=17, in_flight=3, limit=4, batch=1, windows=2)
    assert joined_timing([a, None]) is None
    # a first window that answered nothing: the recording's first token comes in the next
    silent = Timing(0.5, "stream", in_flight=1, limit=4)
    assert joined_timing([silent, b]).ttft == pytest.approx(0.5 + 0.5)  # type: ignore[union-attr]
    assert joined_timing([silent, silent]).ttft is None  # type: ignore[union-attr]


def test_replayed_predictions_are_served_by_their_audio(shared_data: Path, tmp_path: Path
                                                        ) -> None:
    spec = registry.dataset("librispeech-test-clean")
    samples = load_dataset(spec, shared_data)
    predictions = tmp_path / "p.jsonl"
    predictions.write_text("".join(f'{{"id": "{s.id}", "prediction": "text of {s.id}"}}\n'
                                   for s in samples[:-1]))
    replay = ReplayTranscriber(predictions, spec, shared_data, audio_hash)
    first, last = samples[0], samples[-1]
    assert replay.transcribe(load_sample_audio(first), "en") == f"text of {first.id}"
    with pytest.raises(UnknownAudio, match=f"sample {last.id}: no prediction for id"):
        replay.transcribe(load_sample_audio(last), "en")
    httpd = make_server(replay, "replay", "en")
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        from audiogate.datasets.audio import to_wav_bytes

        answer = httpx.post(f"{url}/v1/audio/transcriptions", data={"model": "replay"},
                            files={"file": ("a.wav", to_wav_bytes(load_sample_audio(first)))})
        assert answer.json() == {"text": f"text of {first.id}"}
        noise = httpx.post(f"{url}/v1/audio/transcriptions", data={"model": "replay"},
                           files={"file": ("a.wav", to_wav_bytes(np.zeros(8000)))})
        assert noise.status_code == 400
        assert "none of the replayed dataset's recordings" in noise.json()["error"]["message"]
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.slow
def test_in_process_whisper_times_each_decode_and_its_load(shared_data: Path) -> None:
    engine = make_engine(model("whisper-tiny.en"), EngineContext())
    samples = load_dataset(registry.dataset("librispeech-test-clean"), shared_data)[:2]
    try:
        outputs = list(engine.run([Request(s, load_sample_audio(s), "asr", "en")
                                   for s in samples]))
    finally:
        engine.close()
    assert getattr(engine, "load_seconds", 0) > 0
    for out in outputs:
        assert out.timing.method == "decode" and out.timing.latency == out.seconds
        assert out.timing.in_flight == 1 and out.timing.batch == 1
