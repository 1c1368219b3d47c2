"""Inference engines. An engine knows nothing of datasets or scoring.

Each engine module exposes ``from_spec(spec: ModelSpec, ctx: EngineContext) -> Engine``;
kinds map to modules here and are imported only when used (the CPU install must not
need vllm, and vice versa).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiogate.engines.base import Engine
from audiogate.errors import RegistryError
from audiogate.paths import cache_home
from audiogate.registry.load import ModelSpec

ENGINE_MODULES: dict[str, str] = {
    "whisper-cpu": "audiogate.engines.whisper_cpu",
    "openai": "audiogate.engines.openai_engine",
    "vllm": "audiogate.engines.vllm_engine",
    "replay": "audiogate.engines.replay",
    "tts-cpu": "audiogate.engines.tts_cpu",  # the embedded text-to-speech (eSpeak NG)
}


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


def make_engine(spec: ModelSpec, ctx: EngineContext) -> Engine:
    if spec.engine not in ENGINE_MODULES:
        raise RegistryError(
            f"model {spec.name!r}: unknown engine kind {spec.engine!r}; "
            f"known: {', '.join(sorted(ENGINE_MODULES))}"
        )
    from audiogate.engines.windowed import audio_limit, wrap

    limit = audio_limit(spec)  # a bad entry fails before any server starts
    module = importlib.import_module(ENGINE_MODULES[spec.engine])
    engine: Engine = module.from_spec(spec, ctx)
    return wrap(engine, limit)
