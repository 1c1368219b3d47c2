"""`--engine-url` given several times: replicas of one model. Replicas that list
different models are a usage error before anything runs (pytest in a subprocess, two
real HTTP servers on 127.0.0.1 that answer GET /health and GET /v1/models)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest


def listing(name: str) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            body = json.dumps({"data": [{"id": name, "root": f"/w/{name}"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


@pytest.fixture
def urls() -> Iterator[dict[str, str]]:
    servers = {n: listing(n) for n in ("m", "m-again", "other")}
    servers["m-again"].shutdown()
    servers["m-again"].server_close()
    servers["m-again"] = listing("m")
    yield {k: f"http://127.0.0.1:{s.server_address[1]}" for k, s in servers.items()}
    for server in servers.values():
        server.shutdown()
        server.server_close()


def _pytest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (root / "conftest.py").write_text('pytest_plugins = ["audiogate.plugin"]\n')
    (root / "test_x.py").write_text(
        "from audiogate.plugin.one_server import engine_urls\n"
        "def test_urls(request):\n"
        "    print('URLS', engine_urls(request.config))\n")
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-p",
                           "no:randomly", "-s", "-q", *args], cwd=root, text=True,
                          capture_output=True, timeout=120)


def test_replicas_of_one_model_are_all_used(tmp_path: Path, urls: dict[str, str]) -> None:
    proc = _pytest(tmp_path, "--engine-url", urls["m"], "--engine-url", urls["m-again"] + "/v1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"URLS ('{urls['m']}', '{urls['m-again']}')" in proc.stdout


def test_replicas_of_different_models_are_a_usage_error(tmp_path: Path,
                                                        urls: dict[str, str]) -> None:
    proc = _pytest(tmp_path, "--engine-url", urls["m"], "--engine-url", urls["other"])
    out = proc.stdout + proc.stderr
    assert proc.returncode == 4, out
    assert "do not serve the same model" in out and urls["other"] in out


def test_concurrency_must_be_auto_or_a_number(tmp_path: Path) -> None:
    proc = _pytest(tmp_path, "--engine-concurrency", "lots")
    assert proc.returncode == 4
    assert "`auto` or a positive integer, not 'lots'" in proc.stderr
