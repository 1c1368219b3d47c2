"""One inference server per pytest run, shared by every pytest-xdist worker.

Why not xdist's FileLock recipe: it makes the first worker start the server, but no
worker knows it is the last one, so nobody can stop the server exactly once. Here the
server belongs to the process that outlives all workers: the xdist controller (or the
only process of a serial run).

- ``pytest_sessionstart`` (tryfirst: before xdist's own sessionstart spawns workers),
  controller only: for each selected ``--model`` whose entry has ``launch:`` (and no
  ``--engine-url`` was given), start the server, wait for GET /health, keep its log in
  the report dir. ``--engine-url`` is health-checked instead; unreachable = usage error.
  It may be given several times (replicas of one model): every replica must list the
  same models (GET /v1/models), or it is a usage error.
- ``pytest_configure_node``: the URLs go to each worker in ``node.workerinput``.
- ``pytest_unconfigure`` (trylast: after xdist has shut the workers down; pytest also
  runs it after a failing run and after Ctrl-C), an atexit hook, and SIGTERM (turned
  into KeyboardInterrupt while a server runs) all stop the server; stop is idempotent.

``engine_urls(config, model)`` is what the main plugin puts in ``EngineContext``.
"""

from __future__ import annotations

import argparse
import atexit
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import pytest

from audiogate.engines.dispatch import parse_concurrency, same_models
from audiogate.engines.launch import ServerProcess
from audiogate.engines.openai_engine import base_url, launched_server
from audiogate.errors import AudiogateError, UsageError
from audiogate.paths import cache_home
from audiogate.registry.load import ModelSpec

WORKERINPUT_KEY = "audiogate_engine_urls"
URL_ENGINES = {"openai"}  # engine kinds that talk to a server


@dataclass
class _State:
    servers: dict[str, ServerProcess] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    previous_sigterm: Any = None


_KEY = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("audiogate-engine", "audiogate: inference servers")
    group.addoption("--engine-url", action="append", default=None,
                    help="use this running OpenAI-compatible server (http://host:port) "
                         "instead of launching the model entry's server; repeat it for "
                         "replicas of one model (each request goes to the least busy)")
    group.addoption("--engine-concurrency", type=_concurrency, default="auto",
                    help="requests in flight per process for HTTP engines: a number, or "
                         "`auto` (default): follow the server's own queue (its /metrics)")
    group.addoption("--engine-timeout", type=float, default=600.0,
                    help="seconds one request may take before it errors (default 600)")


def _concurrency(value: str) -> str:
    try:
        parse_concurrency(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"`auto` or a positive integer, not {value!r}"
                                         ) from exc
    return value


def _given_urls(config: pytest.Config) -> list[str]:
    given = _opt(config, "engine_url", None) or []
    return [base_url(str(u)) for u in ([given] if isinstance(given, str) else given)]


def _opt(config: pytest.Config, name: str, default: Any = None) -> Any:
    """Options read defensively: the owning plugin may not be registered."""
    try:
        value = config.getoption(name)
    except ValueError:
        return default
    return default if value is None else value


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _selected_models(config: pytest.Config) -> list[ModelSpec]:
    from audiogate.registry.load import models

    names = _opt(config, "model", None) or ["whisper-tiny.en"]
    if isinstance(names, str):
        names = [names]
    extra = _opt(config, "models_file", None)
    known = models(Path(extra) if extra else None)
    return [known[n] for n in dict.fromkeys(names) if n in known]


def _report_dir(config: pytest.Config) -> Path:
    value = _opt(config, "report_dir", None)
    path = Path(value).expanduser() if value else Path(config.rootpath) / "reports"
    return path if path.is_absolute() else Path(config.invocation_params.dir) / path


def _check_reachable(url: str) -> None:
    """Any HTTP answer from /health or /v1/models means a server is there."""
    last: Exception | None = None
    for path in ("/health", "/v1/models"):
        try:
            response = httpx.get(f"{url}{path}", timeout=10.0)
        except httpx.HTTPError as exc:
            last = exc
            continue
        if response.status_code < 500:
            return
        last = AudiogateError(f"GET {path} answered HTTP {response.status_code}")
    pytest.exit(f"--engine-url {url}: no healthy server there ({last}); start it first or "
                "drop --engine-url to launch the model entry's server",
                returncode=pytest.ExitCode.USAGE_ERROR)


