"""``engine: python``: your own code as an engine, with audiogate's store, gate and errors.

The entry names a factory, ``factory: package.module:function``, called once per run with
the entry's ``kwargs`` (and ``checkpoint=`` the resolved path, when the entry has one).
It returns either

- an object implementing the Engine protocol (engines/base.py: ``needs_audio``,
  ``identity()``, ``run()``, ``close()``), used as it is; or
- plain code: a function ``transcribe(audio, sample_rate) -> str`` (or one taking a
  third argument, ``answer(audio, sample_rate, prompt) -> str``), or an object with
  ``transcribe`` and/or ``answer`` methods (and optionally ``identity() -> dict`` and
  ``close()``). audiogate feeds it 16 kHz mono float32 numpy arrays, in batches of the
  entry's ``batch_size`` sorted by length when that is above 1 (then each call takes a
  list of arrays, and of prompts, and returns a list of str), turns an exception into
  that sample's error, and stores every answer.

The identity (what the store keys outputs on) holds the factory, its kwargs, the
entry's ``identity:`` fields (a version, ...), the checkpoint's content sha256 (file or
folder), and the object's own ``identity()``. Change any of them and nothing old is reused.
"""

from __future__ import annotations

import importlib
import inspect
import json
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from audiogate.datasets.audio import TARGET_RATE
from audiogate.engines import EngineContext
from audiogate.engines.base import ENGINE_API, Engine, GuardedEngine, is_engine
from audiogate.engines.batching import batch_timing, run_batched
from audiogate.engines.weights import WEIGHTS, content_fingerprint, resolve
from audiogate.errors import RegistryError
from audiogate.registry.load import ModelSpec
from audiogate.samples import Output, Request


def load_factory(path: str, model: str) -> Callable[..., Any]:
    """``package.module:function`` imported; a RegistryError that says why not."""
    module_name, sep, attribute = str(path).partition(":")
    if not sep or not module_name or not attribute:
        raise RegistryError(f"model {model!r}: factory must be `package.module:function`, "
                            f"not {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RegistryError(f"model {model!r}: cannot import {module_name!r} for factory "
                            f"{path!r} ({exc}); install it, or put its folder on PYTHONPATH "
                            "(`python -m pytest` adds the current folder)") from exc
    found: Any = module
    for part in attribute.split("."):
        found = getattr(found, part, None)
    if not callable(found):
        raise RegistryError(f"model {model!r}: {module_name} has no callable {attribute!r} "
                            f"(factory {path!r})")
    return found  # type: ignore[no-any-return]


def checkpoint_path(value: str, cache_dir: Path, model: str) -> Path:
    """The entry's ``checkpoint:``: a weights name (``hf:whisper-tiny.en``), ``env:VAR``, or
    a file or folder path (``~`` expanded; relative to the current folder)."""
    if value in WEIGHTS or value.startswith("env:"):
        return resolve(value, cache_dir)
    path = Path(value).expanduser()
    if not path.exists():
        raise RegistryError(f"model {model!r}: checkpoint {value}: no such file or folder")
    return path.resolve()


