"""The openai engine against a small recording server (stdlib, in a thread, 127.0.0.1).

The recording server stores each request's JSON (or form fields) and answers according
to a per-test behaviour: fixed text, 500s, a 400, a hang, a shutdown mid-run, a delay.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from audiogate.datasets.audio import load_audio
from audiogate.engines import EngineContext, make_engine
from audiogate.engines.openai_engine import OpenAIEngine, audio_chunks
from audiogate.engines.prompts import render
from audiogate.registry.load import ModelSpec, model
from audiogate.samples import Request, Sample

Behaviour = Callable[["Recorder", dict[str, Any]], tuple[int, dict[str, Any]]]
DROP = 0  # a behaviour's status for "no answer at all" (a server dying mid-request)


class Recorder:
    """A fake OpenAI-compatible server that records what it receives."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: a shutdown is final

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Type", "").startswith("application/json"):
                    body = json.loads(raw)
                else:
                    from audiogate.engines.embedded_server import parse_multipart

                    fields = parse_multipart(self.headers["Content-Type"], raw)
                    body = {k: (v if k == "file" else v.decode()) for k, v in fields.items()}
                body["_path"] = self.path
                with recorder.lock:
                    recorder.bodies.append(body)
                    recorder.headers.append(dict(self.headers))
                    recorder.in_flight += 1
                    recorder.max_in_flight = max(recorder.max_in_flight, recorder.in_flight)
                try:
                    status, answer = recorder.behaviour(recorder, body)
                finally:
                    with recorder.lock:
                        recorder.in_flight -= 1
                if status == DROP:
                    return  # died with this request: the connection closes unanswered
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up (timeout test)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def kill(self) -> None:
        """Stop accepting and close the socket: later connections are refused."""
        self.httpd.shutdown()
        self.httpd.server_close()


def chat_answer(text: str) -> dict[str, Any]:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}


@pytest.fixture
def recorder_factory() -> Iterator[Callable[[Behaviour], Recorder]]:
    made: list[Recorder] = []

    def make(behaviour: Behaviour) -> Recorder:
        made.append(Recorder(behaviour))
        return made[-1]

    yield make
    for r in made:
        with contextlib.suppress(OSError):
            r.kill()


@pytest.fixture(scope="module")
def clip(shared_data: Path) -> np.ndarray:
    return load_audio(shared_data / "LibriSpeech/test-clean/1089/134691/1089-134691-0000.flac")


def fast(spec: ModelSpec, **retry: Any) -> ModelSpec:
    """The same entry with a quick retry schedule (tests must not sleep seconds)."""
    return replace(spec, options={**spec.options,
                                  "retry": {"attempts": 3, "backoff": 0.01, **retry}})


def requests_for(n: int, audio: np.ndarray, task: str = "asr") -> list[Request]:
    return [Request(Sample(f"s{i}", "", None), audio, task, "en") for i in range(n)]


def decode(part: dict[str, Any]) -> np.ndarray:
    assert part["type"] == "input_audio" and part["input_audio"]["format"] == "wav"
    data, rate = sf.read(io.BytesIO(base64.b64decode(part["input_audio"]["data"])),
                         dtype="float32")
    assert rate == 16000
    return data


def test_step_audio_r1_1_request_is_exactly_the_reference_protocol(
        recorder_factory: Callable[[Behaviour], Recorder], clip: np.ndarray) -> None:
    server = recorder_factory(lambda r, b: (200, chat_answer("<think>\nhmm</think>{}")))
    long = np.tile(clip, int(np.ceil(60 * 16000 / len(clip))))[: 60 * 16000]  # 60 s of speech
    sample = Sample("long", "", None)
    request = Request(sample, long, "asr", "en", render("step_audio_asr", sample))
    engine = make_engine(model("step-audio-r1.1"), EngineContext(engine_url=server.url + "/v1/"))
    try:
        [output] = list(engine.run([request]))
    finally:
        engine.close()
    assert output.error is None and output.text == "<think>\nhmm</think>{}"
    [body] = server.bodies
    assert body.pop("_path") == "/v1/chat/completions"
    user, assistant = body.pop("messages")
    # Streamed, as stepaudior1vllm.py's `stream()` (its examples' call) sends it: the same
    # generation, with the time to the first token measured.
    assert body == {
        "model": "Step-Audio-R1.1", "stream": True,
        "temperature": 0.7, "repetition_penalty": 1.0, "stop_token_ids": [151665],
        "skip_special_tokens": False, "max_tokens": 12288,
        "continue_final_message": True, "add_generation_prompt": False,
    }
    assert assistant == {"role": "assistant", "content": "<think>\n"}
    assert user["role"] == "human"
    *audio_parts, text = user["content"]
    assert text == {"type": "text",
                    "text": 'listen the audio, output the audio content with format '
                            '{"content": ""}'}
    chunks = [decode(p) for p in audio_parts]
    assert [len(c) / 16000 for c in chunks] == [25.0, 25.0, 10.0]
    assert np.array_equal(np.concatenate(chunks), long)  # lossless, in order


