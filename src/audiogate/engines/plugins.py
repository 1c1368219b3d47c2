"""Engines from other packages: the ``audiogate.engines`` entry-point group.

A package registers a kind in its pyproject.toml::

    [project.entry-points."audiogate.engines"]
    my-engine = "my_package.engine"            # a module with from_spec(spec, ctx)
    # or:  my-engine = "my_package.engine:from_spec"

and a model entry with ``engine: my-engine`` is built by it. ``from_spec`` gets the
ModelSpec (the entry's settings in ``spec.options``) and the EngineContext, and returns an
object implementing the Engine protocol (engines/base.py); audiogate guards its ``run``
(an exception fails the remaining samples, named, instead of the whole session) and adds
``plugin`` (the distribution and its version) to its identity. Built-in kinds win over a
plugin of the same name.
"""

from __future__ import annotations

import time
from importlib import metadata
from typing import Any

from audiogate.engines.base import ENGINE_API, Engine, EngineContext, GuardedEngine, is_engine
from audiogate.errors import AudiogateError, RegistryError
from audiogate.registry.load import ModelSpec

GROUP = "audiogate.engines"


def engine_kinds() -> dict[str, metadata.EntryPoint]:
    """The kinds installed packages register, by name."""
    return {ep.name: ep for ep in metadata.entry_points(group=GROUP)}


def _source(entry: metadata.EntryPoint) -> dict[str, Any]:
    dist = entry.dist
    return {"kind": entry.name, "object": entry.value,
            "distribution": dist.name if dist is not None else None,
            "version": dist.version if dist is not None else None}


def make(entry: metadata.EntryPoint, spec: ModelSpec, ctx: EngineContext) -> Engine:
    """The engine the plugin's ``from_spec`` builds for ``spec``."""
    source = _source(entry)
    where = f"model {spec.name!r}: engine {entry.name!r} ({entry.value}"
    where += f", from {source['distribution']} {source['version']})"
    try:
        loaded = entry.load()
    except Exception as exc:
        raise RegistryError(f"{where}: cannot be loaded: {type(exc).__name__}: {exc}") from exc
    from_spec = getattr(loaded, "from_spec", loaded)
    if not callable(from_spec):
        raise RegistryError(f"{where}: names neither a module with from_spec nor a function")
    loading = time.perf_counter()
    try:
        engine = from_spec(spec, ctx)
    except AudiogateError:
        raise
    except Exception as exc:
        raise RegistryError(f"{where}: from_spec failed: {type(exc).__name__}: {exc}") from exc
    if not is_engine(engine):
        raise RegistryError(f"{where}: from_spec returned {type(engine).__name__}, which lacks "
                            "the Engine interface (needs_audio, identity, run, close)")
    identity = {**engine.identity(), "plugin": source, "engine_api": ENGINE_API}
    return GuardedEngine(engine, f"engine {entry.name!r} ({entry.value})", identity,
                         load_seconds=time.perf_counter() - loading)
