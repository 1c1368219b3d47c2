"""Dataset loaders: each turns a native on-disk layout into a list of Samples.

A loader is ``fn(root: Path, spec: DatasetSpec) -> list[Sample]`` where ``root`` is
``data_root / spec.path``. Loaders register by kind in ``LOADERS`` (module path, function
name) and are imported only when used. Problems with single items become Samples with
``error`` set; a dataset that is not there at all raises DatasetMissing.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from audiogate.errors import DatasetMissing, RegistryError
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample

Loader = Callable[[Path, DatasetSpec], list[Sample]]

LOADERS: dict[str, str] = {
    "aishell": "audiogate.datasets.aishell:load",
    "fleurs": "audiogate.datasets.fleurs:load",
    "hf": "audiogate.datasets.hf:load",
    "librispeech": "audiogate.datasets.librispeech:load",
    "librispeech-chapters": "audiogate.datasets.chapters:load",
    "librispeech-pc-cross-sentence": "audiogate.datasets.librispeech_pc:load",
    "librispeech-tts": "audiogate.datasets.librispeech_tts:load",
    "manifest": "audiogate.datasets.manifest:load",
    "mmau": "audiogate.datasets.mmau:load",
    "seed-tts": "audiogate.datasets.seed_tts:load",
    "tedlium": "audiogate.datasets.tedlium:load",
    "tedlium-talks": "audiogate.datasets.tedlium_talks:load",
    "tts-manifest": "audiogate.datasets.tts_manifest:load",
    "earnings": "audiogate.datasets.earnings:load",
}


def loader_for(kind: str) -> Loader:
    if kind not in LOADERS:
        raise RegistryError(f"unknown loader kind {kind!r}; known: {', '.join(sorted(LOADERS))}")
    module, func = LOADERS[kind].split(":")
    loader: Loader = getattr(importlib.import_module(module), func)
    return loader


def how_to_get(spec: DatasetSpec) -> str:
    if spec.fetch:
        return (f"pass --data-root DIR or set AUDIOGATE_DATA_ROOT to a folder that holds "
                f"{spec.path}, or download it with `audiogate data fetch {spec.fetch}`")
    if spec.options.get("get"):
        return (f"pass --data-root DIR or set AUDIOGATE_DATA_ROOT to a folder that holds "
                f"{spec.path}; get it with: {spec.options['get']}")
    return "pass --data-root / set AUDIOGATE_DATA_ROOT to a folder that holds it"


def hf_copy(spec: DatasetSpec, data_root: Path) -> tuple[DatasetSpec, Path] | None:
    """The entry's ``hf:`` block as an ``hf``-loader spec, if that copy is on disk.

    Lets ONE registry name be read from either layout: the official archive layout
    first, the Hugging Face parquet snapshot (what UltraEval-Audio reads) otherwise.
    ``hf: {path, split, config, reference_field, id_field, expected_samples}``.
    """
    block = spec.options.get("hf")
    if not isinstance(block, dict) or "path" not in block:
        return None
    root = Path(block["path"]) if Path(block["path"]).is_absolute() else data_root / block["path"]
    if not root.exists():
        return None
    options = {k: v for k, v in spec.options.items() if k != "hf"}
    options.update({k: v for k, v in block.items() if k not in {"path", "expected_samples"}})
    expected = block.get("expected_samples", spec.expected_samples)
    return replace(spec, loader="hf", path=str(block["path"]), options=options,
                   expected_samples=expected), root


def load_dataset(spec: DatasetSpec, data_root: Path) -> list[Sample]:
    """All samples of ``spec`` under ``data_root``, sorted by id."""
    return load_dataset_with_notes(spec, data_root)[0]


def load_dataset_with_notes(spec: DatasetSpec, data_root: Path
                            ) -> tuple[list[Sample], list[str]]:
    """The samples, and the loader's notes for the report (e.g. segments it ignored).

    A loader module that has more to say defines ``load_with_notes(root, spec) ->
    (samples, notes)``, which is then used instead of its plain loader (one read of the
    files for both).
    """
    root = Path(spec.path) if Path(spec.path).is_absolute() else data_root / spec.path
    if not root.exists() and (copy := hf_copy(spec, data_root)) is not None:
        spec, root = copy  # the native layout is absent: read the Hugging Face copy
    if not root.exists():
        raise DatasetMissing(
            f"dataset {spec.name!r}: nothing at {root} (data root {data_root}); {how_to_get(spec)}"
        )
    loader = loader_for(spec.loader)
    with_notes = getattr(importlib.import_module(loader.__module__), "load_with_notes", None)
    samples, notes = with_notes(root, spec) if with_notes else (loader(root, spec), [])
    if not samples:
        raise DatasetMissing(f"dataset {spec.name!r}: {root} holds no samples; {how_to_get(spec)}")
    return sorted(unique_ids(samples), key=lambda s: s.id), notes


def unique_ids(samples: Sequence[Sample]) -> list[Sample]:
    """Every sample keeps its own record: a repeated id (the same utterance listed twice) is
    renamed ``<id>#<n>`` and made an error, so it is counted, never silently dropped or
    scored twice."""
    seen: dict[str, int] = {}
    out = []
    # a usable sample keeps the plain id; the loader's own duplicate errors take the suffix
    for sample in sorted(samples, key=lambda s: s.error is not None):
        count = seen.get(sample.id, 0)
        seen[sample.id] = count + 1
        if count == 0:
            out.append(sample)
            continue
        error = sample.error or f"duplicate id {sample.id!r} (occurrence {count + 1})"
        out.append(replace(sample, id=f"{sample.id}#{count + 1}", error=error))
    return out


def _is_missing_audio(sample: Sample) -> bool:
    return sample.error is not None and bool(sample.meta.get("missing_audio"))


def missing_audio_hint(spec: DatasetSpec) -> str | None:
    """What the dataset's loader says about missing audio (``MISSING_AUDIO_HINT``), if any."""
    if spec.loader not in LOADERS:
        return None
    module = importlib.import_module(LOADERS[spec.loader].split(":")[0])
    hint = getattr(module, "MISSING_AUDIO_HINT", None)
    return str(hint) if hint else None


def missing_audio_summary(samples: Sequence[Sample], show: int = 3,
                          hint: str | None = None) -> str | None:
    """One line for a gated run whose audio is not all there, or None when none is missing.

    Says how many files are missing, the folder(s) looked in, the first few paths, and the
    dataset's own hint (MMAU: its clips are a separate archive), so the fix is obvious.
    """
    missing = [s.audio_path for s in samples if _is_missing_audio(s) and s.audio_path]
    if not missing:
        return None
    folders = sorted({str(p.parent) for p in missing})
    shown = ", ".join(str(p) for p in missing[:show])
    more = f" (+{len(missing) - show} more)" if len(missing) > show else ""
    return (
        f"{len(missing)} of {len(samples)} audio files missing; looked in "
        f"{', '.join(folders[:show])}{' ...' if len(folders) > show else ''}; "
        f"first missing: {shown}{more}" + (f"; {hint}" if hint else "")
    )


def ignore_missing_audio(samples: Sequence[Sample]) -> list[Sample]:
    """The samples with missing-audio errors cleared, for engines with ``needs_audio=False``.

    A replay of recorded predictions does not read audio, so a machine without the
    (separately distributed) clips can still score and gate them.
    """
    return [dataclasses.replace(s, error=None) if _is_missing_audio(s) else s for s in samples]
