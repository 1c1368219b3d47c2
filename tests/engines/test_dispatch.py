"""Adaptive concurrency: the controller's steps, and the openai engine against a real HTTP
server (stdlib, 127.0.0.1) that batches like vLLM: it runs up to CAPACITY requests at
once, queues the rest, and says so in vLLM's /metrics gauges."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np
import pytest

from audiogate.engines import EngineContext, make_engine
from audiogate.engines.dispatch import (
    CEILING,
    DEFAULT_START,
    QUEUE_MAX,
    declared_max_seqs,
    next_limit,
    parse_concurrency,
    read_gauges,
    same_models,
    start_limit,
)
from audiogate.errors import UsageError
from audiogate.registry.load import model
from audiogate.samples import Request, Sample

CAPACITY = 20
STEP_SECONDS = 0.25


class BatchingServer:
    """Runs at most ``capacity`` requests at once (each takes STEP_SECONDS); the others
    wait. /metrics tells running and waiting; it records the most that ever waited."""

    def __init__(self, capacity: int | None, name: str = "whisper-tiny.en",
                 metrics: bool = True) -> None:
        self.slots = threading.Semaphore(capacity or 10_000)
        self.lock = threading.Lock()
        self.running = self.waiting = self.waiting_max = self.in_flight_max = 0
        self.metric_reads = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, data: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/v1/models":
                    body = {"data": [{"id": name, "root": f"/weights/{name}"}]}
                    self._send(200, json.dumps(body).encode(), "application/json")
                elif self.path == "/metrics" and metrics:
                    with server.lock:
                        server.metric_reads += 1
                        text = (f'vllm:num_requests_running{{engine="0"}} {server.running}.0\n'
                                f'vllm:num_requests_waiting{{engine="0"}} {server.waiting}.0\n')
                    self._send(200, text.encode(), "text/plain")
                else:
                    self._send(200 if self.path == "/health" else 404, b"", "text/plain")

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with server.lock:
                    server.waiting += 1
                    server.waiting_max = max(server.waiting_max, server.waiting)
                    server.in_flight_max = max(server.in_flight_max,
                                               server.running + server.waiting)
                with server.slots:
                    with server.lock:
                        server.waiting -= 1
                        server.running += 1
                    time.sleep(STEP_SECONDS)
                    with server.lock:
                        server.running -= 1
                self._send(200, json.dumps({"text": "ok"}).encode(), "application/json")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def batching() -> Iterator[BatchingServer]:
    server = BatchingServer(CAPACITY)
    yield server
    server.stop()


def requests_for(n: int) -> list[Request]:
    audio = np.zeros(1600, dtype=np.float32)
    return [Request(Sample(f"s{i}", "", None), audio, "asr", "en") for i in range(n)]


def run(url: str, n: int, concurrency: int | str | None = None,
        launched_seqs: bool = False) -> tuple[list[Any], dict[str, Any]]:
    spec = model("whisper-tiny.en-served")
    if launched_seqs:  # as if the run had launched a server declaring --max-num-seqs 20
        spec = replace(spec, options={
            **spec.options, "launch": f"serve --port {{port}} --max-num-seqs {CAPACITY}"})
    engine = make_engine(spec, EngineContext(engine_url=url, concurrency=concurrency,
                                             extra={"launched": launched_seqs}))
    try:
        outputs = list(engine.run(requests_for(n)))
        return outputs, dict(engine.last_dispatch)  # type: ignore[attr-defined]
    finally:
        engine.close()


# -- the controller's rules -------------------------------------------------------------

def test_concurrency_values() -> None:
    assert parse_concurrency("auto") is None and parse_concurrency(None) is None
    assert parse_concurrency("16") == 16 and parse_concurrency(3) == 3
    for bad in ("0", "-2", "many"):
        with pytest.raises(ValueError):
            parse_concurrency(bad)


def test_declared_max_seqs_from_a_launch_command() -> None:
    assert declared_max_seqs("vllm serve m --max-num-seqs 64 --port {port}") == 64
    assert declared_max_seqs(["python3", "-m", "vllm", "--max-num-seqs", "32"]) == 32
    assert declared_max_seqs(["vllm", "--max-num-seqs=48"]) == 48
    assert declared_max_seqs("vllm serve m") is None and declared_max_seqs(None) is None
    assert start_limit(None) == DEFAULT_START
    assert start_limit(64) == 64 + 8 and start_limit(8) == 8 + QUEUE_MAX


def test_next_limit_grows_only_when_nothing_waits_and_the_client_is_full() -> None:
    assert next_limit(8, 8, 8, 0, full=True) == 16  # fast until a queue is first seen
    assert next_limit(32, 32, 32, 0, full=True, found=True) == 34  # slower near capacity
    assert next_limit(8, 5, 5, 0, full=False) == 8  # the tail of a pair: nothing to add
    assert next_limit(CEILING, CEILING, CEILING, 0, full=True) == CEILING
    assert next_limit(10, 10, 8, 2, full=True) == 10  # a small queue: keep it
    # in flight but not yet running (on the wire, in the front end): not a queue
    assert next_limit(10, 10, 5, 0, full=True) == 20


def test_next_limit_cuts_a_long_queue_back_to_running_plus_a_few() -> None:
    assert next_limit(30, 30, 20, 10, full=True) == 20 + QUEUE_MAX
    assert next_limit(64, 64, 64 - 40, 40, full=True) == 24 + QUEUE_MAX
    # a serial server: one runs, the others wait
    assert next_limit(8, 8, 1, 7, full=True) == 1 + QUEUE_MAX


# -- against a real HTTP server ----------------------------------------------------------

def test_gauges_are_read_from_metrics(batching: BatchingServer) -> None:
    with httpx.Client(base_url=batching.url) as client:
        assert read_gauges(client) == (0, 0)
    plain = BatchingServer(CAPACITY, metrics=False)
    try:
        with httpx.Client(base_url=plain.url) as client:
            assert read_gauges(client) is None
    finally:
        plain.stop()


def test_auto_fills_a_batching_server_and_keeps_its_queue_small(
        batching: BatchingServer) -> None:
    outputs, stats = run(batching.url, 400)
    assert all(o.error is None for o in outputs) and len(outputs) == 400
    assert stats["concurrency"] == "auto" and stats["limit_min"] == DEFAULT_START
    assert stats["limit_max"] >= CAPACITY  # it found the server's capacity ...
    # ... and stopped there: the limit doubles each second until a queue is first seen,
    # so without one it would have reached the ceiling within the run
    assert stats["limit_max"] < CEILING
    assert batching.in_flight_max >= CAPACITY
    assert stats["server_waiting_max"] is not None and stats["server_waiting_max"] >= 1
    assert stats["server_waiting_max"] <= batching.waiting_max
    # 400 requests of 0.25 s at <= 20 at once: >= 5 s; at most one metrics read a second
    wall = 400 * STEP_SECONDS / CAPACITY
    assert batching.metric_reads <= wall * 3 + 2


def test_auto_starts_from_a_launched_servers_max_num_seqs(batching: BatchingServer) -> None:
    _, stats = run(batching.url, 60, launched_seqs=True)
    assert stats["limit_min"] == start_limit(CAPACITY) == CAPACITY + QUEUE_MAX


def test_a_fixed_number_wins(batching: BatchingServer) -> None:
    outputs, stats = run(batching.url, 40, concurrency=3)
    assert all(o.error is None for o in outputs)
    assert batching.in_flight_max == 3
    assert (stats["concurrency"], stats["limit_min"], stats["limit_max"]) == (3, 3, 3)
    assert stats["server_waiting_max"] is not None  # the queue is still reported


def test_without_gauges_auto_holds_its_start() -> None:
    server = BatchingServer(None, metrics=False)
    try:
        outputs, stats = run(server.url, 60)
    finally:
        server.stop()
    assert all(o.error is None for o in outputs)
    assert server.in_flight_max == DEFAULT_START
    assert stats["limit_max"] == DEFAULT_START and stats["server_waiting_max"] is None


def test_replicas_must_serve_the_same_model() -> None:
    one, same, other = (BatchingServer(4), BatchingServer(4),
                        BatchingServer(4, name="whisper-base"))
    try:
        same_models([one.url, same.url])
        with pytest.raises(UsageError, match="do not serve the same model") as caught:
            same_models([one.url, other.url])
        assert other.url in str(caught.value) and "whisper-base" in str(caught.value)
    finally:
        for server in (one, same, other):
            server.stop()
