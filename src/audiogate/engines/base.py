"""The engine interface every backend implements: a public, versioned contract.

``ENGINE_API`` is its version. Built-in engines, ``engine: python`` factories and
third-party engines registered under the ``audiogate.engines`` entry-point group all
implement it; a change that breaks an existing engine raises the version.

Version 1:

- ``needs_audio`` (bool attribute): True when ``run`` reads ``Request.audio``. False only
  for engines that never listen (replayed predictions): their requests carry
  ``audio=None``, the audio files are not even opened, and a missing file is no error.
- ``identity()`` -> a JSON-serializable dict of everything that decides the output for a
  given request. The store keys every finished sample on it (with the task, the prompt,
  the dataset, the sample id and the audio's own hash), so an output is reused exactly
  while the identity is equal. For that to be safe it must hold:
  the engine kind (``"engine"``); the weights by CONTENT (a sha256 of the files, as
  ``weights.content_fingerprint`` gives, or a pinned immutable revision) — never only a
  path or a name whose files can change; the versions of the libraries that compute the
  output; the decoding / generation settings; the device and precision where they change
  the numbers; and anything else that moves a transcript (kernel choices, chunking of
  long audio). It must NOT hold what leaves the output unchanged (a URL, an API key, a
  timestamp), or nothing is ever reused. It is called once, before the first request, and
  must stay the same for the engine's life.
- ``run(requests)`` -> an iterator of ``Output``, exactly one per ``Request``, in any order
  (audiogate puts them back in sample order). A sample that fails is an ``Output`` with
  ``error`` set to a one-line message saying what happened (``text`` None): the other
  samples go on. ``not_attempted=True`` marks a sample the engine could not even try (its
  server is down): it is never stored and a rerun sends it again. ``run`` should not
  raise; when it does, audiogate reports every request it had not answered as failed with
  that exception (``GuardedEngine``), and the pair fails loudly.
- ``close()``: free the model or stop the server; called once at the end of the run.

Optional attributes audiogate reads when present: ``reuses_stored_outputs`` (False: the
identity cannot prove the weights, so outputs are reused only to resume the same run),
``last_dispatch`` (a dict for the report) and ``load_seconds`` (the model's load time).
An ``Output`` may carry its ``timing`` (samples.Timing); one that does not is timed by the
``seconds`` it reports (method ``reported``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from audiogate.paths import cache_home
from audiogate.samples import REPORTED, Output, Request, Timing


@dataclass(frozen=True)
class EngineContext:
    """Run-level settings an engine may need, from pytest options or the CLI."""

    engine_url: str | None = None  # an OpenAI-compatible server that is already running
    engine_urls: tuple[str, ...] = ()  # several replicas of it (engine_url is then unused)
    concurrency: int | str | None = None  # requests in flight: a number, or None/"auto"
    timeout: float = 600.0
    predictions: Path | None = None  # replay engine input
    cache_dir: Path = field(default_factory=cache_home)
    log_dir: Path | None = None  # where a launched server's log goes
    extra: dict[str, Any] = field(default_factory=dict)


ENGINE_API = 1  # the version of this contract


@runtime_checkable
class Engine(Protocol):
    """One engine instance serves a whole run (shared by all pairs of a model)."""

    needs_audio: bool

    def identity(self) -> dict[str, Any]: ...

    def run(self, requests: Iterable[Request]) -> Iterator[Output]: ...

    def close(self) -> None: ...


def is_engine(obj: object) -> bool:
    """Whether ``obj`` has the whole Engine interface (attributes and methods)."""
    return hasattr(obj, "needs_audio") and all(
        callable(getattr(obj, name, None)) for name in ("identity", "run", "close"))


class GuardedEngine:
    """An engine whose ``run`` cannot take the pair down: if it raises, every request it
    was handed and did not answer, and every request after them, becomes a failed sample
    naming the exception. Used around code audiogate does not own (python engines,
    plugins); ``identity`` (when given) replaces the inner one, which it should contain."""

    def __init__(self, inner: Engine, label: str,
                 identity: dict[str, Any] | None = None, *,
                 load_seconds: float | None = None) -> None:
        self._inner = inner
        self.label = label
        self.needs_audio = bool(inner.needs_audio)
        self._identity = identity  # what the caller adds around the inner identity
        # The model's load time: the engine's own, or how long building it took.
        own = getattr(inner, "load_seconds", None)
        self.load_seconds = own if isinstance(own, int | float) else load_seconds

    def __getattr__(self, name: str) -> Any:  # reuses_stored_outputs, last_dispatch, ...
        if name.startswith("__") or name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)

    def identity(self) -> dict[str, Any]:
        return self._inner.identity() if self._identity is None else self._identity

    def run(self, requests: Iterable[Request]) -> Iterator[Output]:
        handed: dict[str, Request] = {}
        source = iter(requests)

        def tracked() -> Iterator[Request]:
            for request in source:
                handed[request.sample.id] = request
                yield request

        started = time.perf_counter()
        try:
            for output in self._inner.run(tracked()):
                handed.pop(output.sample_id, None)
                yield reported_timing(output)
        except Exception as exc:
            error = f"{self.label} failed: {type(exc).__name__}: {exc}"
            for sample_id in list(handed):
                yield Output(sample_id, None, time.perf_counter() - started, error=error)
            for request in source:
                yield Output(request.sample.id, None, 0.0,
                             error=f"{error} (the engine stopped before this sample)")

    def close(self) -> None:
        self._inner.close()


def reported_timing(output: Output) -> Output:
    """An answered output without a timing, timed by the seconds it reports (an engine
    audiogate does not own may not measure its samples the way audiogate's own do)."""
    if output.timing is None and output.error is None and isinstance(
            output.seconds, int | float) and output.seconds > 0:
        output.timing = Timing(float(output.seconds), REPORTED)
    return output