def test_mmau_prompt_puts_text_first(recorder_factory: Callable[[Behaviour], Recorder],
                                     clip: np.ndarray) -> None:
    server = recorder_factory(lambda r, b: (200, chat_answer("x")))
    sample = Sample("q1", "Dog", None, meta={"question": "What animal?",
                                              "choices": ["Dog", "Cat"]})
    request = Request(sample, clip, "mmau", "en", render("step_audio_r1_mmau", sample))
    engine = make_engine(model("step-audio-r1.1"), EngineContext(engine_url=server.url))
    try:
        list(engine.run([request]))
    finally:
        engine.close()
    content = server.bodies[0]["messages"][0]["content"]
    assert [p["type"] for p in content] == ["text", "input_audio"]  # 2 s clip: one chunk
    assert content[0]["text"].endswith("A. Dog\nB. Cat\n")


def test_transcriptions_request(recorder_factory: Callable[[Behaviour], Recorder],
                                clip: np.ndarray) -> None:
    server = recorder_factory(lambda r, b: (200, {"text": "he could wait no longer"}))
    engine = make_engine(model("whisper-large-v3"), EngineContext(engine_url=server.url))
    try:
        [output] = list(engine.run(requests_for(1, clip)))
    finally:
        engine.close()
    assert output.text == "he could wait no longer"
    body = server.bodies[0]
    audio, rate = sf.read(io.BytesIO(body.pop("file")), dtype="float32")
    assert rate == 16000 and np.array_equal(audio, clip)
    assert body == {"_path": "/v1/audio/transcriptions", "model": "openai/whisper-large-v3",
                    "language": "en", "response_format": "json", "temperature": "0.0"}


