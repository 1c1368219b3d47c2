"""A user's own text-to-speech set as a JSONL manifest: one object per line.

``{"text": ..., "id": ..., "prompt_audio": ..., "prompt_text": ..., "voice": ...}``: only
``text`` (what the model must say) is required. ``prompt_audio`` (a voice to clone) is
relative to the manifest's folder unless absolute; ``voice`` names one of the engine's
voices. The id defaults to ``line-<N>``. Any other key is an error on that line (a
misspelt ``prompt_audio`` would otherwise lose the prompt unseen).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from audiogate.datasets._tts import read_lines, resolve, tts_sample
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample

KNOWN = ("id", "text", "prompt_audio", "prompt_text", "voice")


def _problem(row: Any) -> str | None:
    if not isinstance(row, dict):
        return "not a JSON object"
    unknown = sorted(set(row) - set(KNOWN))
    if unknown:
        return f"unknown key(s) {', '.join(map(repr, unknown))} (known: {', '.join(KNOWN)})"
    for key in KNOWN:
        if key in row and row[key] is not None and not isinstance(row[key], str):
            return f"{key!r} must be a string"
    if not isinstance(row.get("text"), str):
        return "no 'text' to speak"
    return None


def load(root: Path, spec: DatasetSpec) -> list[Sample]:
    """``root`` is the manifest file (or a folder holding ``manifest.jsonl``)."""
    path = root / "manifest.jsonl" if root.is_dir() else root
    samples: list[Sample] = []
    seen: dict[str, str] = {}
    for item in read_lines(path, "manifest"):
        if isinstance(item, Sample):
            samples.append(item)
            continue
        number, where, line = item
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            samples.append(Sample(f"<line {number}>", "", None, error=f"{where}: not JSON "
                                                                       f"({exc})"))
            continue
        if problem := _problem(row):
            sample_id = str(row.get("id") or f"line-{number}") if isinstance(row, dict) \
                else f"line-{number}"
            samples.append(Sample(sample_id, "", None, error=f"{where}: {problem}"))
            continue
        meta = {k: row[k] for k in ("prompt_text", "voice") if row.get(k) is not None}
        prompt = resolve(row["prompt_audio"], path.parent) if row.get("prompt_audio") else None
        samples.append(tts_sample(row.get("id") or f"line-{number}", row["text"], prompt,
                                  where, meta, seen))
    return samples
