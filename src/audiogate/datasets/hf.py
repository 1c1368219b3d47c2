"""Hugging Face parquet layout, read from a LOCAL snapshot folder (never the hub).

UltraEval-Audio evaluates the Hugging Face copies (TwinkStart/librispeech, google/fleurs,
TwinkStart/AISHELL-1, ...). A snapshot folder (what `huggingface-cli download --repo-type
dataset` writes) holds parquet shards in one of the hub's layouts::

    data/<split>-00000-of-00002.parquet          # default config
    <config>/<split>-00000-of-00001.parquet      # named config
    <config>/<split>/0000.parquet                # parquet-converter branch
    <config>/<name>-<split>-00000-of-00002.parquet

Spec options: ``split`` (required), ``config``, ``reference_field`` (default ``text``),
``id_field`` (default: the stem of the audio struct's ``path``), ``audio_field``
(default ``audio``), ``audio_cache`` (default ``<data root>/.hf-audio``).

Audio is the ``datasets.Audio`` feature struct ``{bytes, path}``. The engines read
``Sample.audio_path``, so the encoded bytes are written ONCE, unchanged (FLAC stays the
same FLAC), to ``.hf-audio/<sha[:2]>/<sha256>.<ext>`` keyed by the bytes' sha256:
decoding gives exactly the samples the hub copy holds, re-reads are free, and two
datasets sharing a clip share one file. Writes are atomic (temp file + ``os.replace``),
so parallel workers never see half a file. A struct with no bytes but a ``path`` that
exists relative to the snapshot is used in place. Every other scalar column goes into
``Sample.meta`` (MMAU choices, FLEURS gender, ...).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

from audiogate.errors import DataError, DatasetMissing
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"fLaC", ".flac"), (b"RIFF", ".wav"), (b"OggS", ".ogg"), (b"ID3", ".mp3"),
    (b"\xff\xfb", ".mp3"), (b"\xff\xf3", ".mp3"), (b"\xff\xf2", ".mp3"), (b"NIST_1A", ".sph"),
)


def parquet_files(root: Path, split: str, config: str | None = None) -> list[Path]:
    """The shards of ``split`` (first layout that matches), sorted: shard order = row order."""
    patterns = []
    if config:
        patterns += [f"{config}/{split}-*.parquet", f"{config}/{split}.parquet",
                     f"{config}/{split}/*.parquet", f"data/{config}/{split}-*.parquet",
                     f"{config}/*-{split}-*.parquet", f"{config}/*-{split}.parquet"]
    patterns += [f"data/{split}-*.parquet", f"data/{split}.parquet", f"data/{split}/*.parquet",
                 f"{split}/*.parquet", f"{split}-*.parquet"]
    for pattern in patterns:
        found = sorted(root.glob(pattern))
        if found:
            return found
    raise DatasetMissing(
        f"{root}: no parquet shards for split {split!r}"
        + (f" of config {config!r}" if config else "")
        + f" (looked for {', '.join(patterns)})"
    )


def _data_root(root: Path, spec: DatasetSpec) -> Path:
    """``root`` is ``data_root / spec.path``; recover the data root for the audio cache."""
    rel = PurePosixPath(spec.path)
    n = len(rel.parts)
    if not rel.is_absolute() and n and root.parts[-n:] == rel.parts:
        return Path(*root.parts[:-n]) if len(root.parts) > n else Path(".")
    return root


def _suffix(data: bytes, path: str | None) -> str:
    if path and PurePosixPath(path).suffix:
        return PurePosixPath(path).suffix.lower()
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    return ".audio"


def cache_audio(data: bytes, path: str | None, cache: Path) -> Path:
    """Write ``data`` once under ``cache`` keyed by its sha256; return the file."""
    digest = hashlib.sha256(data).hexdigest()
    target = cache / digest[:2] / f"{digest}{_suffix(data, path)}"
    if target.exists() and target.stat().st_size == len(data):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def _rows(files: list[Path]) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """Rows of every shard in batches, so a multi-GB split never sits in memory at once."""
    import pyarrow.parquet as pq  # type: ignore[import-untyped]  # only hf needs pyarrow

    for file in files:
        try:
            handle = pq.ParquetFile(file)
            number = 0
            for batch in handle.iter_batches(batch_size=64):
                for row in batch.to_pylist():
                    yield file, number, row
                    number += 1
        except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError)
            raise DataError(f"{file}: cannot read parquet ({exc})") from exc


def load(root: Path, spec: DatasetSpec) -> list[Sample]:
    """Every row of the split as a Sample; rows without audio or reference are error samples."""
    opts = spec.options
    split = opts.get("split")
    if not split:
        raise DataError(f"dataset {spec.name!r}: the hf loader needs a `split` option")
    ref_field = str(opts.get("reference_field", "text"))
    id_field = opts.get("id_field")
    audio_field = str(opts.get("audio_field", "audio"))
    cache = Path(opts["audio_cache"]) if opts.get("audio_cache") else (
        _data_root(root, spec) / ".hf-audio")
    files = parquet_files(root, str(split), opts.get("config"))

    samples: list[Sample] = []
    seen: dict[str, str] = {}
    for file, number, row in _rows(files):
        where = f"{file} row {number}"
        audio = row.get(audio_field)
        audio_name = audio.get("path") if isinstance(audio, dict) else None
        if id_field:
            raw_id = row.get(str(id_field))
            utt_id = "" if raw_id is None else str(raw_id)
        else:
            utt_id = PurePosixPath(audio_name).stem if audio_name else ""
        if not utt_id:
            utt_id = f"{file.stem}-{number}"
        meta = {k: v for k, v in row.items()
                if k not in {audio_field, ref_field} and not isinstance(v, bytes | dict)}
        meta["layout"] = "hf"
        reference = row.get(ref_field)
        if utt_id in seen:
            error = f"{where}: duplicate id {utt_id!r} (first at {seen[utt_id]})"
            samples.append(Sample(utt_id, str(reference or ""), None, meta=meta, error=error))
            continue
        seen[utt_id] = where
        if reference is None or (isinstance(reference, str) and not reference.strip()):
            error = f"{where}: field {ref_field!r} is missing or empty"
            samples.append(Sample(utt_id, "", None, meta=meta, error=error))
            continue
        text = reference if isinstance(reference, str) else str(reference)
        path, problem = _audio_path(audio, root, cache, where, audio_field)
        samples.append(Sample(utt_id, text.strip(), path, meta=meta, error=problem))
    return samples


def _audio_path(audio: Any, root: Path, cache: Path, where: str,
                field: str) -> tuple[Path | None, str | None]:
    if not isinstance(audio, dict):
        return None, f"{where}: field {field!r} is not an audio struct {{bytes, path}}"
    data = audio.get("bytes")
    if data:
        return cache_audio(data, audio.get("path"), cache), None
    name = audio.get("path")
    if name and (root / name).is_file():
        return root / name, None
    return None, f"{where}: audio struct has no bytes and no file at {name!r}"
