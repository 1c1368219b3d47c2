"""MMAU answered in speech, end to end: the plugin, the openai engine asking for
modalities text + audio, and a chat server of the test's own on 127.0.0.1 that listens
(a tone's pitch picks the option, as in test_mmau_chat_e2e) and answers in the OpenAI audio
shape, writing its reasoning and answer and SAYING the answer with real synthesized speech
(eSpeak NG). The judge (whisper-tiny.en) transcribes the spoken answer, and it is scored
exactly as a written answer is (answer rules, the official MMAU rule); the written one is
kept and compared with it (text-speech-wer): here the tiny judge mishears some of the
formant voice's short answers, so the spoken score falls below the written one, and the
report shows by how much."""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_mmau_chat_e2e import heard_index, write_mmau_tones

from audiogate.engines import EngineContext, make_engine
from audiogate.registry import load as registry
from audiogate.scoring.extract import after_think
from audiogate.scoring.mmau import mmau_correct

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


class SpeakingServer:
    """/v1/chat/completions that answers in text and, when asked, in speech."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        speaker = make_engine(registry.model("espeak-en"), EngineContext())
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._send({"status": "ok"})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                parts = body["messages"][0]["content"]
                text = "".join(p["text"] for p in parts if p["type"] == "text")
                audio = b"".join(base64.b64decode(p["input_audio"]["data"])
                                 for p in parts if p["type"] == "input_audio")
                options = re.findall(r"^[A-Z]\. (.*)$", text, flags=re.M)
                index = heard_index(audio)
                answer = f"The answer is {options[index]}." if 0 <= index < len(options) \
                    else "I do not know."
                message: dict[str, Any] = {
                    "role": "assistant",
                    "content": f"<think>The tone suggests option {index}.</think>{answer}"}
                if "audio" in body.get("modalities", []):
                    clip = speaker.speak(answer, body["audio"]["voice"])  # type: ignore[attr-defined]
                    message["audio"] = {"id": "audio_1", "expires_at": 0, "transcript": answer,
                                        "data": base64.b64encode(clip.data).decode()}
                self._send({"choices": [{"index": 0, "message": message}]})

            def _send(self, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server() -> Iterator[SpeakingServer]:
    s = SpeakingServer()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


MODELS = """
speaking-llm:
  engine: openai
  endpoint: chat
  served_model_name: speaking-llm
  tasks: [mmau]
  languages: [en]
  prompts: {mmau: step_audio_r1_mmau}
  sampling: {temperature: 0.0, max_tokens: 64}
  answer: {mmau: {after_think: true}}
  speech: {voice: en-us, format: wav}
"""


def test_mmau_answered_in_speech_is_scored_as_written(pytester: pytest.Pytester,
                                                      shared_data: Path,
                                                      server: SpeakingServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    items = json.loads((shared_data / "mmau-test-mini" / "mmau-test-mini.json").read_text())
    # items whose options are plain words a listener can tell apart
    chosen = [it for it in items if len(it["choices"]) >= 3 and all(
        re.fullmatch(r"[A-Za-z ]{3,20}", c) for c in it["choices"])][:8]
    root = pytester.path / "data" / "mmau-test-mini"
    written = write_mmau_tones(root, chosen, right=6)  # 6 right, 2 wrong
    assert 100 * sum(written) / len(written) == 75.0

    pytester.makeconftest('pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n')
    pytester.makepyfile(test_gated_mmau=(REPO / "benchmarks" / "test_mmau.py").read_text())
    (pytester.path / "models.yaml").write_text(MODELS)
    args = ["--model=speaking-llm", f"--models-file={pytester.path / 'models.yaml'}",
            f"--engine-url={server.url}", f"--data-root={pytester.path / 'data'}",
            f"--store={pytester.path / 'store.sqlite'}", "-p", "no:cacheprovider",
            "--bootstrap-resamples=500"]
    pytester.runpytest(*args).assert_outcomes(passed=1)
    assert all(r["modalities"] == ["text", "audio"] and r["audio"] == {"voice": "en-us",
                                                                       "format": "wav"}
               for r in server.requests) and len(server.requests) == 8
    report = json.loads((pytester.path / "reports" / "audiogate-report.json").read_text())
    result = report["rows"][0]["result"]
    assert result["judge"]["model"] == "whisper-tiny.en"
    samples = pytester.path / "reports" / "samples" / "speaking-llm__mmau-test-mini.jsonl"
    records = [json.loads(line) for line in samples.read_text().splitlines()]
    heard_right = 0
    for record in records:  # the spoken answer is what was scored, the written one kept
        speech, choices = record["speech"], record["meta"]["choices"]
        assert record["raw_output"] == speech["transcript"]
        assert speech["written"].startswith("<think>")
        assert speech["written_answer"] == speech["audio"]["transcript"]
        # exactly as a written answer is scored: answer rules, then the official rule
        spoken_ok = mmau_correct(after_think(speech["transcript"]), record["reference"],
                                 choices)
        assert record["score"] == (100.0 if spoken_ok else 0.0)
        said_it = speech["metrics"]["text-speech-wer"] == 0.0
        if said_it:  # heard as written: the same verdict as the written answer
            heard_right += 1
            assert spoken_ok == mmau_correct(speech["written_answer"], record["reference"],
                                             choices)
    written_ok = [mmau_correct(r["speech"]["written_answer"], r["reference"],
                               r["meta"]["choices"]) for r in records]
    assert 100 * sum(written_ok) / len(written_ok) == 75.0  # what it wrote
    assert result["score"]["errors"] == 0 and result["score"]["scored"] == 8
    # the tiny judge mishears isolated words from a formant voice: what it said scores lower
    # than what it wrote, and the report says how far the two are apart
    assert 1 <= heard_right < 8
    assert result["score"]["value"] < 75.0
    assert result["metrics"]["text-speech-wer"]["value"] > 0.0
    assert result["metrics"]["dnsmos"]["scored"] == 8