def _arity(function: Callable[..., Any]) -> int:
    """How many positional arguments ``function`` takes (3 = an answer function)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return 2
    return sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters)


def prompt_text(request: Request) -> str:
    """The text parts of a chat prompt, one per line (what a plain answer function gets)."""
    return "\n".join(text for kind, text in (request.prompt or ()) if kind == "text")


class CallableEngine:
    """Plain code (``transcribe`` / ``answer``) behind the Engine protocol."""

    needs_audio = True

    def __init__(self, made: Any, label: str, batch_size: int) -> None:
        self.label = label
        self.batch_size = batch_size
        self._made = made
        self._transcribe: Callable[..., Any] | None = getattr(made, "transcribe", None)
        self._answer: Callable[..., Any] | None = getattr(made, "answer", None)
        if self._transcribe is None and self._answer is None:
            if not callable(made):
                raise RegistryError(f"{label}: the factory returned {type(made).__name__}, "
                                    "which is neither an Engine nor callable nor has "
                                    "transcribe/answer methods")
            if _arity(made) >= 3:
                self._answer = made
            else:
                self._transcribe = made
        own = getattr(made, "identity", None)
        self.own_identity: dict[str, Any] | None = dict(own()) if callable(own) else None

    def identity(self) -> dict[str, Any]:
        return {"object": self.own_identity}

    def _infer(self, batch: list[Request]) -> list[Output]:
        started = time.perf_counter()
        answer = batch[0].prompt is not None and self._answer is not None
        function = self._answer if answer else self._transcribe
        if function is None:
            raise RuntimeError("the factory's code has no transcribe(audio, sample_rate)")
        audios = [r.audio for r in batch]
        prompts = [prompt_text(r) for r in batch]
        if self.batch_size == 1:
            texts = [function(audios[0], TARGET_RATE, prompts[0]) if answer
                     else function(audios[0], TARGET_RATE)]
        else:
            texts = list(function(audios, TARGET_RATE, prompts) if answer
                         else function(audios, TARGET_RATE))
        if len(texts) != len(batch):
            raise RuntimeError(f"returned {len(texts)} texts for {len(batch)} clips")
        bad = next((t for t in texts if not isinstance(t, str)), None)
        if bad is not None:
            raise TypeError(f"returned {type(bad).__name__}, not str")
        timing = batch_timing(time.perf_counter() - started, len(batch))
        return [Output(r.sample.id, t, timing.latency, timing=timing)
                for r, t in zip(batch, texts, strict=True)]

    def run(self, requests: Iterable[Request]) -> Iterator[Output]:
        return run_batched(requests, self.batch_size, self._infer, self.label,
                           sort=self.batch_size > 1,
                           group=lambda r: r.prompt is not None)

    def close(self) -> None:
        close = getattr(self._made, "close", None)
        if callable(close):
            close()


def identified(spec: ModelSpec, inner: Engine, fields: dict[str, Any], *,
               load_seconds: float | None = None) -> GuardedEngine:
    """The user's engine, guarded, its identity inside the entry's fields (checked to be a
    JSON-serializable dict: the store keys outputs on it)."""
    inner_identity = inner.identity()
    if not isinstance(inner_identity, Mapping):
        raise RegistryError(f"model {spec.name!r}: identity() of the factory's engine "
                            f"returned {type(inner_identity).__name__}, not a dict")
    try:  # the store keys outputs on its sorted-key JSON
        json.dumps(dict(inner_identity), sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise RegistryError(f"model {spec.name!r}: identity() of the factory's engine "
                            f"is not JSON-serializable ({exc})") from exc
    identity = {**fields, "engine_api": ENGINE_API, "inner": dict(inner_identity)}
    return GuardedEngine(inner, f"{spec.name} ({fields['factory']})", identity,
                         load_seconds=load_seconds)


def from_spec(spec: ModelSpec, ctx: EngineContext) -> GuardedEngine:
    options = spec.options
    if not options.get("factory"):
        raise RegistryError(f"model {spec.name!r}: an engine python entry needs "
                            "`factory: package.module:function`")
    kwargs = options.get("kwargs") or {}
    user = options.get("identity") or {}
    for key, value in (("kwargs", kwargs), ("identity", user)):
        if not isinstance(value, dict):
            raise RegistryError(f"model {spec.name!r}: {key} must be a mapping, not {value!r}")
    batch_size = options.get("batch_size", 1)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise RegistryError(f"model {spec.name!r}: batch_size must be a whole number >= 1, "
                            f"not {batch_size!r}")
    factory = load_factory(str(options["factory"]), spec.name)
    call_kwargs = dict(kwargs)
    fields: dict[str, Any] = {"engine": "python", "factory": str(options["factory"]),
                              "kwargs": dict(kwargs), "identity": dict(user),
                              "batch_size": batch_size}
    if options.get("checkpoint"):
        path = checkpoint_path(str(options["checkpoint"]), ctx.cache_dir, spec.name)
        call_kwargs["checkpoint"] = str(path)
        fields["checkpoint"] = content_fingerprint(path, ctx.cache_dir)
    label = f"{spec.name} ({options['factory']})"
    loading = time.perf_counter()
    try:
        made = factory(**call_kwargs)
    except Exception as exc:
        raise RegistryError(f"model {spec.name!r}: factory {options['factory']} failed: "
                            f"{type(exc).__name__}: {exc}") from exc
    inner: Engine = made if is_engine(made) else CallableEngine(made, label, batch_size)
    return identified(spec, inner, fields, load_seconds=time.perf_counter() - loading)
