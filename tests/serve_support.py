"""`audiogate serve` as a real subprocess for the tests: started on a free port, its URL
read from its first line, stopped with SIGTERM (which must end it cleanly)."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest


def serve(*args: str, timeout: float = 180.0) -> Iterator[str]:
    """Yield the URL of `python -m audiogate.cli serve --port 0 ARGS`, then stop it."""
    proc = subprocess.Popen([sys.executable, "-m", "audiogate.cli", "serve", "--port", "0",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    assert proc.stdout is not None
    deadline, line = time.monotonic() + timeout, b""
    while time.monotonic() < deadline and b"listening on" not in line:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                break
    if b"listening on" not in line:
        proc.kill()
        pytest.fail(f"audiogate serve {' '.join(args)} did not start: {line!r}")
    try:
        yield line.decode().split("listening on ", 1)[1].split()[0]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
