"""Serve an embedded CPU model over the OpenAI-compatible endpoints vLLM exposes.

Why: the `openai` engine, the launch/health/stop lifecycle and the one-server-per-run
plugin can then be exercised for real on a laptop, with the same wire protocol a GPU
run uses. Stdlib only (ThreadingHTTPServer + the `email` package for multipart), so
serving adds no dependency.

Endpoints: GET /health, GET /v1/models, GET /version (audiogate's, as vLLM answers with its
own; it names how this server handles long audio), GET /metrics (requests running and
waiting, as vLLM's gauges: what a client's adaptive concurrency reads),
POST /v1/audio/transcriptions (multipart),
POST /v1/chat/completions (``input_audio`` parts; several parts are one recording split
in chunks, so they are concatenated and transcribed once; ``stream: true`` answers with
server-sent events, a word per chunk, as vLLM streams tokens; with ``modalities: ["text",
"audio"]`` the answer is also spoken, in ``message.audio``, by the server's speaker),
POST /v1/audio/speech (a text-to-speech model, or the speaker: ``input`` spoken in
``voice``, answered as wav, flac, mp3 or OpenAI's raw 24 kHz ``pcm``).

``delay`` / ``token_delay``: seconds added to every answer before its first word, and
between two words (streamed or not: a request costs the same either way). They make a
server slower by a known amount, which is how the speed gate is shown to tell a slower
release from noise.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

import numpy as np
import soundfile as sf
import soxr

from audiogate.datasets.audio import TARGET_RATE
from audiogate.errors import AudiogateError
from audiogate.samples import ProducedAudio

MAX_BODY = 512 * 1024 * 1024  # an hour of 16 kHz 16-bit WAV is ~115 MB


class Transcriber(Protocol):
    def transcribe(self, audio: Any, language: str) -> str: ...


class Speaker(Protocol):
    """A text-to-speech engine (engines/tts_cpu.py)."""

    def speak(self, text: str, voice: str | None = None) -> ProducedAudio: ...


SPEECH_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "mp3": "audio/mpeg",
                "pcm": "audio/pcm"}
CHAT_AUDIO = {"wav": "wav", "flac": "flac", "mp3": "mp3", "pcm16": "pcm"}


def encode_speech(audio: ProducedAudio, fmt: str) -> bytes:
    """A kept clip re-encoded as a response format (pcm: raw 16-bit at 24 kHz, as OpenAI
    sends it)."""
    from audiogate.engines.speech_audio import PCM_RATE, decode

    assert audio.data is not None
    if fmt == "wav" and audio.format == "wav":
        return audio.data
    samples, rate = decode(audio.data)
    if fmt == "pcm":
        resampled = soxr.resample(samples, rate, PCM_RATE, quality="HQ")
        pcm = np.clip(np.round(resampled.astype(np.float64) * 32768.0), -32768, 32767)
        return pcm.astype("<i2").tobytes()
    buf = io.BytesIO()
    subtype = {"flac": "PCM_16", "mp3": "MPEG_LAYER_III", "wav": "PCM_16"}[fmt]
    sf.write(buf, samples, rate, format=fmt.upper(), subtype=subtype)
    return buf.getvalue()


class ApiError(Exception):
    """An error answered as OpenAI-style JSON: {"error": {"message", "type", "code"}}."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


