"""ServerProcess: start, health, stop (idempotent, whole process group), early death."""

from __future__ import annotations

import os
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

from audiogate.engines.launch import ServerProcess, _argv
from audiogate.errors import EngineError

# A stand-in server: answers /health, forks a child that ignores SIGTERM (like a
# tensor-parallel worker that hangs on shutdown), writes both pids to a file.
FAKE_SERVER = textwrap.dedent("""
    import os, signal, subprocess, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    port, pids = int(sys.argv[1]), sys.argv[2]
    child = subprocess.Popen([sys.executable, "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(300)"])
    with open(pids, "w") as f:
        f.write(f"{os.getpid()} {child.pid}")
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    HTTPServer(("127.0.0.1", port), H).serve_forever()
""")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is dead for our purpose.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _wait_dead(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_start_health_stop_kills_the_process_group(tmp_path: Path) -> None:
    script = tmp_path / "fake_server.py"
    script.write_text(FAKE_SERVER)
    pids = tmp_path / "pids"
    server = ServerProcess([sys.executable, str(script), "{port}", str(pids)],
                           tmp_path / "server.log", startup_timeout=30, grace=1.0)
    url = server.start()
    assert url == f"http://127.0.0.1:{server.port}"
    assert httpx.get(f"{url}/health").status_code == 200
    leader, child = (int(p) for p in pids.read_text().split())
    assert leader == server.pid and _alive(child)
    server.stop()
    assert _wait_dead(leader) and _wait_dead(child), "SIGTERM-ignoring child must be SIGKILLed"
    server.stop()  # idempotent: no error, nothing to do
    assert "listening on" in (tmp_path / "server.log").read_text()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health", timeout=2)


def test_stop_before_start_is_a_no_op(tmp_path: Path) -> None:
    server = ServerProcess(["true"], tmp_path / "x.log")
    server.stop()
    server.stop()


def test_command_that_dies_at_start_reports_its_log_tail(tmp_path: Path) -> None:
    code = "import sys; print('loading weights'); print('CUDA error: no GPU found'); sys.exit(3)"
    server = ServerProcess([sys.executable, "-c", code], tmp_path / "dead.log",
                           startup_timeout=30)
    with pytest.raises(EngineError) as info:
        server.start()
    message = str(info.value)
    assert "exited with code 3" in message
    assert "CUDA error: no GPU found" in message and str(tmp_path / "dead.log") in message


def test_missing_executable_is_a_clear_error(tmp_path: Path) -> None:
    server = ServerProcess(["no-such-server-binary-xyz", "--port", "{port}"],
                           tmp_path / "x.log")
    with pytest.raises(EngineError, match="cannot start server `no-such-server-binary-xyz`"):
        server.start()


def test_startup_timeout_stops_the_server(tmp_path: Path) -> None:
    code = "import time; print('still loading', flush=True); time.sleep(300)"
    server = ServerProcess([sys.executable, "-c", code], tmp_path / "slow.log",
                           startup_timeout=1.0, grace=1.0)
    with pytest.raises(EngineError, match="not healthy after"):
        server.start()
    assert server.pid is not None and _wait_dead(server.pid)


def test_launch_line_substitution_leaves_jinja_braces_alone() -> None:
    argv = _argv(["vllm", "--port", "{port}", "--host", "{host}",
                  "--chat-template", "{%- if x -%}{{ '{port}' }}{%- endif -%}"], 8123, "127.0.0.1")
    assert argv[2:5] == ["8123", "--host", "127.0.0.1"]
    assert argv[-1] == "{%- if x -%}{{ '8123' }}{%- endif -%}"
    assert _argv("serve --limit '{\"audio\": 4}' --port {port}", 9, "h")[1:] == \
        ["--limit", '{"audio": 4}', "--port", "9"]


def test_real_audiogate_serve_starts_and_stops(tmp_path: Path) -> None:
    """The console script beside the interpreter is found without PATH; SIGTERM ends it."""
    env_path = os.environ.get("PATH", "")
    bindir = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join(p for p in env_path.split(os.pathsep) if p != bindir)
    try:
        server = ServerProcess("audiogate serve --model whisper-tiny.en --port {port}",
                               tmp_path / "serve.log", startup_timeout=120, grace=10)
        url = server.start()
    finally:
        os.environ["PATH"] = env_path
    try:
        models = httpx.get(f"{url}/v1/models").json()
        assert [m["id"] for m in models["data"]] == ["whisper-tiny.en"]
    finally:
        server.stop()
    assert server.proc is not None and server.proc.returncode == 0  # clean SIGTERM exit
    log = (tmp_path / "serve.log").read_text()
    assert f"listening on {url}" in log and "shutting down" in log


# A server that takes its time to go: SIGTERM is noted in a file and otherwise ignored.
SLOW_TO_STOP = textwrap.dedent("""
    import os, signal, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    port, pids, noted = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    def note(signum, frame):
        with open(noted, "a") as f:
            f.write("SIGTERM\\n")
    signal.signal(signal.SIGTERM, note)
    with open(pids, "w") as f:
        f.write(str(os.getpid()))
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    HTTPServer(("127.0.0.1", port), H).serve_forever()
""")

# What the one-server hooks do: start, stop at the end and in an atexit hook. The SIGINT
# handler is set here: a process started in the background inherits SIGINT ignored.
STOPPER = textwrap.dedent("""
    import atexit, signal, sys
    from pathlib import Path
    from audiogate.engines.launch import ServerProcess
    signal.signal(signal.SIGINT, signal.default_int_handler)
    script, pids, noted, log = sys.argv[1:5]
    server = ServerProcess([sys.executable, script, "{port}", pids, noted], Path(log),
                           startup_timeout=60, grace=60.0)
    server.start()
    atexit.register(server.stop)
    print("started", flush=True)
    server.stop()  # the run's end; a second Ctrl-C comes while the server takes its time
""")


def test_a_stop_cut_short_by_a_second_ctrl_c_is_finished_by_the_atexit_hook(
        tmp_path: Path) -> None:
    """A second Ctrl-C during the grace period aborts stop(); the atexit hook's stop()
    must then still end the server (SIGKILL at once), not take it for stopped."""
    import signal
    import subprocess

    script, stopper = tmp_path / "slow.py", tmp_path / "stopper.py"
    script.write_text(SLOW_TO_STOP)
    stopper.write_text(STOPPER)
    pids, noted = tmp_path / "pids", tmp_path / "noted"
    proc = subprocess.Popen([sys.executable, str(stopper), str(script), str(pids), str(noted),
                             str(tmp_path / "server.log")], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "started"
        deadline = time.monotonic() + 60
        while not (noted.exists() and "SIGTERM" in noted.read_text()):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        server = int(pids.read_text())
        assert _alive(server)
        proc.send_signal(signal.SIGINT)  # the second Ctrl-C
        proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert _wait_dead(server), "the server outlived a stop cut short by Ctrl-C"
