"""Inference engines. An engine knows nothing of datasets or scoring.

Each engine module exposes ``from_spec(spec: ModelSpec, ctx: EngineContext) -> Engine``;
kinds map to modules here and are imported only when used (the CPU install must not
need vllm, and vice versa). Other packages add kinds through the ``audiogate.engines``
entry-point group (plugins.py): the entry point's name is the kind, its object a module
with ``from_spec`` or the ``from_spec`` function itself.
"""

from __future__ import annotations

import importlib

from audiogate.engines.base import Engine, EngineContext
from audiogate.errors import RegistryError
from audiogate.registry.load import ModelSpec

__all__ = ["ENGINE_MODULES", "Engine", "EngineContext", "make_engine"]

ENGINE_MODULES: dict[str, str] = {
    "whisper-cpu": "audiogate.engines.whisper_cpu",
    "openai": "audiogate.engines.openai_engine",
    "vllm": "audiogate.engines.vllm_engine",
    "replay": "audiogate.engines.replay",
    "transformers": "audiogate.engines.transformers_engine",
    "python": "audiogate.engines.python_engine",
    "tts-cpu": "audiogate.engines.tts_cpu",  # the embedded text-to-speech (eSpeak NG)
}


def make_engine(spec: ModelSpec, ctx: EngineContext) -> Engine:
    from audiogate.engines import plugins
    from audiogate.engines.windowed import audio_limit, wrap

    if spec.engine in ENGINE_MODULES:
        limit = audio_limit(spec)  # a bad entry fails before any server starts
        module = importlib.import_module(ENGINE_MODULES[spec.engine])
        engine: Engine = module.from_spec(spec, ctx)
        return wrap(engine, limit)
    found = plugins.engine_kinds()
    if spec.engine not in found:
        raise RegistryError(
            f"model {spec.name!r}: unknown engine kind {spec.engine!r}; known: "
            f"{', '.join(sorted(ENGINE_MODULES))}"
            + (f"; from plugins: {', '.join(sorted(found))}" if found else "")
            + f" (a package adds kinds through the {plugins.GROUP!r} entry-point group)"
        )
    limit = audio_limit(spec)
    return wrap(plugins.make(found[spec.engine], spec, ctx), limit)