def test_api_key_comes_from_the_environment_and_stays_out_of_identity(
        recorder_factory: Callable[[Behaviour], Recorder], clip: np.ndarray,
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = recorder_factory(lambda r, b: (401, {"error": {"message": "bad key"}}))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-123")
    engine = make_engine(model("qwen2-audio-7b-instruct"), EngineContext(engine_url=server.url))
    try:
        [output] = list(engine.run(requests_for(1, clip)))
        identity = json.dumps(engine.identity())
    finally:
        engine.close()
    assert server.headers[0]["Authorization"] == "Bearer sk-secret-123"
    assert "sk-secret" not in identity and server.url not in identity
    assert output.error is not None and "sk-secret" not in output.error


def test_identity_ignores_the_url(recorder_factory: Callable[[Behaviour], Recorder]) -> None:
    spec = model("step-audio-r1.1")
    a = OpenAIEngine(spec, EngineContext(), "http://127.0.0.1:1")
    b = OpenAIEngine(spec, EngineContext(), "http://10.0.0.9:8000/v1")
    assert a.identity() == b.identity()
    changed = replace(spec, options={**spec.options,
                                     "sampling": {**spec.options["sampling"], "temperature": 0}})
    assert OpenAIEngine(changed, EngineContext(), "http://x").identity() != a.identity()
    for e in (a, b):
        e.close()


def test_two_500s_then_success(recorder_factory: Callable[[Behaviour], Recorder],
                               clip: np.ndarray) -> None:
    def flaky(r: Recorder, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if len(r.bodies) <= 2:
            return 500, {"error": {"message": "CUDA out of memory"}}
        return 200, chat_answer("fine")

    server = recorder_factory(flaky)
    engine = make_engine(fast(model("step-audio-r1.1")), EngineContext(engine_url=server.url))
    try:
        [output] = list(engine.run(requests_for(1, clip)))
    finally:
        engine.close()
    assert (output.text, output.error, len(server.bodies)) == ("fine", None, 3)


def test_persistent_500_gives_up_after_bounded_attempts(
        recorder_factory: Callable[[Behaviour], Recorder], clip: np.ndarray) -> None:
    server = recorder_factory(lambda r, b: (503, {"error": {"message": "overloaded"}}))
    engine = make_engine(fast(model("step-audio-r1.1")), EngineContext(engine_url=server.url))
    try:
        [output] = list(engine.run(requests_for(1, clip)))
    finally:
        engine.close()
    assert len(server.bodies) == 4  # 1 + attempts(3)
    assert output.error is not None and "HTTP 503" in output.error and "overloaded" in output.error
    assert "gave up after 4 attempts" in output.error


def test_400_is_not_retried_and_carries_the_server_message(
        recorder_factory: Callable[[Behaviour], Recorder], clip: np.ndarray) -> None:
    message = "This model's maximum context length is 16384 tokens. However, you requested 20000"
    server = recorder_factory(lambda r, b: (400, {"object": "error", "message": message,
                                                  "type": "BadRequestError", "code": 400}))
    engine = make_engine(fast(model("step-audio-r1.1")), EngineContext(engine_url=server.url))
    try:
        [output] = list(engine.run(requests_for(1, clip)))
    finally:
        engine.close()
    assert len(server.bodies) == 1
    assert output.text is None and output.error is not None
    assert "HTTP 400" in output.error and message in output.error


def test_a_hanging_request_errors_and_the_run_continues(
        recorder_factory: Callable[[Behaviour], Recorder], clip: np.ndarray) -> None:
    release = threading.Event()

    def hang_on_s1(r: Recorder, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if body["messages"][0]["content"][-1]["text"] == "s1":
            release.wait(10)
        return 200, chat_answer("ok")

    server = recorder_factory(hang_on_s1)
    spec = fast(model("step-audio-r1.1"))
    engine = make_engine(spec, EngineContext(engine_url=server.url, concurrency=2, timeout=1.0))
    requests = [replace(r, prompt=(("audio", ""), ("text", r.sample.id)))
                for r in requests_for(4, clip)]
    started = time.monotonic()
    try:
        outputs = {o.sample_id: o for o in engine.run(requests)}
    finally:
        release.set()
        engine.close()
    assert time.monotonic() - started < 8
    assert outputs["s1"].error is not None and "within 1 s" in outputs["s1"].error
    assert {k: o.text for k, o in outputs.items() if k != "s1"} == \
        {"s0": "ok", "s2": "ok", "s3": "ok"}
    assert len(server.bodies) == 4  # a timeout is not retried


def test_server_killed_mid_run(recorder_factory: Callable[[Behaviour], Recorder],
                               clip: np.ndarray) -> None:
    def die_after_two(r: Recorder, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if len(r.bodies) == 2:
            threading.Thread(target=r.kill).start()  # dies right after answering this one
        return 200, chat_answer("done")

    server = recorder_factory(die_after_two)
    engine = make_engine(fast(model("step-audio-r1.1")),
                         EngineContext(engine_url=server.url, concurrency=1))
    try:
        outputs = sorted(engine.run(requests_for(5, clip)), key=lambda o: o.sample_id)
    finally:
        engine.close()
    assert [o.sample_id for o in outputs] == ["s0", "s1", "s2", "s3", "s4"]
    assert [o.text for o in outputs[:2]] == ["done", "done"]  # finished ones are kept
    for o in outputs[2:]:  # the server is known down: the rest fail fast, one message
        assert o.text is None and o.not_attempted
        assert o.error is not None and f"server at {server.url} is down" in o.error
        assert f"cannot reach {server.url}" in o.error


def test_a_dead_server_ends_the_pair_fast_and_the_rest_is_not_sent(
        recorder_factory: Callable[[Behaviour], Recorder], clip: np.ndarray,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Killed 10 % into a 2,600-sample pair, with the entry's real retry schedule (1 s
    backoff, doubling): once connections fail and /health does not answer, the remaining
    samples are not sent (so a rerun sends exactly them), instead of each being retried."""
    total, kill_at = 2600, 260

    def die_at_ten_percent(r: Recorder, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if len(r.bodies) == kill_at:
            threading.Thread(target=r.kill).start()
        return 200, chat_answer("done")

    server = recorder_factory(die_at_ten_percent)
    engine = make_engine(model("step-audio-r1.1"), EngineContext(engine_url=server.url,
                                                                 concurrency=8))
    short = clip[:1600]  # 0.1 s of real speech: the requests themselves are quick
    outputs: list[Any] = []
    started = time.monotonic()
    worker = threading.Thread(target=lambda: outputs.extend(engine.run(
        requests_for(total, short))), daemon=True)
    worker.start()
    worker.join(timeout=600)  # a liveness guard, far above the rule's 30 s: not a timing test
    elapsed = time.monotonic() - started
    engine.close()
    assert not worker.is_alive(), "the pair did not end after its server died"
    assert len(outputs) == total
    answered = [o for o in outputs if o.text == "done"]
    not_sent = [o for o in outputs if o.not_attempted]
    assert kill_at <= len(answered) <= len(server.bodies)
    assert len(not_sent) >= total - len(server.bodies) - 8  # at most the in-flight ones tried
    assert len({o.error for o in not_sent}) == 1  # one message
    assert f"server at {server.url} is down" in not_sent[0].error
    with capsys.disabled():
        print(f"\nserver killed after {kill_at} of {total} samples: the pair ended "
              f"{elapsed:.1f} s after it started, {len(not_sent)} samples not sent")


def test_keeps_n_requests_in_flight(recorder_factory: Callable[[Behaviour], Recorder],
                                    clip: np.ndarray) -> None:
    def slow(r: Recorder, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        time.sleep(0.2)
        return 200, chat_answer("ok")

    server = recorder_factory(slow)
    engine = make_engine(model("step-audio-r1.1"),
                         EngineContext(engine_url=server.url, concurrency=4))
    try:
        outputs = list(engine.run(requests_for(12, clip[:16000])))
    finally:
        engine.close()
    assert sorted(o.sample_id for o in outputs) == sorted(f"s{i}" for i in range(12))
    assert all(o.error is None for o in outputs)
    assert server.max_in_flight == 4


def test_no_url_and_no_launch_is_a_clear_error() -> None:
    from audiogate.errors import RegistryError

    spec = model("step-audio-r1.1")
    bare = replace(spec, options={k: v for k, v in spec.options.items() if k != "launch"})
    with pytest.raises(RegistryError, match="--engine-url"):
        make_engine(bare, EngineContext())


def test_audio_chunks_boundaries() -> None:
    audio = np.zeros(50 * 16000, dtype=np.float32)
    assert [len(c) for c in audio_chunks(audio, 25)] == [25 * 16000, 25 * 16000]  # no empty
    assert [len(c) for c in audio_chunks(audio[:16000], 25)] == [16000]
    assert [len(c) for c in audio_chunks(audio, None)] == [50 * 16000]


def test_vllm_engine_without_vllm_says_how_to_install() -> None:
    from audiogate.errors import RegistryError

    try:
        import vllm  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("vllm is installed here")
    with pytest.raises(RegistryError, match=r"pip install -e '\.\[vllm\]' on a GPU machine"):
        make_engine(model("whisper-large-v3-vllm"), EngineContext())


def test_samples_not_sent_are_not_stored_and_the_rerun_sends_exactly_them(
        recorder_factory: Callable[[Behaviour], Recorder], shared_data: Path,
        tmp_path: Path) -> None:
    from audiogate.registry.load import dataset
    from audiogate.results.store import Store
    from audiogate.runner import PairRun

    def die_after_ten(r: Recorder, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if len(r.bodies) == 10:
            threading.Thread(target=r.kill).start()
        return 200, chat_answer('{"content": "done"}')

    spec, split = model("step-audio-r1.1"), dataset("librispeech-test-other")
    store = Store.open(tmp_path / "store.sqlite")
    first = recorder_factory(die_after_ten)
    engine = make_engine(spec, EngineContext(engine_url=first.url, concurrency=1))
    result, _ = PairRun(spec, split, engine, shared_data, store=store).run()
    engine.close()
    answered = result.inferred
    assert answered == 10 and result.score.errors == 42 - answered
    assert any(n.startswith(f"{42 - answered} sample(s) not sent: server at ") for n in
               result.notes)
    assert store.count() == answered  # the samples not sent left nothing behind

    second = recorder_factory(lambda r, body: (200, chat_answer('{"content": "done"}')))
    engine = make_engine(spec, EngineContext(engine_url=second.url, concurrency=4))
    again, _ = PairRun(spec, split, engine, shared_data, store=store).run()
    engine.close()
    store.close()
    assert (again.inferred, again.reused) == (42 - answered, answered)  # the interrupted run
    assert len(second.bodies) == 42 - answered


@pytest.mark.parametrize(("split", "kill_at"), [
    ("librispeech-test-other", 1), ("librispeech-test-other", 10),
    ("librispeech-test-other", 21), ("librispeech-test-other", 41),
    ("librispeech-test-clean", 2), ("librispeech-dev-clean", 17)])
def test_a_server_dead_at_any_moment_of_any_pair_under_auto_concurrency(
        recorder_factory: Callable[[Behaviour], Recorder], shared_data: Path,
        tmp_path: Path, split: str, kill_at: int) -> None:
    """Under ``auto`` the limit is the sum over live replicas: 0 once the only one is
    down. Every sample still gets its answer (stored, or not sent), whatever the pair's
    size and the moment, and the rerun sends exactly the samples not stored. The server
    answers ``kill_at`` requests, drops those in flight with the last one, then is gone."""
    from audiogate.registry.load import dataset
    from audiogate.results.store import Store
    from audiogate.runner import PairRun

    def die_after(r: Recorder, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if len(r.bodies) > kill_at:  # in flight when it died
            return DROP, {}
        if len(r.bodies) == kill_at:
            threading.Thread(target=r.kill).start()
        return 200, chat_answer('{"content": "done"}')

    spec, data = model("step-audio-r1.1"), dataset(split)
    store = Store.open(tmp_path / "store.sqlite")
    first = recorder_factory(die_after)
    engine = make_engine(spec, EngineContext(engine_url=first.url))  # concurrency auto
    result, _ = PairRun(spec, data, engine, shared_data, store=store).run()
    engine.close()
    total, stored = result.score.total, store.count()
    assert result.inferred == stored == kill_at
    assert result.score.errors == total - stored
    assert any(n.startswith(f"{total - stored} sample(s) not sent: server at {first.url} "
                            "is down") for n in result.notes)

    second = recorder_factory(lambda r, body: (200, chat_answer('{"content": "done"}')))
    engine = make_engine(spec, EngineContext(engine_url=second.url))
    again, _ = PairRun(spec, data, engine, shared_data, store=store).run()
    engine.close()
    store.close()
    assert (again.inferred, again.reused) == (total - stored, stored)
    assert len(second.bodies) == total - stored and again.score.errors == 0


@pytest.mark.parametrize("message", [
    "Maximum file size exceeded (parameter=audio_filesize_mb, value=109.86332321166992)",
    "Audio exceeds maximum allowed duration of 600s (file contains 3600.0s at 16000Hz). "
    "Set VLLM_MAX_AUDIO_DECODE_DURATION_S to increase this limit."])
def test_vllms_long_audio_refusals_say_how_to_go_on(
        recorder_factory: Callable[[Behaviour], Recorder], clip: np.ndarray,
        message: str) -> None:
    """vLLM's own texts for an hour-long request (measured on real vLLM 0.32)."""
    server = recorder_factory(lambda r, b: (400, {"object": "error", "message": message,
                                                  "type": "BadRequestError", "code": 400}))
    engine = make_engine(fast(model("whisper-tiny.en-served")),
                         EngineContext(engine_url=server.url))
    try:
        [output] = list(engine.run(requests_for(1, clip)))
    finally:
        engine.close()
    assert output.error is not None and message in output.error
    assert "VLLM_MAX_AUDIO_CLIP_FILESIZE_MB" in output.error
    assert "max_audio_seconds" in output.error
