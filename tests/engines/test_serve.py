"""`audiogate serve` as a real subprocess: same transcripts as the in-process engine."""

from __future__ import annotations

import base64
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
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


# -- a server that dies mid-pair ---------------------------------------------------------

class Serve:
    """`audiogate serve` in its own session, for one test: killed or stopped by it."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "audiogate.cli", "serve", "--model", "whisper-tiny.en",
             "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening on" in line, line
        self.url = line.split("listening on ", 1)[1].split()[0]

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self) -> str:
        """SIGTERM; the rest of its log (one line per request it answered)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=60)
        return out


def _kill_when_requests_arrive(server: Serve, count: int) -> threading.Thread:
    """A thread that SIGKILLs the server once it holds ``count`` requests (its /metrics:
    decoding or waiting for the model), before it answered any of them."""
    def watch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                text = httpx.get(f"{server.url}/metrics", timeout=5).text
                held = sum(int(float(line.split()[-1])) for line in text.splitlines()
                           if line.startswith("audiogate_num_requests_"))
                if held >= count:
                    server.kill()
                    return
            time.sleep(0.01)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
@pytest.mark.parametrize(("split", "moment", "n"), [
    ("librispeech-test-other", "received", 4),  # requests held, none answered yet
    ("librispeech-test-other", "stored", 21),  # mid-pair (more moments and sizes, on a
], ids=["42-before-any-answer", "42-after-21"])  # fake server: test_openai_engine.py)
def test_a_server_killed_mid_pair_ends_it_honestly_and_the_rerun_sends_the_rest(
        tmp_path: Path, shared_data: Path, split: str, moment: str, n: int) -> None:
    """SIGKILL of `audiogate serve` under the openai engine's adaptive concurrency, at
    several moments: the pair ends with the dead-server message, counts exactly what was
    inferred and stored, and a rerun against a new server sends exactly the rest."""
    from audiogate.registry.load import dataset
    from audiogate.results.store import Store
    from audiogate.runner import PairRun

    spec, data = model("whisper-tiny.en-served"), dataset(split)
    store = Store.open(tmp_path / "store.sqlite")
    first_server = Serve()
    inferred_so_far = [0]

    def after_each(done: int, total: int, reused: bool) -> None:
        inferred_so_far[0] += not reused
        if moment == "stored" and inferred_so_far[0] == n:
            first_server.kill()

    watcher = _kill_when_requests_arrive(first_server, n) if moment == "received" else None
    engine = make_engine(spec, EngineContext(engine_url=first_server.url))
    try:
        first, _ = PairRun(spec, data, engine, shared_data, store=store,
                           on_progress=after_each).run()
    finally:
        engine.close()
        first_server.kill()
        first_server.proc.wait(timeout=60)
    if watcher is not None:
        watcher.join(timeout=60)
    total = first.score.total
    stored = store.count(spec.name, data.name)
    assert first.inferred == stored < total
    if moment == "stored":
        assert stored >= n
    assert first.score.errors == total - stored
    [note] = [x for x in first.notes if "not sent" in x]
    assert note.startswith(f"{total - stored} sample(s) not sent: server at "
                           f"{first_server.url} is down")
    assert "rerun to send exactly the samples not done" in note

    second_server = Serve()
    engine = make_engine(spec, EngineContext(engine_url=second_server.url))
    try:
        again, _ = PairRun(spec, data, engine, shared_data, store=store).run()
    finally:
        engine.close()
        log = second_server.stop()
        store.close()
    assert (again.inferred, again.reused) == (total - stored, stored)
    assert again.score.errors == 0
    assert log.count('"POST /v1/audio/transcriptions') == total - stored


def test_a_port_in_use_is_one_line_saying_what_to_do() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "audiogate.cli", "serve", "--model", "whisper-tiny.en",
             "--port", str(port)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert line.startswith(f"audiogate: error: port {port} on 127.0.0.1 is already in use")
    assert "--port" in line and "stop what holds it" in line