def decode_audio(data: bytes) -> np.ndarray:
    """Any libsndfile-readable bytes (WAV, FLAC, OGG) -> 16 kHz mono float32."""
    if not data:
        raise ApiError(400, "audio is empty")
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise ApiError(400, f"cannot decode audio: {exc}") from exc
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if rate != TARGET_RATE:
        mono = soxr.resample(mono, rate, TARGET_RATE, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def parse_multipart(content_type: str, body: bytes) -> dict[str, bytes]:
    """Form fields of a multipart/form-data body, name -> raw bytes."""
    ctype = content_type.lower()
    if not ctype.startswith("multipart/form-data") or "boundary=" not in ctype:
        raise ApiError(400, "expected multipart/form-data with a boundary")
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ApiError(400, "malformed multipart body")
    fields: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        payload = part.get_payload(decode=True)
        fields[str(name)] = payload if isinstance(payload, bytes) else b""
    return fields


class ModelServer:
    """The request logic, separate from HTTP so it is easy to reason about."""

    def __init__(self, model: Transcriber | None, served_name: str, default_language: str,
                 root: str = "", speaker: Speaker | None = None, *, delay: float = 0.0,
                 token_delay: float = 0.0) -> None:
        self.model = model
        self.speaker = speaker  # speaks /v1/audio/speech, and chat answers asked in speech
        self.delay = delay
        self.token_delay = token_delay
        self.root = root  # what the served weights are, as vLLM reports its model path
        self.served_name = served_name
        self.default_language = default_language
        self._lock = threading.Lock()  # faster-whisper's model is not safe for concurrent calls
        self._count_lock = threading.Lock()
        self.running = 0  # decoding now (at most 1: the model lock)
        self.waiting = 0  # decoded audio waiting for the model
        self.created = int(time.time())

    def _check_model(self, name: str | None) -> None:
        if name and name != self.served_name:
            raise ApiError(404, f"The model `{name}` does not exist; serving "
                                f"`{self.served_name}`", "NotFoundError")

    def _count(self, running: int, waiting: int) -> None:
        with self._count_lock:
            self.running += running
            self.waiting += waiting

    def _transcribe(self, audio: np.ndarray, language: str) -> str:
        if self.model is None:
            raise ApiError(404, f"`{self.served_name}` is a text-to-speech model: it serves "
                                "/v1/audio/speech only", "NotFoundError")
        self._count(0, 1)
        with self._lock:
            self._count(1, -1)
            try:
                return self.model.transcribe(audio, language)
            except ApiError:
                raise
            except AudiogateError as exc:  # the input is not one the model can answer
                raise ApiError(400, str(exc)) from exc
            except Exception as exc:  # the model failed on this input: a 500 for this request
                raise ApiError(500, f"transcription failed: {exc}", "InternalServerError") from exc
            finally:
                self._count(-1, 0)

    def metrics(self) -> str:
        """Prometheus text: the two gauges vLLM also exposes, under audiogate's prefix."""
        with self._count_lock:
            running, waiting = self.running, self.waiting
        labels = f'{{model_name="{self.served_name}"}}'
        return ("# TYPE audiogate_num_requests_running gauge\n"
                f"audiogate_num_requests_running{labels} {running}\n"
                "# TYPE audiogate_num_requests_waiting gauge\n"
                f"audiogate_num_requests_waiting{labels} {waiting}\n")

    def models(self) -> dict[str, Any]:
        return {"object": "list", "data": [
            {"id": self.served_name, "object": "model", "created": self.created,
             "owned_by": "audiogate", "root": self.root}]}

    def transcriptions(self, fields: dict[str, bytes]) -> tuple[dict[str, Any] | str, str]:
        if "file" not in fields:
            raise ApiError(400, "missing form field `file`")
        self._check_model(fields.get("model", b"").decode() or None)
        language = fields.get("language", b"").decode().strip() or self.default_language
        fmt = fields.get("response_format", b"json").decode().strip() or "json"
        if fmt not in {"json", "text", "verbose_json"}:
            raise ApiError(400, f"unsupported response_format {fmt!r}")
        audio = decode_audio(fields["file"])
        text = self._transcribe(audio, language)
        self._wait(text)
        if fmt == "text":
            return text, fmt
        result: dict[str, Any] = {"text": text}
        if fmt == "verbose_json":
            result.update(language=language, duration=len(audio) / TARGET_RATE)
        return result, fmt

    def _wait(self, text: str) -> None:
        """A whole answer's added time: the delay, and a token delay per word after the
        first (what a streamed answer spends between its words)."""
        time.sleep(self.delay + self.token_delay * max(0, len(words(text)) - 1))

    def chat_stream(self, body: Any) -> Iterator[dict[str, Any]]:
        """The chat answer as OpenAI chunk objects: the role, a word each (``delay`` before
        the first, ``token_delay`` between two), the finish reason. Errors are raised before
        the first chunk."""
        if isinstance(body, dict) and self._spoken_format(body) is not None:
            raise ApiError(400, "stream: true answers in text only; ask for an answer in "
                                "speech (modalities audio) without streaming")
        answer = self.chat(body, wait=False)
        text = answer["choices"][0]["message"]["content"]
        head = {"id": answer["id"], "object": "chat.completion.chunk",
                "created": answer["created"], "model": self.served_name}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {**head, "choices": [{"index": 0, "delta": delta,
                                         "finish_reason": finish}]}

        def events() -> Iterator[dict[str, Any]]:
            yield chunk({"role": "assistant", "content": ""})
            time.sleep(self.delay)
            for n, word in enumerate(words(text)):
                if n:
                    time.sleep(self.token_delay)
                yield chunk({"content": word})
            yield chunk({}, "stop")
        return events()

    def chat(self, body: Any, *, wait: bool = True) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            raise ApiError(400, "body must be a JSON object with a `messages` list")
        self._check_model(body.get("model"))
        chunks: list[np.ndarray] = []
        for turn in body["messages"]:
            content = turn.get("content") if isinstance(turn, dict) else None
            if not isinstance(content, list):
                continue
            for part in content:
                if isinstance(part, dict) and part.get("type") == "input_audio":
                    chunks.append(decode_audio(_b64(part.get("input_audio") or {})))
        if not chunks:
            raise ApiError(400, "no input_audio part in messages")
        language = str(body.get("language") or self.default_language)
        spoken = self._spoken_format(body)
        audio = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        text = self._transcribe(audio, language)
        if wait:
            self._wait(text)
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if spoken is not None:
            voice, fmt = spoken
            clip = encode_speech(self._speak(text, voice), CHAT_AUDIO[fmt])
            message["audio"] = {"id": f"audio_{uuid.uuid4().hex}",
                                "data": base64.b64encode(clip).decode("ascii"),
                                "expires_at": int(time.time()) + 3600, "transcript": text}
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": self.served_name,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": len(text.split()),
                      "total_tokens": len(text.split())},
        }


    def _spoken_format(self, body: dict[str, Any]) -> tuple[str | None, str] | None:
        """(voice, format) when the chat request asks for an answer in speech."""
        modalities = body.get("modalities") or ["text"]
        if not isinstance(modalities, list) or "audio" not in modalities:
            return None
        if self.speaker is None:
            raise ApiError(400, f"`{self.served_name}` answers in text only (serve it with "
                                "--speak-with to answer in speech)")
        settings = body.get("audio")
        if not isinstance(settings, dict):
            raise ApiError(400, "modalities includes audio: `audio: {voice, format}` is "
                                "required")
        fmt = str(settings.get("format", "wav"))
        if fmt not in CHAT_AUDIO:
            raise ApiError(400, f"unsupported audio.format {fmt!r} (supported: "
                                f"{', '.join(CHAT_AUDIO)})")
        voice = settings.get("voice")
        return (str(voice) if voice else None), fmt

    def _speak(self, text: str, voice: str | None) -> ProducedAudio:
        assert self.speaker is not None
        if not text.strip():
            raise ApiError(500, "nothing to say: the answer is empty", "InternalServerError")
        try:
            return self.speaker.speak(text, voice)
        except AudiogateError as exc:  # an unknown voice, an unspeakable text
            raise ApiError(400, str(exc)) from exc

    def speech(self, body: Any) -> tuple[bytes, str]:
        """``POST /v1/audio/speech``: (the audio, its content type)."""
        if self.speaker is None:
            raise ApiError(404, f"`{self.served_name}` does not speak: no /v1/audio/speech",
                           "NotFoundError")
        if not isinstance(body, dict):
            raise ApiError(400, "body must be a JSON object")
        self._check_model(body.get("model"))
        text = body.get("input")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "`input` must be a non-empty string")
        fmt = str(body.get("response_format") or "mp3")  # OpenAI's default
        if fmt not in SPEECH_TYPES:
            raise ApiError(400, f"unsupported response_format {fmt!r} (supported: "
                                f"{', '.join(SPEECH_TYPES)})")
        speed = body.get("speed", 1.0)
        if speed not in (1, 1.0):
            raise ApiError(400, f"speed {speed!r} is not supported (1.0 only)")
        voice = body.get("voice")
        clip = encode_speech(self._speak(text, str(voice) if voice else None), fmt)
        self._wait(text)
        return clip, SPEECH_TYPES[fmt]


