"""Any OpenAI-compatible server (vLLM, Step-Audio's vLLM fork, hosted APIs) over HTTP.

Two endpoint styles, chosen by the model entry:
- ``transcriptions``: POST /v1/audio/transcriptions, multipart (file, model, language,
  temperature, response_format=json);
- ``chat``: POST /v1/chat/completions, the user turn built from ``Request.prompt``
  (text parts, and ``input_audio`` parts holding base64 WAV, one per audio chunk), an
  optional pre-filled assistant message, sampling fields and extra body fields
  (``continue_final_message`` ...) merged into the JSON.

Many requests are in flight at once (``EngineContext.concurrency``: a number, or ``auto``
which follows the server's queue, see ``dispatch``), spread over one or several replicas
of the model, each request with a timeout;
connection errors, 429 and 5xx are retried with exponential backoff a bounded number of
times, other 4xx never (the server's message is the sample's error). A failed request is
one errored sample; the run goes on.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from audiogate.datasets.audio import TARGET_RATE, to_wav_bytes
from audiogate.engines import EngineContext
from audiogate.engines.dispatch import (
    CEILING,
    Dispatcher,
    Replica,
    declared_max_seqs,
    parse_concurrency,
    start_limit,
)
from audiogate.engines.launch import ServerProcess
from audiogate.errors import EngineError, RegistryError, UsageError
from audiogate.registry.load import ModelSpec
from audiogate.registry.schema import CHAT_KEYS
from audiogate.samples import REQUEST, STREAM, Output, ProducedAudio, Request, Timing, Windows

ENDPOINTS = {"chat": "/v1/chat/completions", "transcriptions": "/v1/audio/transcriptions",
             "speech": "/v1/audio/speech"}
DEFAULT_RETRIES = 4
DEFAULT_BACKOFF = 1.0  # seconds before the first retry; doubles each time
MAX_BACKOFF = 30.0


def base_url(url: str) -> str:
    """``http://h:p``, ``http://h:p/`` and ``http://h:p/v1`` all name the same server."""
    url = url.strip().rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


DEFAULT_MIN_AUDIO_SECONDS = 0.025  # 400 samples: vLLM refuses Qwen2-Audio parts <= 320


def audio_chunks(audio: np.ndarray, seconds: float | None, rate: int = TARGET_RATE, *,
                 min_samples: int = 0) -> list[np.ndarray]:
    """Consecutive pieces of at most ``seconds`` (None or 0: the whole clip).

    Step-Audio's client cuts at fixed 25 s boundaries (60 s -> 25 + 25 + 10). Unlike
    that client, a clip of an exact multiple of the chunk length gets no empty last chunk,
    and a tail shorter than ``min_samples`` is merged into the chunk before it (a model's
    encoder cannot represent it: vLLM answers HTTP 400 "The audio (len=320) is too short").
    """
    if not seconds or len(audio) <= seconds * rate:
        return [audio]
    step = round(seconds * rate)
    starts = list(range(0, len(audio), step))
    if len(starts) > 1 and len(audio) - starts[-1] < min_samples:
        starts.pop()
    return [audio[a:b] for a, b in zip(starts, [*starts[1:], len(audio)], strict=True)]


def sent_windows(pieces: list[np.ndarray], rate: int = TARGET_RATE) -> Windows:
    """``[start, end]`` seconds of each consecutive piece of audio sent, for the record."""
    windows, start = [], 0
    for piece in pieces:
        windows.append([start / rate, (start + len(piece)) / rate])
        start += len(piece)
    return windows


def _b64_wav(audio: np.ndarray) -> str:
    return base64.b64encode(to_wav_bytes(audio)).decode("ascii")


