"""Benchmark: the openai engine's concurrency against a server with a fixed delay.

Reports (no timed asserts): wall time of the engine with N requests in flight vs a plain
one-request-at-a-time client on the same requests, their ratio, and the server-side
maximum of concurrent requests (which must equal the configured concurrency).

Run: .venv/bin/pytest tests/perf/test_perf_engine.py -q -s
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import numpy as np

from audiogate.engines import EngineContext, make_engine
from audiogate.registry.load import model
from audiogate.samples import Request, Sample

DELAY = 0.1  # seconds the fake server "infers" per request
N_REQUESTS = 64
CONCURRENCY = 8


class DelayServer:
    def __init__(self, delay: float) -> None:
        self.lock = threading.Lock()
        self.in_flight = self.max_in_flight = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # no keep-alive: avoids Nagle/delayed-ACK stalls

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                time.sleep(delay)
                with outer.lock:
                    outer.in_flight -= 1
                data = json.dumps({"choices": [{"message": {"content": "ok"}}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def test_engine_concurrency_vs_sequential_client() -> None:
    server = DelayServer(DELAY)
    audio = np.zeros(16000, dtype=np.float32)
    requests = [Request(Sample(f"s{i}", "", None), audio, "asr", "en") for i in range(N_REQUESTS)]
    engine = make_engine(model("step-audio-r1.1"),
                         EngineContext(engine_url=server.url, concurrency=CONCURRENCY))
    try:
        started = time.perf_counter()
        outputs = list(engine.run(requests))
        concurrent = time.perf_counter() - started
        # Baseline: the same request bodies, one at a time, one plain client.
        from audiogate.engines.openai_engine import OpenAIEngine

        assert isinstance(engine, OpenAIEngine)
        bodies = [{"model": engine.model, "messages": [], **engine.sampling} for _ in requests]
        started = time.perf_counter()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for body in bodies:
                client.post("/v1/chat/completions", json=body).raise_for_status()
        sequential = time.perf_counter() - started
    finally:
        engine.close()
        server.httpd.shutdown()
        server.httpd.server_close()
    assert all(o.error is None for o in outputs)
    print(f"\n{N_REQUESTS} requests, {DELAY * 1000:.0f} ms each: engine (concurrency "
          f"{CONCURRENCY}) {concurrent:.2f} s, sequential client {sequential:.2f} s, "
          f"speed-up x{sequential / concurrent:.1f}; max in flight {server.max_in_flight}")
    assert server.max_in_flight == CONCURRENCY
