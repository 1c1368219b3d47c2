"""One launched server per pytest run, shared by all xdist workers, stopped exactly once.

Each test runs pytest in a subprocess. The fast ones use a throwaway project: a conftest
that loads audiogate.plugin.one_server (and stands in for the main plugin's --model,
--report-dir, --models-file), a models file whose `launch:` is a tiny stdlib server that
appends its pid to a file. The slow one drives the real thing: `pytest benchmarks -n 2
--model whisper-tiny.en-served` against the shared LibriSpeech clips.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

FAKE_SERVER = textwrap.dedent("""
    import os, signal, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    port, pids = int(sys.argv[1]), sys.argv[2]
    if os.environ.get("SLOW_STOP"):  # takes its time to go: SIGTERM is noted, not obeyed
        def note(signum, frame):
            with open(pids + ".sigterm", "a") as f:
                f.write("SIGTERM\\n")
        signal.signal(signal.SIGTERM, note)
    with open(pids, "a") as f:
        f.write(f"{os.getpid()}\\n")
    class H(BaseHTTPRequestHandler):
        def log_message(self, *a): pass
        def do_GET(self):
            self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    HTTPServer(("127.0.0.1", port), H).serve_forever()
""")

# audiogate's plugin (an installed pytest11 entry point) brings --model, --report-dir,
# --models-file and, through it, the serving plugin under test.
CONFTEST = 'pytest_plugins = ["audiogate.plugin"]\n'

TESTS = textwrap.dedent("""
    import json, os, time
    import httpx, pytest
    from audiogate.plugin.one_server import engine_url

    @pytest.mark.parametrize("i", range(4))
    def test_uses_the_shared_server(request, i):
        url = engine_url(request.config, "fake-served")
        assert engine_url(request.config) == url  # the only server
        assert httpx.get(url + "/health").status_code == 200
        with open(os.environ["SEEN"], "a") as f:
            f.write(json.dumps({"pid": os.getpid(), "url": url}) + "\\n")
        if i == 0 and os.environ.get("MODE") == "fail":
            assert False, "a failing gate"
        if i == 0 and os.environ.get("MODE") == "hang":
            time.sleep(120)