class ChatSettings:
    """How a Request becomes chat messages (from the entry's ``chat:`` block).

    ``max_audios_per_prompt``: the model's limit on audio parts in one prompt (vLLM's
    ``--limit-mm-per-prompt``); a clip that needs more chunks is refused before sending,
    never re-chunked into longer pieces than ``audio_chunk_seconds`` (the encoder's
    window: longer audio would be silently cut). ``min_audio_seconds``: the shortest part
    the model takes; shorter tails are merged, a shorter whole clip is refused.
    """

    KNOWN = CHAT_KEYS  # the registry checks a model entry's `chat:` against the same keys

    def __init__(self, raw: Mapping[str, Any]) -> None:
        unknown = set(raw) - self.KNOWN
        if unknown:
            raise RegistryError(f"chat: unknown setting(s) {sorted(unknown)}; known: "
                                f"{sorted(self.KNOWN)}")
        self.user_role = str(raw.get("user_role", "user"))
        chunk = raw.get("audio_chunk_seconds")
        self.chunk_seconds = float(chunk) if chunk else None
        self.assistant_prefix: str | None = raw.get("assistant_prefix")
        self.system: str | None = raw.get("system")
        limit = raw.get("max_audios_per_prompt")
        self.max_audios = int(limit) if limit is not None else None
        if self.max_audios is not None and self.max_audios < 1:
            raise RegistryError("chat: max_audios_per_prompt must be at least 1")
        self.min_seconds = float(raw.get("min_audio_seconds", DEFAULT_MIN_AUDIO_SECONDS))

    @property
    def min_samples(self) -> int:
        return round(self.min_seconds * TARGET_RATE)

    def identity(self) -> dict[str, Any]:
        return {"user_role": self.user_role, "audio_chunk_seconds": self.chunk_seconds,
                "assistant_prefix": self.assistant_prefix, "system": self.system,
                "max_audios_per_prompt": self.max_audios,
                "min_audio_seconds": self.min_seconds}

    def chunks(self, request: Request) -> list[np.ndarray]:
        """The audio parts of one clip, or an EngineError saying why it cannot be sent."""
        audio = request.audio
        if len(audio) < self.min_samples:
            raise EngineError(f"sample {request.sample.id}: {len(audio)} audio samples, "
                              f"shorter than the model's minimum {self.min_samples} "
                              "(chat.min_audio_seconds)")
        return audio_chunks(audio, self.chunk_seconds, min_samples=self.min_samples)


def build_messages(request: Request, chat: ChatSettings) -> list[dict[str, Any]]:
    """The ``messages`` list for one request (shared with the in-process vLLM engine)."""
    parts = request.prompt if request.prompt is not None else (("audio", ""),)
    content: list[dict[str, Any]] = []
    for kind, text in parts:
        if kind == "text":
            content.append({"type": "text", "text": text})
        elif kind == "audio":
            if request.audio is None:
                raise EngineError(f"sample {request.sample.id}: prompt has audio, request none")
            for chunk in chat.chunks(request):
                content.append({"type": "input_audio",
                                "input_audio": {"data": _b64_wav(chunk), "format": "wav"}})
        else:
            raise EngineError(f"sample {request.sample.id}: unknown prompt part {kind!r}")
    n_audio = sum(part["type"] == "input_audio" for part in content)
    if chat.max_audios is not None and n_audio > chat.max_audios:
        size = f" of <= {chat.chunk_seconds:g} s" if chat.chunk_seconds else ""
        raise EngineError(
            f"sample {request.sample.id}: {len(request.audio) / TARGET_RATE:.1f} s of audio "
            f"needs {n_audio} audio parts{size}, but the model takes at most "
            f"{chat.max_audios} per prompt (chat.max_audios_per_prompt); not sent (longer "
            "parts would be cut by its encoder)")
    return conversation(content, chat)


def conversation(content: list[dict[str, Any]], chat: ChatSettings) -> list[dict[str, Any]]:
    """The user turn's ``content`` with the entry's system message and pre-filled
    assistant turn around it (shared with the transformers engine's chat path)."""
    messages: list[dict[str, Any]] = []
    if chat.system:
        messages.append({"role": "system", "content": chat.system})
    messages.append({"role": chat.user_role, "content": content})
    if chat.assistant_prefix is not None:
        messages.append({"role": "assistant", "content": chat.assistant_prefix})
    return messages


class _Clock:
    """When one attempt's bytes came: sent, each streamed content chunk, the last byte."""

    def __init__(self, sent: float) -> None:
        self.sent = sent
        self.streamed = False  # the answer came as server-sent events
        self.tokens: list[float] = []  # arrival of each streamed chunk that carried text
        self.last = sent

    def timing(self, *, in_flight: int, limit: int) -> Timing:
        latency = self.last - self.sent
        if not self.tokens:  # one document, or a stream without text: no first token
            return Timing(latency, STREAM if self.streamed else REQUEST,
                          in_flight=in_flight, limit=limit)
        first, n = self.tokens[0], len(self.tokens)
        itl = (self.tokens[-1] - first) / (n - 1) if n > 1 else None
        return Timing(latency, STREAM, ttft=first - self.sent, itl=itl, tokens=n,
                      in_flight=in_flight, limit=limit)


