"""Timings against a real vLLM server (the tiny random Qwen2-Audio, CPU): a streamed chat
answer is the non-streamed one, word for word, and carries its time to first token.

The model's text is meaningless (random weights over a LibriSpeech tokenizer), which makes
it a hard case for streaming: any token the incremental detokenizer joined differently
from the whole-text one would show."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from audiogate.datasets import load_dataset
from audiogate.datasets.audio import load_sample_audio
from audiogate.engines import EngineContext
from audiogate.engines.openai_engine import OpenAIEngine
from audiogate.engines.prompts import render
from audiogate.registry import load as registry
from audiogate.registry.load import ModelSpec, model
from audiogate.samples import Output, Request

QWEN = "tiny-qwen2-audio-vllm-served"


def entry(stream: bool, max_tokens: int) -> ModelSpec:
    spec = model(QWEN)
    options = dict(spec.options, stream=stream)
    options["sampling"] = {**options["sampling"], "temperature": 0.0, "max_tokens": max_tokens}
    return replace(spec, options=options)


@pytest.fixture(scope="module")
def requests(shared_data: Path) -> list[Request]:
    samples = load_dataset(registry.dataset("librispeech-test-other"), shared_data)[:16]
    return [Request(s, load_sample_audio(s), "asr", "en", render("step_audio_asr", s))
            for s in samples]


def run(spec: ModelSpec, url: str, requests: list[Request]) -> dict[str, Output]:
    engine = OpenAIEngine(spec, EngineContext(concurrency=4), url)
    try:
        return {o.sample_id: o for o in engine.run(requests)}
    finally:
        engine.close()


def test_streamed_answers_are_the_non_streamed_ones_with_their_first_token_time(
        qwen_url: str, requests: list[Request]) -> None:
    """Not marked slow: it runs in the vLLM tier only, on the tier's own server (~30 s)."""
    streamed = run(entry(True, 64), qwen_url, requests)
    whole = run(entry(False, 64), qwen_url, requests)
    assert sorted(streamed) == sorted(whole) == sorted(r.sample.id for r in requests)
    for sample_id, out in streamed.items():
        assert out.error is None and whole[sample_id].error is None
        assert out.text == whole[sample_id].text, sample_id
        timing, plain = out.timing, whole[sample_id].timing
        assert timing is not None and plain is not None
        assert timing.method == "stream" and plain.method == "request"
        assert timing.ttft is not None and 0 < timing.ttft <= timing.latency
        assert timing.tokens is not None and timing.tokens >= 1
        assert plain.ttft is None and plain.latency > 0
        assert 1 <= (timing.in_flight or 0) <= 4 and timing.limit == 4
    # random weights still say something for most clips: streaming was really exercised
    assert sum(bool(o.text) for o in streamed.values()) >= len(requests) // 2
    assert sum((o.timing.tokens or 0) > 1 for o in streamed.values() if o.timing) >= 1
