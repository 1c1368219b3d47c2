"""FLEURS (one language config, e.g. ``cmn_hans_cn``) in the google/fleurs file layout.

``root`` is the config folder::

    <split>.tsv            # no header: id, file_name, raw_transcription, transcription,
                           #            chars, num_samples, gender
    audio/<split>/<file_name>

Reference: the ``reference_field`` option, default ``raw_transcription`` (what
UltraEval-Audio scores FLEURS against: ``ref_col: raw_transcription``). A row whose
field is empty is an error sample, unless ``reference_fallback`` names another column
(only ``transcription`` makes sense) — then that column is used and the sample's
``meta['reference_field']`` says so, so a report can show which rows were scored against
the normalized text instead of the raw one.

Sample ids are the audio file's stem, not the FLEURS ``id`` column: that column is the
*sentence* id and repeats once per speaker who read the sentence.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audiogate.datasets._text import decoded_lines, describe_unknown
from audiogate.errors import DatasetMissing, RegistryError
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample

COLUMNS = ("id", "file_name", "raw_transcription", "transcription", "chars", "num_samples",
           "gender")
_TEXT_FIELDS = ("raw_transcription", "transcription")


def _field_option(spec: DatasetSpec, key: str, default: str | None) -> str | None:
    value = spec.options.get(key, default)
    if value is not None and value not in _TEXT_FIELDS:
        raise RegistryError(
            f"dataset {spec.name!r}: {key} must be one of {', '.join(_TEXT_FIELDS)}, not {value!r}"
        )
    return value


def load(root: Path, spec: DatasetSpec) -> list[Sample]:
    """All rows of ``<split>.tsv``; rows that cannot be scored become error samples."""
    split = str(spec.options.get("split", "test"))
    field = _field_option(spec, "reference_field", "raw_transcription")
    fallback = _field_option(spec, "reference_fallback", None)
    tsv = root / f"{split}.tsv"
    audio_dir = root / "audio" / split
    if not tsv.is_file():
        raise DatasetMissing(f"FLEURS: {tsv} not found")
    if not audio_dir.is_dir():
        archive = root / "audio" / f"{split}.tar.gz"
        hint = f"; extract {archive} there first" if archive.exists() else ""
        raise DatasetMissing(f"FLEURS: no audio folder {audio_dir}{hint}")

    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for lineno, decoded, undecodable, _ in decoded_lines(tsv):
        if decoded is None:  # never guessed, never scored
            samples.append(Sample(id=f"{split}-line{lineno}", reference="", audio_path=None,
                                  meta={"tsv_line": lineno}, error=undecodable))
            continue
        line = decoded
        if not line.strip():
            continue
        where = f"{tsv}:{lineno}"
        cols = line.split("\t")
        if len(cols) < len(COLUMNS):
            samples.append(Sample(
                id=f"{split}-line{lineno}", reference="", audio_path=None,
                meta={"tsv_line": lineno},
                error=f"{where}: {len(cols)} tab-separated columns, FLEURS rows have "
                      f"{len(COLUMNS)} ({', '.join(COLUMNS)})",
            ))
            continue
        row = dict(zip(COLUMNS, cols, strict=False))
        audio = audio_dir / row["file_name"]
        sample_id = Path(row["file_name"]).stem or f"{split}-line{lineno}"
        meta: dict[str, Any] = {"sentence_id": row["id"], "gender": row["gender"],
                                "tsv_line": lineno, "reference_field": field}
        reference = row[field or "raw_transcription"].strip()
        if not reference and fallback and row[fallback].strip():
            reference = row[fallback].strip()
            meta["reference_field"] = fallback
        error: str | None = None
        if sample_id in seen:
            error = f"{where}: {row['file_name']} already listed at line {seen[sample_id]}"
            sample_id = f"{sample_id}#line{lineno}"
        else:
            seen[sample_id] = lineno
            bad = describe_unknown(reference)
            if not reference:
                extra = f" and {fallback} is empty too" if fallback else ""
                error = f"{where}: {field} empty{extra}"
            elif bad:
                error = f"{where}: {bad}"
            elif not audio.is_file():
                error = f"{where}: audio file {audio} not found"
                meta["missing_audio"] = True  # replay engines may still score it
        samples.append(Sample(id=sample_id, reference=reference, audio_path=audio,
                              meta=meta, error=error))
    return samples
