"""MMAU end to end over the chat protocol: the plugin, the openai engine and a real HTTP
server on 127.0.0.1, on audio the test writes for 10 real test-mini items.

The server stands in for an audio LLM and really listens: each test-made clip is a tone
whose pitch encodes an option index; the server decodes the `input_audio` WAV, finds the
pitch, reads the options from the prompt text, and answers with reasoning then that
option. So the score depends on the audio arriving intact, the prompt carrying the
options, `</think>` extraction and the official MMAU rule — and nothing is hard-coded.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from audiogate.scoring.mmau import mmau_correct

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
RATE = 16_000
BASE_HZ, STEP_HZ = 300.0, 150.0


def tone(index: int, seconds: float = 1.0) -> np.ndarray:
    t = np.arange(int(RATE * seconds)) / RATE
    return (0.3 * np.sin(2 * np.pi * (BASE_HZ + STEP_HZ * index) * t)).astype(np.float32)


def write_mmau_tones(root: Path, items: list[dict[str, Any]], right: int) -> list[bool]:
    """MMAU's layout under ``root`` for ``items``: each clip a tone of an option's index,
    the first ``right`` items' the correct option, the rest the next one; returns whether
    each written answer is correct by the official rule."""
    written = []
    for n, item in enumerate(items):
        answer = [c.strip() for c in item["choices"]].index(item["answer"].strip())
        index = answer if n < right else (answer + 1) % len(item["choices"])
        path = root / item["audio_id"]
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, tone(index), RATE, subtype="PCM_16")
        written.append(mmau_correct(item["choices"][index], item["answer"], item["choices"]))
    (root / "mmau-test-mini.json").write_text(json.dumps(items))
    return written


def heard_index(wav: bytes) -> int:
    audio, rate = sf.read(io.BytesIO(wav), dtype="float32")
    spectrum = np.abs(np.fft.rfft(audio))
    peak_hz = np.argmax(spectrum) * rate / len(audio)
    return round((peak_hz - BASE_HZ) / STEP_HZ)


class ListeningServer:
    """An OpenAI-compatible /v1/chat/completions that answers from the audio it receives."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._send(200, {"status": "ok"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                parts = body["messages"][0]["content"]
                text = "".join(p["text"] for p in parts if p["type"] == "text")
                audio = b"".join(base64.b64decode(p["input_audio"]["data"])
                                 for p in parts if p["type"] == "input_audio")
                options = re.findall(r"^[A-Z]\. (.*)$", text, flags=re.M)
                index = heard_index(audio)
                answer = options[index] if 0 <= index < len(options) else "no idea"
                content = f"<think>The tone suggests option {index}; not {options[0]}.</think>"
                self._send(200, {"choices": [{"message": {"role": "assistant",
                                                          "content": content + answer}}]})

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ListeningServer]:
    s = ListeningServer()
    yield s
    s.close()


MODELS = """
listening-llm:
  engine: openai
  endpoint: chat
  served_model_name: listening-llm
  tasks: [mmau]
  languages: [en]
  prompts: {mmau: step_audio_r1_mmau}
  sampling: {temperature: 0.0, max_tokens: 64}
  answer: {mmau: {after_think: true}}
"""


def test_mmau_chat_run_scores_and_gates(pytester: pytest.Pytester, shared_data: Path,
                                        server: ListeningServer,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    items = json.loads((shared_data / "mmau-test-mini" / "mmau-test-mini.json").read_text())
    chosen = [it for it in items if len(it["choices"]) >= 3][:10]
    root = pytester.path / "data" / "mmau-test-mini"
    expected = write_mmau_tones(root, chosen, right=7)  # 7 right, 3 wrong
    want = 100 * sum(expected) / len(expected)
    assert want == 70.0

    pytester.makeconftest('pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n')
    pytester.makepyfile(test_gated_mmau=(REPO / "benchmarks" / "test_mmau.py").read_text())
    (pytester.path / "models.yaml").write_text(MODELS)
    args = ["--model=listening-llm", f"--models-file={pytester.path / 'models.yaml'}",
            f"--engine-url={server.url}", f"--data-root={pytester.path / 'data'}",
            "--no-store", "-p", "no:cacheprovider", "--bootstrap-resamples=500"]
    pytester.runpytest(*args).assert_outcomes(passed=1)
    report = json.loads((pytester.path / "reports" / "audiogate-report.json").read_text())
    row = report["rows"][0]["result"]
    assert row["score"]["value"] == want
    assert row["score"]["total"] == 10 and row["score"]["errors"] == 0
    assert row["score"]["breakdown"]["rule"] == "official"
    assert len(server.requests) == 10
    for request in server.requests:  # one user turn: the question and options, then audio
        assert [p["type"] for p in request["messages"][0]["content"]] == ["text", "input_audio"]
    texts = sorted(r["messages"][0]["content"][0]["text"] for r in server.requests)
    assert texts == sorted(
        f"{it['question']}\nPlease choose the answer from the following options, do not "
        "provide any additional explanations or content: \n"
        + "".join(f"{chr(65 + i)}. {c}\n" for i, c in enumerate(it["choices"]))
        for it in chosen)

    # the gate: a minimum above the measured accuracy fails
    (pytester.path / "thresholds.yaml").write_text(
        f"listening-llm:\n  mmau-test-mini:\n    - metric: acc\n      value: 76.0\n"
        f"      min: 75.0\n      samples: 10\n      sample_set: {row['sample_set']}\n")
    failed = pytester.runpytest(*args)
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*listening-llm/mmau-test-mini*regressed: ACC 70.00 < min 75.00*"])
