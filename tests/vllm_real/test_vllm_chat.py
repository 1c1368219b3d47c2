"""The chat path against a real vLLM server (the tiny random Qwen2-Audio, CPU): what the
server refuses, what audiogate therefore never sends, and Step-Audio-R1.1's request shape.

The model's text is meaningless (random weights); these tests look at what the server
accepted, refused and continued, never at what the text says."""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from audiogate.datasets.audio import load_audio
from audiogate.engines import EngineContext, make_engine
from audiogate.engines.openai_engine import ChatSettings, OpenAIEngine, build_messages
from audiogate.engines.prompts import render
from audiogate.registry.load import ModelSpec, model
from audiogate.samples import Output, Request, Sample

RATE = 16000
QWEN = "tiny-qwen2-audio-vllm-served"


@pytest.fixture(scope="module")
def speech(shared_data: Path) -> np.ndarray:
    """Real speech, at least 130 s of it (test-clean utterances end to end)."""
    clips = [load_audio(p) for p in
             sorted((shared_data / "LibriSpeech/test-clean").glob("*/*/*.flac"))]
    audio = np.concatenate(clips)
    return np.tile(audio, int(np.ceil(130 * RATE / len(audio))))


def with_chat(spec: ModelSpec, **chat: Any) -> ModelSpec:
    options = dict(spec.options)
    options["chat"] = {**dict(options.get("chat") or {}), **chat}
    return replace(spec, options=options)


def send(spec: ModelSpec, url: str, audio: np.ndarray,
         prompt: tuple[tuple[str, str], ...] | None = None) -> Output:
    sample = Sample("clip", "", None)
    request = Request(sample, audio, "asr", "en",
                      prompt if prompt is not None else render("step_audio_asr", sample))
    engine = OpenAIEngine(spec, EngineContext(concurrency=1), url)
    try:
        [output] = list(engine.run([request]))
    finally:
        engine.close()
    return output


def test_a_tail_under_the_minimum_is_merged_and_the_server_accepts_it(
        qwen_url: str, speech: np.ndarray) -> None:
    clip = speech[:25 * RATE + 320]
    merged = send(with_chat(model(QWEN), audio_chunk_seconds=25), qwen_url, clip)
    assert merged.error is None and merged.text
    # the same clip with the tail sent on its own: the real server refuses it
    unmerged = send(with_chat(model(QWEN), audio_chunk_seconds=25, min_audio_seconds=0),
                    qwen_url, clip)
    assert unmerged.error is not None and "HTTP 400" in unmerged.error
    assert "The audio (len=320) is too short" in unmerged.error


def test_more_parts_than_the_server_takes_are_refused_before_sending(
        qwen_url: str, speech: np.ndarray) -> None:
    clip = speech[:130 * RATE]  # 5 parts of <= 30 s
    refused = send(model(QWEN), qwen_url, clip)
    assert refused.error is not None and "HTTP" not in refused.error
    assert "needs 5 audio parts of <= 30 s, but the model takes at most 4" in refused.error
    # the limit in the entry is the server's: claiming 5 gets the server's own 400
    claimed = send(with_chat(model(QWEN), max_audios_per_prompt=5), qwen_url, clip)
    assert claimed.error is not None and "HTTP 400" in claimed.error
    assert "At most 4 audio(s) may be provided in one prompt" in claimed.error
    four = send(model(QWEN), qwen_url, clip[:120 * RATE])
    assert four.error is None and four.text


def step_audio_on_the_tiny_model() -> ModelSpec:
    """Step-Audio-R1.1's entry as it is, pointed at the tiny model: only what the tiny
    model cannot take changes (its name, its end-of-text id, a short answer)."""
    spec = model("step-audio-r1.1")
    options = dict(spec.options, served_model_name="tiny-qwen2-audio")
    options["sampling"] = {**options["sampling"], "stop_token_ids": [2], "max_tokens": 24}
    return replace(spec, options=options)