def read_stream(lines: Iterable[str], clock: _Clock) -> str:
    """The text of a streamed answer (server-sent events of OpenAI's chunk objects), noting
    when each chunk with text arrived. A reasoning model's ``reasoning_content`` chunks are
    generated tokens too (they count for the first token's time) but, as in a non-streamed
    answer, not part of ``content``."""
    parts: list[str] = []
    for line in lines:
        if not line.startswith("data:"):
            continue  # comments, event names, blank separators
        data = line[len("data:"):].strip()
        if data == "[DONE]":
            break
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise EngineError(f"streamed answer: an event is not JSON: {data[:300]!r}") from exc
        if not isinstance(chunk, dict):
            raise EngineError(f"streamed answer: unexpected event {data[:300]!r}")
        if chunk.get("error"):
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise EngineError(f"streamed answer ended in an error: {str(message)[:500]}")
        for choice in chunk.get("choices") or []:
            delta = (choice.get("delta") or {}) if isinstance(choice, dict) else {}
            content = delta.get("content")
            if content:
                parts.append(str(content))
            if content or delta.get("reasoning_content") or delta.get("reasoning"):
                clock.tokens.append(time.perf_counter())
    return "".join(parts)


class _Retryable(Exception):
    """A failure worth another attempt (connection lost, 429, 5xx)."""

    def __init__(self, message: str, *, connection: bool = False) -> None:
        super().__init__(message)
        self.connection = connection  # no HTTP answer at all: the server may be gone


DOWN_AFTER = 3  # consecutive connection failures before the server is probed
LIMIT_CHECK = 0.5  # seconds the run loop waits for an answer before it looks at the limit