def words(text: str) -> list[str]:
    """``text`` in pieces that join back to it exactly: each word with the spaces before it
    (trailing spaces are the last piece)."""
    pieces = re.findall(r"\s*\S+", text)
    tail = text[len("".join(pieces)):]
    return [*pieces, tail] if tail else pieces


def _b64(part: dict[str, Any]) -> bytes:
    data = part.get("data")
    if not isinstance(data, str):
        raise ApiError(400, "input_audio.data must be a base64 string")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError(400, f"input_audio.data is not valid base64: {exc}") from exc


def _events(events: Iterator[dict[str, Any]]) -> Iterator[str]:
    for event in events:
        yield json.dumps(event, ensure_ascii=False)
    yield "[DONE]"


class Handler(BaseHTTPRequestHandler):
    server_version = "audiogate-serve"
    protocol_version = "HTTP/1.1"
    app: ModelServer  # set on the subclass built by make_server

    def log_message(self, format: str, *args: Any) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)

    def _send(self, status: int, body: dict[str, Any] | str | tuple[bytes, str]) -> None:
        if isinstance(body, tuple):
            data, ctype = body
        elif isinstance(body, str):
            data, ctype = body.encode(), "text/plain; charset=utf-8"
        else:
            data, ctype = json.dumps(body, ensure_ascii=False).encode(), "application/json"
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _send_events(self, events: Iterator[dict[str, Any]]) -> None:
        """Server-sent events in HTTP/1.1 chunks, each written as soon as it is made (so
        the client sees the first token when it comes), then ``data: [DONE]``."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for event in _events(events):
            data = f"data: {event}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _error(self, exc: ApiError) -> None:
        self._send(exc.status, {"error": {"message": str(exc), "type": exc.kind,
                                          "code": exc.status}})

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None:
            raise ApiError(411, "Content-Length required")
        size = int(length)
        if size > MAX_BODY:
            raise ApiError(413, f"body too large ({size} bytes)")
        return self.rfile.read(size)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/health":
            self._send(200, {"status": "ok"})
        elif path == "/v1/models":
            self._send(200, self.app.models())
        elif path == "/version":
            self._send(200, {"version": server_version()})
        elif path == "/metrics":
            self._send(200, self.app.metrics())
        else:
            self._error(ApiError(404, f"no route GET {path}", "NotFoundError"))

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            body = self._body()
            if path == "/v1/audio/transcriptions":
                fields = parse_multipart(self.headers.get("Content-Type", ""), body)
                result, _ = self.app.transcriptions(fields)
                self._send(200, result)
            elif path in ("/v1/chat/completions", "/v1/audio/speech"):
                try:
                    payload = json.loads(body)
                except ValueError as exc:
                    raise ApiError(400, f"body is not JSON: {exc}") from exc
                if path == "/v1/audio/speech":
                    self._send(200, self.app.speech(payload))
                elif isinstance(payload, dict) and payload.get("stream") is True:
                    self._send_events(self.app.chat_stream(payload))
                else:
                    self._send(200, self.app.chat(payload))
            else:
                raise ApiError(404, f"no route POST {path}", "NotFoundError")
        except ApiError as exc:
            self._error(exc)


def server_version() -> str:
    """``audiogate <version>``: the code that decides how this server transcribes (long
    audio included: the embedded engine's own sequential decoding)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"audiogate {version('audiogate')}"
    except PackageNotFoundError:
        return "audiogate (not installed)"


def make_server(model: Transcriber | None, served_name: str, default_language: str,
                host: str = "127.0.0.1", port: int = 0, root: str = "",
                speaker: Speaker | None = None, *, delay: float = 0.0,
                token_delay: float = 0.0) -> ThreadingHTTPServer:
    """Bind (port 0 = any free port) and return the server; call serve_forever() on it.
    ``speaker`` answers /v1/audio/speech and chat requests asked in speech."""
    app = ModelServer(model, served_name, default_language, root, speaker, delay=delay,
                      token_delay=token_delay)
    handler = type("BoundHandler", (Handler,), {"app": app})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