def _state(config: pytest.Config) -> _State:
    if _KEY not in config.stash:
        config.stash[_KEY] = _State()
    return config.stash[_KEY]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if _is_worker(config) or config.option.collectonly or getattr(config.option, "help", False):
        return
    given = _given_urls(config)
    if given:
        for url in given:
            _check_reachable(url)
        try:
            same_models(given)
        except UsageError as exc:
            pytest.exit(f"--engine-url: {exc}", returncode=pytest.ExitCode.USAGE_ERROR)
        return
    state = _state(config)
    try:
        specs = _selected_models(config)
    except AudiogateError as exc:
        pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
    for spec in specs:
        launch = spec.options.get("launch")
        if spec.engine not in URL_ENGINES or not launch or spec.name in state.servers:
            continue
        log = _report_dir(config) / f"server-{spec.name}.log"
        try:
            server = launched_server(spec, log, cache_home())
        except AudiogateError as exc:
            _stop_all(state)
            pytest.exit(f"model {spec.name}: could not prepare its server: {exc}",
                        returncode=pytest.ExitCode.USAGE_ERROR)
        state.servers[spec.name] = server
        if len(state.servers) == 1:
            atexit.register(_stop_all, state)
            _trap_sigterm(state)
        try:
            url = server.start()
        except AudiogateError as exc:
            _stop_all(state)
            pytest.exit(f"model {spec.name}: could not start its server: {exc}",
                        returncode=pytest.ExitCode.USAGE_ERROR)
        state.urls[spec.name] = url
        config.stash[_KEY] = state
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"audiogate: {spec.name} server at {url} "
                                f"(pid {server.pid}, log {log})")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: tell each worker where the servers are."""
    state = node.config.stash.get(_KEY, None)
    node.workerinput[WORKERINPUT_KEY] = dict(state.urls) if state else {}


def engine_urls(config: pytest.Config, model: str | None = None) -> tuple[str, ...]:
    """The servers for ``model``: every --engine-url, else the launched one (or none)."""
    given = _given_urls(config)
    if given:
        return tuple(given)
    url = engine_url(config, model)
    return (url,) if url else ()


def engine_url(config: pytest.Config, model: str | None = None) -> str | None:
    """The server for ``model`` (or the only one): the first --engine-url, else the
    launched one."""
    given = _given_urls(config)
    if given:
        return given[0]
    if _is_worker(config):
        urls: dict[str, str] = dict(config.workerinput.get(WORKERINPUT_KEY) or {})  # type: ignore[attr-defined]
    else:
        state = config.stash.get(_KEY, None)
        urls = dict(state.urls) if state else {}
    if model is not None:
        return urls.get(model)
    return next(iter(urls.values())) if len(urls) == 1 else None


def launched_url(config: pytest.Config, model: str) -> bool:
    """Whether ``model``'s server is one this run launched (so its entry's launch command
    says what it declares, e.g. --max-num-seqs)."""
    return not _given_urls(config) and engine_url(config, model) is not None


def launched_servers(config: pytest.Config) -> dict[str, ServerProcess]:
    """The servers this process started (empty in workers), for reports and tests."""
    state = config.stash.get(_KEY, None)
    return dict(state.servers) if state else {}


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(_KEY, None)
    if state is not None:
        _stop_all(state)


def _stop_all(state: _State) -> None:
    for server in state.servers.values():
        server.stop()
    _restore_sigterm(state)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt("SIGTERM")  # pytest then unwinds and unconfigures: server stops


def _trap_sigterm(state: _State) -> None:
    """`kill <pytest pid>` must not orphan the server (the default action skips cleanup)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        state.previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)


def _restore_sigterm(state: _State) -> None:
    if state.previous_sigterm is not None and \
            threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, state.previous_sigterm)
        state.previous_sigterm = None