class OpenAIEngine:
    """Sends each request to an OpenAI-compatible server (or the least busy of several
    replicas of it); many in flight at once, as many as ``dispatch.Dispatcher`` allows."""

    needs_audio = True

    def __init__(self, spec: ModelSpec, ctx: EngineContext, url: str | Sequence[str],
                 server: Any = None, declared_seqs: int | None = None) -> None:
        opts = spec.options
        self.name = spec.name
        self.weights: str | None = opts.get("weights")
        self.server_patches = server_patches(dict(opts.get("env") or {}))
        self.endpoint = str(opts.get("endpoint", "chat"))
        if self.endpoint not in ENDPOINTS:
            raise RegistryError(f"model {spec.name!r}: endpoint must be one of "
                                f"{sorted(ENDPOINTS)}, not {self.endpoint!r}")
        self.model = str(opts.get("served_model_name") or spec.name)
        self.sampling: dict[str, Any] = dict(opts.get("sampling") or {})
        self.extra_body: dict[str, Any] = dict(opts.get("extra_body") or {})
        self.chat = ChatSettings(dict(opts.get("chat") or {}))
        self.speech = speech_settings(spec, self.endpoint)
        # Streamed answers give the time to the first token; the text is the same. Answers
        # in speech come whole (a stream's text chunks carry no audio).
        stream = opts.get("stream", self.endpoint == "chat" and self.speech is None)
        if not isinstance(stream, bool):
            raise RegistryError(f"model {spec.name!r}: stream must be true or false, not "
                                f"{stream!r}")
        if stream and self.speech is not None:
            raise RegistryError(f"model {spec.name!r}: stream applies to written answers, "
                                "not to answers in speech (`speech:`)")
        self.stream = stream
        self.prompts: dict[str, Any] = dict(opts.get("prompts") or {})
        if self.endpoint == "speech":
            self.needs_audio = False  # text in, speech out
        retry = dict(opts.get("retry") or {})
        self.retries = int(retry.get("attempts", DEFAULT_RETRIES))
        self.backoff = float(retry.get("backoff", DEFAULT_BACKOFF))
        urls = [base_url(u) for u in ([url] if isinstance(url, str) else url)]
        if not urls or len(set(urls)) != len(urls):
            raise RegistryError(f"model {spec.name!r}: give each server URL once: {urls}")
        self.url = urls[0]
        try:
            self.fixed = parse_concurrency(ctx.concurrency)
        except ValueError as exc:
            raise RegistryError(f"--engine-concurrency: {exc}") from exc
        self.timeout = float(ctx.timeout)
        self._server = server  # a server this engine launched itself (stopped in close)
        self._headers = {"User-Agent": "audiogate"}
        key = os.environ.get(str(opts.get("api_key_env") or "OPENAI_API_KEY"))
        if key:
            self._headers["Authorization"] = f"Bearer {key}"
        start = self.fixed if self.fixed is not None else start_limit(declared_seqs)
        self.dispatcher = Dispatcher([Replica(u, self._new_client(u), start) for u in urls],
                                     self.fixed)
        self._closed = threading.Event()  # set on close, and once every replica is down
        self._down: str | None = None  # why no replica is left
        self._lock = threading.Lock()
        self.last_dispatch: dict[str, Any] = {}  # the last run's dispatch stats
        # Seconds from launching the server to its first healthy answer (None: it was
        # started elsewhere, so its load time is not known here).
        self.load_seconds: float | None = None
        self.revision: str | None = str(opts["revision"]) if opts.get("revision") else None
        # A server cannot prove which weights it loaded: its stored outputs are scored again
        # only to resume an interrupted run, unless the entry pins a revision.
        self.reuses_stored_outputs = self.revision is not None
        described = {r.url: describe_server(r.client, self.model)
                     for r in self.dispatcher.replicas}
        self.server = described[self.url]
        differing = {u: d for u, d in described.items() if d != self.server}
        if differing:
            self.close()
            raise UsageError("the replicas do not serve the same model: "
                             + "; ".join(f"{u}: {d}" for u, d in described.items()))

    def _new_client(self, url: str) -> httpx.Client:
        pool = self.fixed if self.fixed is not None else CEILING
        return httpx.Client(
            base_url=url, headers=self._headers,
            timeout=httpx.Timeout(self.timeout, connect=min(10.0, self.timeout)),
            limits=httpx.Limits(max_connections=pool, max_keepalive_connections=pool),
        )

    @property
    def concurrency(self) -> int:
        """Requests in flight allowed now (the fixed number, or auto's current sum)."""
        return self.dispatcher.limit()

    def identity(self) -> dict[str, Any]:
        """What decides the output: never the URL (same model anywhere) nor the key; what
        the server says about itself (model root, context length, version) is included."""
        ident: dict[str, Any] = {
            "engine": "openai", "model": self.model, "endpoint": self.endpoint,
            "sampling": self.sampling, "extra_body": self.extra_body,
            "server": self.server, "revision": self.revision,
        }
        if self.endpoint == "chat":
            ident["chat"] = self.chat.identity()
            ident["prompts"] = self.prompts
        if self.weights:
            ident["weights"] = self.weights
        if self.speech is not None:
            ident["speech"] = self.speech.identity()
        if self.server_patches:
            ident["server_patches"] = self.server_patches
        return ident

    def _sent(self, request: Request) -> Windows | None:
        """The audio pieces one request sent: the whole clip, or the chat's audio parts.

        Long audio is sent as it is: what happens to it is the server's own handling (the
        identity's ``server`` block names the server and its version); the record keeps
        the lengths sent."""
        if request.audio is None:
            return None
        if self.endpoint == "transcriptions":
            return sent_windows([request.audio])
        return sent_windows(audio_chunks(request.audio, self.chat.chunk_seconds))

    # -- one request ------------------------------------------------------------------
    def _payload(self, request: Request) -> dict[str, Any]:
        """The request's httpx arguments, built once before the clock starts (encoding the
        audio is not the server's time) and reused by every attempt."""
        if self.endpoint == "transcriptions":
            if request.audio is None:
                raise EngineError(f"sample {request.sample.id}: no audio to transcribe")
            data = {"model": self.model, "language": request.language,
                    "response_format": "json",
                    "temperature": str(self.sampling.get("temperature", 0.0))}
            if self.stream:
                data["stream"] = "true"
            data.update({k: str(v) for k, v in self.extra_body.items()})
            files = {"file": ("audio.wav", to_wav_bytes(request.audio), "audio/wav")}
            return {"data": data, "files": files}
        if self.endpoint == "speech":
            assert self.speech is not None
            from audiogate.engines.speech_wire import request_text

            text, voice = request_text(request)
            return {"json": {**self.speech.speech_body(self.model, text, voice),
                             **self.extra_body}}
        body: dict[str, Any] = {"model": self.model,
                                "messages": build_messages(request, self.chat),
                                "stream": self.stream, **self.sampling, **self.extra_body}
        if self.speech is not None:
            body.update(self.speech.chat_fields())
        return {"json": body}

    def _attempt(self, replica: Replica, payload: dict[str, Any]
                 ) -> tuple[str | None, ProducedAudio | None, _Clock]:
        """One POST: the written answer, the spoken one, and when its bytes came (sent,
        first token, last)."""
        url = replica.url
        clock = _Clock(time.perf_counter())
        try:
            with replica.client.stream("POST", ENDPOINTS[self.endpoint], **payload) as response:
                if response.status_code == 429 or response.status_code >= 500:
                    response.read()
                    raise _Retryable(f"HTTP {response.status_code} from {url}: "
                                     f"{_server_message(response)}")
                if response.status_code >= 400:
                    response.read()
                    message = _server_message(response)
                    raise EngineError(f"HTTP {response.status_code} from {url}"
                                      f"{ENDPOINTS[self.endpoint]}: {message}{_hint(message)}")
                audio: ProducedAudio | None = None
                if response.headers.get("content-type", "").startswith("text/event-stream"):
                    clock.streamed = True
                    text: str | None = read_stream(response.iter_lines(), clock)
                else:  # one document (a server that ignores `stream` answers with one too)
                    response.read()
                    text, audio = self._parse(response)
        except httpx.TimeoutException as exc:
            # No retry: a server that did not answer within the timeout would just
            # cost another full timeout.
            raise EngineError(f"no answer from {url} within {self.timeout:g} s "
                              f"({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"cannot reach {url}: {type(exc).__name__}: {exc}",
                             connection=True) from exc
        clock.last = time.perf_counter()
        return text, audio, clock

    def _parse(self, response: httpx.Response) -> tuple[str | None, ProducedAudio | None]:
        """(the written answer, the spoken one): a transcription or a chat answer is text,
        a text-to-speech answer is audio alone, a chat answer in speech is both."""
        from audiogate.engines.speech_wire import chat_audio, speech_answer

        if self.endpoint == "speech":
            assert self.speech is not None
            return None, speech_answer(response.content,
                                       response.headers.get("content-type", ""),
                                       self.speech.format)
        try:
            payload = response.json()
        except ValueError as exc:
            raise EngineError(f"answer is not JSON: {response.text[:300]!r}") from exc
        try:
            if self.endpoint == "transcriptions":
                return str(payload["text"]), None
            message = payload["choices"][0]["message"]
        except (KeyError, IndexError, TypeError) as exc:
            raise EngineError(f"unexpected answer shape: {str(payload)[:300]}") from exc
        content = message.get("content")
        spoken = None if self.speech is None else chat_audio(message, self.speech.format)
        return ("" if content is None else str(content)), spoken

    def _one(self, request: Request) -> Output:
        """Never raises: a failed request is an Output with ``error`` set. An attempt lost
        with a replica that is then dropped goes to another one at once, uncounted."""
        started = time.perf_counter()
        delay = self.backoff
        attempt = 0
        payload: dict[str, Any] | None = None
        while True:
            if self._down is not None:
                return self._not_sent(request)
            if self._closed.is_set():
                return Output(request.sample.id, None, time.perf_counter() - started,
                              error="engine closed before the request finished")
            replica = self.dispatcher.pick()
            if replica is None:
                return self._not_sent(request)
            in_flight, limit = self.dispatcher.in_flight(), replica.limits[-1]
            try:
                if payload is None:
                    payload = self._payload(request)
                text, audio, clock = self._attempt(replica, payload)
                with self._lock:
                    replica.connection_failures = 0
                return Output(request.sample.id, text, time.perf_counter() - started,
                              windows=self._sent(request), audio=audio,
                              timing=clock.timing(in_flight=in_flight, limit=limit))
            except _Retryable as exc:
                if exc.connection and self._replica_down(replica, str(exc)):
                    if self._down is not None:
                        return self._not_sent(request)
                    continue  # its replica was dropped: the others take it
                if attempt == self.retries:
                    return Output(request.sample.id, None, time.perf_counter() - started,
                                  error=f"{exc} (gave up after {attempt + 1} attempts)")
                attempt += 1
                if self._closed.wait(delay):
                    continue
                delay = min(delay * 2, MAX_BACKOFF)
            except EngineError as exc:
                return Output(request.sample.id, None, time.perf_counter() - started,
                              error=str(exc))
            except Exception as exc:  # a bug in one request must not kill the whole run
                return Output(request.sample.id, None, time.perf_counter() - started,
                              error=f"{type(exc).__name__}: {exc}")
            finally:
                self.dispatcher.release(replica)

    def _replica_down(self, replica: Replica, failure: str) -> bool:
        """After DOWN_AFTER consecutive connection failures, probe the replica once: no
        answer at all means it is down and dropped (said once). With no replica left,
        every remaining sample fails fast, not sent."""
        with self._lock:
            replica.connection_failures += 1
            if replica.down is not None:
                return True
            if replica.connection_failures < DOWN_AFTER:
                return False
            failures = replica.connection_failures
            if _answers(replica.url):
                replica.connection_failures = 0
                return False
            replica.down = (f"server at {replica.url} is down ({failures} consecutive "
                            f"connection failures, the last: {failure}; GET /health got no "
                            "answer)")
            if self.dispatcher.live:
                print(f"audiogate: {self.name}: {replica.down}: dropped, "
                      f"{len(self.dispatcher.live)} replica(s) go on", file=sys.stderr,
                      flush=True)
                return True
            self._down = (f"{replica.down}: this sample was not sent; rerun to send "
                          "exactly the samples not done")
            self._closed.set()  # wakes requests waiting to retry
            return True

    def _not_sent(self, request: Request) -> Output:
        return Output(request.sample.id, None, 0.0, error=self._down, not_attempted=True)

    # -- the run ----------------------------------------------------------------------
    def run(self, requests: Iterable[Request]) -> Iterator[Output]:
        """Keep as many requests in flight as the dispatcher allows; yield outputs as they
        complete, exactly one per request. Once no server is left, every remaining request
        is drawn and answered "not sent" at once (under ``auto`` the limit is then 0: the
        sum over no live replica, so the limit alone would stop drawing them)."""
        self.dispatcher.reset_stats()
        pending: set[Future[Output]] = set()
        source = iter(requests)
        exhausted = False
        stop = threading.Event()
        sampler = self.dispatcher.sample_until(stop)
        try:
            with ThreadPoolExecutor(self.fixed or CEILING * len(self.dispatcher.replicas),
                                    thread_name_prefix="audiogate-http") as pool:
                while True:
                    while not exhausted and (self._down is not None or
                                             len(pending) < max(1, self.dispatcher.limit())):
                        request = next(source, None)
                        if request is None:
                            exhausted = True
                        elif self._down is not None:
                            yield self._not_sent(request)
                        else:
                            pending.add(pool.submit(self._one, request))
                    if not pending and exhausted:
                        break
                    self.dispatcher.full = not exhausted and \
                        len(pending) >= self.dispatcher.limit()
                    # woken by an answer, or soon after the sampler raised the limit
                    done, pending = wait(pending, timeout=LIMIT_CHECK,
                                         return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
        finally:
            stop.set()
            sampler.join()
        self.last_dispatch = self.dispatcher.stats()
        dropped = [r.down for r in self.dispatcher.replicas if r.down]
        if dropped and self._down is None:
            self.last_dispatch["dropped"] = dropped

    def close(self) -> None:
        self._closed.set()
        for replica in self.dispatcher.replicas:
            replica.client.close()
        if self._server is not None:
            self._server.stop()


def _answers(url: str) -> bool:
    """Whether anything answers HTTP at ``url`` (any status: a live server that errs)."""
    try:
        httpx.get(f"{url}/health", timeout=5.0)
    except httpx.HTTPError:
        return False
    return True


def describe_server(client: httpx.Client, model: str) -> dict[str, Any]:
    """What the server reports about the model it serves: GET /v1/models (id, root,
    max_model_len) and vLLM's GET /version. Only stable fields: a start time would change
    the identity on every restart."""
    info: dict[str, Any] = {}
    try:
        response = client.get("/v1/models", timeout=10.0)
        listed = response.json().get("data", []) if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        listed = []
    entry = next((m for m in listed if isinstance(m, dict) and m.get("id") == model), None)
    if entry is None:
        info["models"] = f"{model!r} not listed by GET /v1/models"
    else:
        info.update({k: entry[k] for k in ("id", "root", "max_model_len") if k in entry})
    try:
        response = client.get("/version", timeout=10.0)
        if response.status_code == 200:
            info["version"] = response.json().get("version")
    except (httpx.HTTPError, ValueError, AttributeError):
        pass
    return info


LONG_AUDIO_HINT = (
    " — vLLM refuses long audio by default (over VLLM_MAX_AUDIO_CLIP_FILESIZE_MB = 25 MB, about "
    "13 min of the 16 kHz 16-bit WAV audiogate sends, or VLLM_MAX_AUDIO_DECODE_DURATION_S = "
    "600 s): start the server with larger values (the entries that launch vLLM Whisper set "
    "1024 MB and 21600 s), or give the model entry max_audio_seconds so recordings are sent "
    "in windows")


def _hint(message: str) -> str:
    """What to do about a refusal whose cause the server's text names."""
    long_audio = ("audio_filesize_mb" in message or "VLLM_MAX_AUDIO_DECODE_DURATION_S" in message)
    return LONG_AUDIO_HINT if long_audio else ""


def _server_message(response: httpx.Response) -> str:
    """The server's own words: OpenAI/vLLM put them in {"error": {"message"}} or {"detail"}."""
    try:
        payload = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:500]
        if isinstance(error, str):
            return error[:500]
        for key in ("message", "detail"):
            if payload.get(key):
                return str(payload[key])[:500]
    return str(payload)[:500]