def test_step_audio_r1_1_request_shape_is_accepted_and_continues_the_prefix(
        qwen_url: str, speech: np.ndarray) -> None:
    spec = step_audio_on_the_tiny_model()
    assert spec.options["chat"]["assistant_prefix"] == "<think>\n"
    assert spec.options["extra_body"] == {"continue_final_message": True,
                                          "add_generation_prompt": False}
    clip = speech[:30 * RATE]  # 25 s + 5 s parts
    output = send(spec, qwen_url, clip)
    assert output.error is None, output.error
    assert output.text and output.text.strip()  # answered
    assert not output.text.startswith("<think>")  # continued, not repeated
    # What the server built from the same messages: the prompt ENDS with the prefix (no
    # end-of-turn after it), i.e. the answer above continues "<think>\n".
    sample = Sample("clip", "", None)
    messages = build_messages(Request(sample, clip, "asr", "en",
                                      render("step_audio_asr", sample)),
                              step_audio_on_the_tiny_model_chat())
    assert [p["type"] for p in messages[0]["content"]] == ["input_audio", "input_audio",
                                                           "text"]
    tokens = httpx.post(f"{qwen_url}/tokenize", timeout=120, json={
        "model": "tiny-qwen2-audio", "messages": messages,
        "continue_final_message": True, "add_generation_prompt": False}).json()["tokens"]
    text = httpx.post(f"{qwen_url}/detokenize", timeout=60, json={
        "model": "tiny-qwen2-audio", "tokens": tokens}).json()["prompt"]
    assert text.endswith("<|im_start|>assistant\n<think>\n"), text[-200:]


def step_audio_on_the_tiny_model_chat() -> ChatSettings:
    return ChatSettings(step_audio_on_the_tiny_model().options["chat"])


def test_stop_token_ids_reach_the_server(qwen_url: str, speech: np.ndarray) -> None:
    """The sampling block is sent as is: a stop id the model is about to emit ends it."""
    sample = Sample("clip", "", None)
    request = Request(sample, speech[:10 * RATE], "asr", "en",
                      render("step_audio_asr", sample))
    body = {"model": "tiny-qwen2-audio", "temperature": 0, "max_tokens": 16,
            "messages": build_messages(request, step_audio_on_the_tiny_model_chat()),
            "continue_final_message": True, "add_generation_prompt": False}
    free = httpx.post(f"{qwen_url}/v1/chat/completions", timeout=120,
                      json={**body, "return_token_ids": True}).json()
    first = free["choices"][0]["token_ids"][0]
    stopped = httpx.post(f"{qwen_url}/v1/chat/completions", timeout=120,
                         json={**body, "stop_token_ids": [first]}).json()
    assert free["usage"]["completion_tokens"] > 1
    assert stopped["choices"][0]["finish_reason"] == "stop"
    assert stopped["choices"][0]["stop_reason"] == first
    assert stopped["usage"]["completion_tokens"] == 1


def test_a_recording_longer_than_the_prompt_limit_is_windowed_not_refused(
        qwen_url: str, speech: np.ndarray) -> None:
    """The engine the runner builds for the entry (make_engine) takes a 130 s recording that
    one prompt cannot hold (4 parts of 30 s): it is cut in pauses into windows of at most
    120 s, each window is one request the real server accepts, stitched in order."""
    clip = speech[:130 * RATE]
    engine = make_engine(model(QWEN), EngineContext(engine_url=qwen_url, concurrency=2))
    sample = Sample("long", "", None)
    try:
        [output] = list(engine.run([Request(sample, clip, "asr", "en",
                                            render("step_audio_asr", sample))]))
    finally:
        engine.close()
    assert output.error is None, output.error
    assert output.text and output.text.strip()
    windows = output.windows
    assert windows is not None and len(windows) >= 2
    assert windows[0][0] == 0.0 and windows[-1][1] == pytest.approx(130.0, abs=1e-3)
    assert all(b - a <= 120.0 + 1e-6 for a, b in windows)
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(windows))
