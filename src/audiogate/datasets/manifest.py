"""A user's own data: a JSONL manifest, one object per line with audio path, reference, id."""

from __future__ import annotations

import json
from pathlib import Path

from audiogate.datasets._text import decoded_lines, describe_unknown
from audiogate.errors import DataError
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample

KNOWN = {"id", "audio", "audio_path", "reference", "text", "start", "end"}


def load(root: Path, spec: DatasetSpec) -> list[Sample]:
    """``root`` is the manifest file (or a folder with ``manifest.jsonl``).

    Audio paths are relative to the manifest's folder unless absolute. Fields other than
    id / audio / reference / start / end go to ``Sample.meta``.
    """
    path = root / "manifest.jsonl" if root.is_dir() else root
    if not path.exists():
        raise DataError(f"{path}: manifest not found")
    samples: list[Sample] = []
    seen: dict[str, int] = {}
    for number, line, undecodable, _ in decoded_lines(path):
        if line is None:  # never guessed, never scored
            samples.append(Sample(f"<line {number}>", "", None, error=undecodable))
            continue
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            samples.append(Sample(f"<line {number}>", "", None, error=f"{where}: not JSON ({exc})"))
            continue
        if not isinstance(row, dict):
            samples.append(Sample(f"<line {number}>", "", None, error=f"{where}: not an object"))
            continue
        audio = row.get("audio", row.get("audio_path"))
        sample_id = str(row.get("id") or (Path(audio).stem if audio else f"<line {number}>"))
        reference = row.get("reference", row.get("text", ""))
        error = None
        if not audio:
            error = f"{where}: no 'audio' field"
        elif not isinstance(reference, str) or not reference.strip():
            error = f"{where}: no 'reference' text"
        elif bad := describe_unknown(reference):
            error = f"{where}: {bad}"
            reference = ""  # not what the speaker said: never scored, counted or written
        elif sample_id in seen:
            error = f"{where}: duplicate id {sample_id!r} (first at line {seen[sample_id]})"
        seen.setdefault(sample_id, number)
        audio_path = (path.parent / audio) if audio else None
        samples.append(Sample(
            sample_id, reference if isinstance(reference, str) else "", audio_path,
            start=row.get("start"), end=row.get("end"),
            meta={k: v for k, v in row.items() if k not in KNOWN}, error=error,
        ))
    return samples