def server_patches(env: Mapping[str, Any]) -> list[str]:
    """Server-side changes an entry's ``env:`` switches on (they change the output, so they
    are part of the engine identity and of the report)."""
    from audiogate.engines.vllm_whisper_en_prompt import ENV, PATCH_NAME

    return [PATCH_NAME] if str(env.get(ENV, "")) == "1" else []


def speech_settings(spec: ModelSpec, endpoint: str) -> Any:
    """The entry's ``speech:`` block (required by endpoint speech; on endpoint chat it means
    the model answers in speech too), or None."""
    from audiogate.engines.speech_wire import SpeechSettings

    raw = spec.options.get("speech")
    if raw is None and endpoint != "speech":
        return None
    if endpoint == "transcriptions":
        raise RegistryError(f"model {spec.name!r}: `speech:` applies to endpoint speech or "
                            "chat, not transcriptions")
    if raw is not None and not isinstance(raw, dict):
        raise RegistryError(f"model {spec.name!r}: speech must be a mapping ({{voice, format}})")
    return SpeechSettings(dict(raw or {}), endpoint, spec.name)


def launched_server(spec: ModelSpec, log_path: Path, cache_dir: Path) -> ServerProcess:
    """The entry's ``launch:`` command as a server process: ``{weights}`` is the local
    folder of the entry's ``weights:`` (built and verified now, once), ``env:`` is added
    to the server's environment."""
    launch = spec.options.get("launch")
    if not launch:
        raise RegistryError(
            f"model {spec.name!r} (engine openai) needs a server: pass --engine-url URL "
            "or give the entry a `launch:` command"
        )
    fill = {}
    if spec.options.get("weights"):
        from audiogate.engines.weights import resolve

        fill["weights"] = str(resolve(str(spec.options["weights"]), cache_dir))
    env = {str(k): str(v) for k, v in dict(spec.options.get("env") or {}).items()}
    return ServerProcess(launch, log_path, env=env or None, fill=fill,
                         startup_timeout=float(spec.options.get("launch_timeout", 600)))


def from_spec(spec: ModelSpec, ctx: EngineContext) -> OpenAIEngine:
    """Use ctx's server URL(s); else launch the entry's server for this engine's lifetime.
    ``auto`` starts from a launched server's declared ``--max-num-seqs``."""
    declared = declared_max_seqs(spec.options.get("launch"))
    urls = list(ctx.engine_urls) or ([ctx.engine_url] if ctx.engine_url else [])
    if urls:
        launched = bool(ctx.extra.get("launched"))
        return OpenAIEngine(spec, ctx, urls, declared_seqs=declared if launched else None)
    log_dir = ctx.log_dir or ctx.cache_dir / "logs"
    server = launched_server(spec, Path(log_dir) / f"server-{spec.name}.log", ctx.cache_dir)
    started = time.perf_counter()
    url = server.start()
    load_seconds = time.perf_counter() - started
    try:
        engine = OpenAIEngine(spec, ctx, url, server=server, declared_seqs=declared)
        engine.load_seconds = load_seconds  # launch -> healthy: the model's load time
        return engine
    except BaseException:
        server.stop()
        raise