""")


def _project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pytest.ini").write_text("[pytest]\naddopts = -p no:cacheprovider\n")
    (root / "conftest.py").write_text(CONFTEST)
    (root / "test_shared.py").write_text(TESTS)
    (root / "fake_server.py").write_text(FAKE_SERVER)
    launch = [sys.executable, str(root / "fake_server.py"), "{port}", str(root / "pids")]
    (root / "models.yaml").write_text(json.dumps({"fake-served": {
        "engine": "openai", "endpoint": "transcriptions", "launch": launch,
        "launch_timeout": 30}}))
    return root


# pytest as a terminal's foreground job runs it: SIGINT raises KeyboardInterrupt. A process
# started in the background by a shell without job control (`cmd &` in a script, a CI
# step) inherits SIGINT *ignored*, and Python then installs no handler: were this suite
# run so, the runs below would never see the Ctrl-C they are sent.
RUN_PYTEST = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
              "import pytest; sys.exit(pytest.main())")


def _pytest(root: Path, *args: str, mode: str = "",
            env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """pytest in a process group of its own (its xdist workers join it, the launched
    server has its own session): ``os.killpg`` on it is a Ctrl-C in its terminal."""
    env = {**os.environ, "SEEN": str(root / "seen"), "MODE": mode, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-c", RUN_PYTEST, "-q", "--model", "fake-served",
         "--models-file", str(root / "models.yaml"), "--report-dir", str(root / "rep"), *args],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _server_pids(root: Path) -> list[int]:
    path = root / "pids"
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _seen(root: Path) -> list[dict[str, object]]:
    path = root / "seen"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def _check_one_server_all_gone(root: Path) -> None:
    pids = _server_pids(root)
    assert len(pids) == 1, f"expected exactly one server start, got {pids}"
    log = (root / "rep" / "server-fake-served.log").read_text()
    assert log.count("listening on") == 1
    assert not _alive(pids[0]), "server still running after pytest exited"


def test_one_server_for_all_xdist_workers(tmp_path: Path) -> None:
    root = _project(tmp_path)
    proc = _pytest(root, "-n", "2", "-p", "no:randomly")
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 0, out
    _check_one_server_all_gone(root)
    seen = _seen(root)
    assert len(seen) == 4 and len({s["url"] for s in seen}) == 1
    assert len({s["pid"] for s in seen}) >= 1  # 1-2 workers ran tests; none started a server
    assert f"pid {_server_pids(root)[0]}" in out  # the controller says which server it started


def test_serial_run_also_launches_and_stops(tmp_path: Path) -> None:
    root = _project(tmp_path)
    proc = _pytest(root, "-p", "no:xdist")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    _check_one_server_all_gone(root)


def test_server_stopped_after_a_failing_test(tmp_path: Path) -> None:
    root = _project(tmp_path)
    proc = _pytest(root, "-n", "2", mode="fail")
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode == 1 and "a failing gate" in out, out
    _check_one_server_all_gone(root)


def _wait_for_a_test(root: Path, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _seen(root):
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.1)
    time.sleep(0.5)  # let the hanging test enter its sleep
    assert _server_pids(root) and _alive(_server_pids(root)[0])


@pytest.mark.parametrize(("sig", "to_group"), [(signal.SIGINT, False), (signal.SIGTERM, False),
                                                (signal.SIGINT, True)],
                         ids=["SIGINT", "SIGTERM", "Ctrl-C"])
def test_server_stopped_after_a_signal(tmp_path: Path, sig: signal.Signals,
                                       to_group: bool) -> None:
    """`kill -INT` / `kill` of the controller, and Ctrl-C (SIGINT to the controller and
    its workers at once), while a worker is in a blocking call (a 120 s sleep)."""
    root = _project(tmp_path)
    proc = _pytest(root, "-n", "2", mode="hang")
    _wait_for_a_test(root, proc)
    if to_group:
        os.killpg(proc.pid, sig)
    else:
        proc.send_signal(sig)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    _check_one_server_all_gone(root)


def test_a_second_ctrl_c_while_the_server_takes_its_time_still_stops_it(
        tmp_path: Path) -> None:
    """Ctrl-C, then Ctrl-C again while the server is in its grace period after SIGTERM
    (users press twice): the stop cut short is finished at exit, the server is gone."""
    root = _project(tmp_path)
    proc = _pytest(root, "-n", "2", mode="hang", env={"SLOW_STOP": "1"})
    _wait_for_a_test(root, proc)
    [server] = _server_pids(root)
    os.killpg(proc.pid, signal.SIGINT)
    noted = root / "pids.sigterm"
    deadline = time.monotonic() + 120
    while not noted.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert noted.exists(), "the first Ctrl-C never reached the server's stop"
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0, out
    deadline = time.monotonic() + 30
    while _alive(server) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(server), f"the server outlived two Ctrl-C:\n{out}"


def test_server_dies_with_a_sigkilled_controller(tmp_path: Path) -> None:
    """SIGKILL runs no cleanup at all: the server still goes (Linux parent-death signal)."""
    root = _project(tmp_path)
    proc = _pytest(root, "-p", "no:xdist", mode="hang")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _seen(root):
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.1)
    [server] = _server_pids(root)
    assert _alive(server)
    proc.kill()
    proc.communicate(timeout=60)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _alive(server):
        time.sleep(0.1)
    assert not _alive(server), "server outlived the SIGKILLed pytest process"


def test_engine_url_given_means_no_launch_and_is_health_checked(tmp_path: Path) -> None:
    root = _project(tmp_path)
    proc = _pytest(root, "-p", "no:xdist", "--engine-url", "http://127.0.0.1:9/v1")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 4, out
    assert "--engine-url http://127.0.0.1:9: no healthy server there" in out
    assert _server_pids(root) == [] and _seen(root) == []


def test_launch_failure_is_a_clear_usage_error(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "models.yaml").write_text(json.dumps({"fake-served": {
        "engine": "openai", "endpoint": "transcriptions",
        "launch": [sys.executable, "-c", "print('weights not found'); raise SystemExit(2)"]}}))
    proc = _pytest(root, "-n", "2")
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 4, out
    assert "could not start its server" in out and "weights not found" in out
    assert "created: 2/2 workers" not in out  # no worker was spawned for nothing


# -- the real thing: benchmarks/ through the main plugin ------------------------------

def _run_benchmarks(report: Path, data: Path, *extra: str,
                    env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", RUN_PYTEST, "benchmarks", "-n", "2", "-p", "no:randomly",
         "-k", "librispeech-test-clean", "--model", "whisper-tiny.en",
         "--model", "whisper-tiny.en-served", "--data-root", str(data),
         "--report-dir", str(report), "--no-store", *extra],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.slow
@pytest.mark.skipif(not (REPO / "benchmarks" / "test_asr.py").exists(),
                    reason="needs benchmarks/")
def test_benchmarks_served_equals_in_process(tmp_path: Path, shared_data: Path) -> None:
    """-n 2: one pair per worker; one server; identical per-sample outputs and WER."""
    report = tmp_path / "rep"
    proc = _run_benchmarks(report, shared_data)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    log = (report / "server-whisper-tiny.en-served.log").read_text()
    assert log.count("listening on") == 1 and "shutting down" in log
    pid = int(out.split("whisper-tiny.en-served server at ")[1].split("(pid ")[1].split(",")[0])
    assert not _alive(pid)
    rows = {r["result"]["model"]: r["result"]
            for r in json.loads((report / "audiogate-report.json").read_text())["rows"]}
    local, served = rows["whisper-tiny.en"], rows["whisper-tiny.en-served"]
    assert served["score"]["errors"] == 0 and served["score"]["scored"] == 6
    assert served["score"]["value"] == local["score"]["value"]

    def outputs(name: str) -> dict[str, str]:
        path = report / "samples" / f"{name}__librispeech-test-clean.jsonl"
        return {r["id"]: r["raw_output"] for r in map(json.loads, path.read_text().splitlines())}

    assert outputs("whisper-tiny.en-served") == outputs("whisper-tiny.en")


@pytest.mark.slow
@pytest.mark.skipif(not (REPO / "benchmarks" / "test_asr.py").exists(),
                    reason="needs benchmarks/")
def test_benchmarks_sigint_stops_the_served_model(tmp_path: Path, shared_data: Path) -> None:
    report = tmp_path / "rep"
    proc = _run_benchmarks(report, shared_data)
    log = report / "server-whisper-tiny.en-served.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (log.exists() and "POST" in log.read_text()):
        assert proc.poll() is None, proc.communicate()[0]
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # mid-run: requests are being served
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    pid = int(out.split("whisper-tiny.en-served server at ")[1].split("(pid ")[1].split(",")[0])
    deadline = time.monotonic() + 30
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), out
    assert log.read_text().count("listening on") == 1
