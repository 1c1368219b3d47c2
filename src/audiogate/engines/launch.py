"""A launched inference server: start it, wait until healthy, stop it exactly once.

The command comes from a model's registry entry (`launch:`), with ``{port}`` (and
``{host}``, and any ``fill`` placeholder such as ``{weights}``) filled in. Substitution
is plain text replacement, never ``str.format``: launch lines carry Jinja chat templates
full of braces.

The server runs in its own session (process group), so ``stop()`` reaches the
workers a server forks (vLLM's engine core, tensor-parallel ranks) and not just the
process we started.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx

from audiogate.errors import EngineError

HOST = "127.0.0.1"


def free_port(host: str = HOST) -> int:
    """A port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log, for error messages (why did the server die?)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"


def health_ok(url: str, timeout: float = 5.0) -> bool:
    """True iff GET {url}/health answers 200."""
    try:
        return httpx.get(f"{url}/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def _argv(command: str | Sequence[str], port: int, host: str,
          fill: Mapping[str, str] | None = None) -> list[str]:
    parts = shlex.split(command) if isinstance(command, str) else [str(p) for p in command]
    if not parts:
        raise EngineError("empty launch command")
    values = {"port": str(port), "host": host, **(fill or {})}
    argv = []
    for part in parts:  # after splitting: a filled-in path may hold spaces
        for key, value in values.items():
            part = part.replace("{" + key + "}", value)
        argv.append(part)
    # A console script installed beside the running interpreter (a venv that is not
    # activated) is found even when it is not on PATH.
    if os.sep not in argv[0] and shutil.which(argv[0]) is None:
        beside = Path(sys.executable).parent / argv[0]
        if beside.exists():
            argv[0] = str(beside)
    return argv


class ServerProcess:
    """One OpenAI-compatible server subprocess with its log file."""

    def __init__(
        self,
        command: str | Sequence[str],
        log_path: Path,
        *,
        host: str = HOST,
        port: int | None = None,
        startup_timeout: float = 600.0,
        grace: float = 10.0,
        env: Mapping[str, str] | None = None,
        fill: Mapping[str, str] | None = None,
    ) -> None:
        self.command = command
        self.log_path = Path(log_path)
        self.host = host
        self.port = port
        self.startup_timeout = startup_timeout
        self.grace = grace
        self.env = dict(env) if env is not None else None
        self.fill = dict(fill or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopped = False
        self._terminated = False  # SIGTERM sent: a stop began (it may have been cut short)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        if self.port is None:
            raise EngineError("server not started")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> str:
        """Spawn the command, wait until /health answers, return the base URL."""
        if self.proc is not None:
            return self.url
        if self.port is None:
            self.port = free_port(self.host)
        argv = _argv(self.command, self.port, self.host, self.fill)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:  # this run's log only
            log.write(f"# audiogate: starting {shlex.join(argv)[:2000]}\n".encode())
            log.flush()
            try:
                self.proc = subprocess.Popen(
                    argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, preexec_fn=_exit_with_parent,
                    env={**os.environ, **self.env} if self.env is not None else None,
                )
            except OSError as exc:
                raise EngineError(f"cannot start server `{argv[0]}`: {exc}") from exc
        try:
            self.wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self.url

    def wait_healthy(self) -> None:
        """Poll GET /health until 200; raise with the log's tail if the server dies."""
        assert self.proc is not None
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.05
        while True:
            code = self.proc.poll()
            if code is not None:
                raise EngineError(
                    f"server exited with code {code} before becoming healthy "
                    f"(log: {self.log_path}); last lines:\n{log_tail(self.log_path)}"
                )
            if health_ok(self.url, timeout=2.0):
                return
            if time.monotonic() > deadline:
                raise EngineError(
                    f"server at {self.url} not healthy after {self.startup_timeout:.0f} s "
                    f"(log: {self.log_path}); last lines:\n{log_tail(self.log_path)}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 1.0)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM the whole process group, SIGKILL after the grace period. Idempotent.

        Done only once the group is gone: a stop cut short (a second Ctrl-C while the
        server takes its grace period) leaves the server not stopped, so the next call
        (pytest's unconfigure, then the atexit hook) finishes it, with SIGKILL at once."""
        with self._lock:
            if self._stopped or self.proc is None:
                self._stopped = True
                return
            pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
            if self._terminated:  # asked again after an interrupted stop: no more grace
                _killpg(pgid, signal.SIGKILL)
                self.proc.wait(timeout=30)
            else:
                self._terminated = True
                _killpg(pgid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=self.grace)
                except subprocess.TimeoutExpired:
                    _killpg(pgid, signal.SIGKILL)
                    self.proc.wait(timeout=30)
            # Children that ignored SIGTERM outlive the leader: the group still exists.
            if _group_alive(pgid):
                deadline = time.monotonic() + self.grace
                while _group_alive(pgid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                _killpg(pgid, signal.SIGKILL)
            self._stopped = True


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _exit_with_parent() -> None:
    """Runs in the child before exec: on Linux, SIGTERM it when its parent dies, even by
    SIGKILL, so a killed pytest run cannot leave a GPU server behind (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)

