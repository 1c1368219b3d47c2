"""Dataset loaders: each turns a native on-disk layout into a list of Samples.

A loader is ``fn(root: Path, spec: DatasetSpec) -> list[Sample]`` where ``root`` is
``data_root / spec.path``. Loaders register by kind in ``LOADERS`` (module path, function
name) and are imported only when used. Problems with single items become Samples with
``error`` set; a dataset that is not there at all raises DatasetMissing.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path

from audiogate.errors import DatasetMissing, RegistryError
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample

Loader = Callable[[Path, DatasetSpec], list[Sample]]

LOADERS: dict[str, str] = {
    "librispeech": "audiogate.datasets.librispeech:load",
    "manifest": "audiogate.datasets.manifest:load",
}


def loader_for(kind: str) -> Loader:
    if kind not in LOADERS:
        raise RegistryError(f"unknown loader kind {kind!r}; known: {', '.join(sorted(LOADERS))}")
    module, func = LOADERS[kind].split(":")
    loader: Loader = getattr(importlib.import_module(module), func)
    return loader


def how_to_get(spec: DatasetSpec) -> str:
    if spec.fetch:
        return f"run `audiogate data fetch {spec.fetch}` or pass --data-root / set AUDIOGATE_DATA_ROOT"
    return "pass --data-root / set AUDIOGATE_DATA_ROOT to a folder that holds it"


def load_dataset(spec: DatasetSpec, data_root: Path) -> list[Sample]:
    """All samples of ``spec`` under ``data_root``, sorted by id."""
    root = Path(spec.path) if Path(spec.path).is_absolute() else data_root / spec.path
    if not root.exists():
        raise DatasetMissing(
            f"dataset {spec.name!r}: nothing at {root} (data root {data_root}); {how_to_get(spec)}"
        )
    samples = loader_for(spec.loader)(root, spec)
    if not samples:
        raise DatasetMissing(f"dataset {spec.name!r}: {root} holds no samples; {how_to_get(spec)}")
    return sorted(samples, key=lambda s: s.id)
