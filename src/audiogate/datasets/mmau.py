"""Loader for the official MMAU ``mmau-test-mini.json`` (Sakshi113/MMAU).

Layout under the dataset root (the official release: the JSON from the repository plus
the unpacked ``test-mini-audios`` archive)::

    mmau-test-mini.json
    test-mini-audios/<id>.wav

The JSON drives everything; an item with unusable metadata or no audio file becomes a
Sample with ``error`` set, so it is counted and reported, never silently dropped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from audiogate.datasets import ignore_missing_audio
from audiogate.datasets import missing_audio_summary as _summary
from audiogate.errors import DataError, DatasetMissing
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample

DEFAULT_JSON = "mmau-test-mini.json"
MISSING_AUDIO = "audio file missing"
META_KEYS = ("question", "choices", "task", "category", "sub-category", "difficulty",
             "dataset", "split")
REQUIRED = ("id", "audio_id", "question", "choices", "answer")


def _read_items(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from exc
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of MMAU items, got {type(data).__name__}")
    return data


def _problem(item: dict[str, Any]) -> str | None:
    """Why an item's metadata is unusable, or None."""
    missing = [key for key in REQUIRED if key not in item]
    if missing:
        return f"item lacks {', '.join(missing)}"
    choices = item["choices"]
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        return f"'choices' must be a list of strings, got {choices!r}"
    if not choices:
        return "'choices' is empty"
    answer = item["answer"]
    if not isinstance(answer, str) or not answer.strip():
        return f"'answer' must be a non-empty string, got {answer!r}"
    if answer not in choices and answer.strip() not in {c.strip() for c in choices}:
        return f"answer {answer!r} is not among its choices {choices!r}"
    if not isinstance(item["audio_id"], str) or not item["audio_id"]:
        return f"'audio_id' must be a relative path, got {item['audio_id']!r}"
    return None


def load(root: Path, spec: DatasetSpec) -> list[Sample]:
    """One Sample per MMAU item: id, answer as reference, root/audio_id, question and choices."""
    json_path = root / str(spec.options.get("json", DEFAULT_JSON))
    if not json_path.is_file():
        raise DatasetMissing(f"dataset {spec.name!r}: no {json_path.name} in {root}")
    samples: list[Sample] = []
    first_seen: dict[str, int] = {}
    for index, item in enumerate(_read_items(json_path)):
        where = f"{json_path.name} item {index}"
        if not isinstance(item, dict):
            samples.append(Sample(id=f"#{index}", reference="", audio_path=None,
                                  error=f"{where}: expected an object, got {item!r:.80}"))
            continue
        item_id = str(item.get("id", f"#{index}"))
        meta = {key: item[key] for key in META_KEYS if key in item}
        if isinstance(meta.get("choices"), list):
            meta["choices"] = tuple(meta["choices"])
        meta["item_index"] = index
        answer = item.get("answer")
        reference = answer if isinstance(answer, str) else ""
        problem = _problem(item)
        audio_path = root / item["audio_id"] if problem is None else None
        if item_id in first_seen:
            problem = f"duplicate id {item_id!r} (first at item {first_seen[item_id]})"
            item_id = f"{item_id}#{index}"  # keep ids unique for the store and reports
        else:
            first_seen[item_id] = index
        if problem is None and audio_path is not None and not audio_path.is_file():
            problem = f"{MISSING_AUDIO}: {audio_path}"
            meta["missing_audio"] = True
        samples.append(Sample(
            id=item_id, reference=reference, audio_path=audio_path, meta=meta,
            error=f"{where} (id {item_id}): {problem}" if problem else None,
        ))
    return samples

MISSING_AUDIO_HINT = ("MMAU ships its clips as a separate archive (test-mini-audios, linked "
                      "from the Sakshi113/MMAU README): unpack it beside the JSON")


def missing_audio_summary(samples: list[Sample], show: int = 3) -> str | None:
    """The summary of missing MMAU clips, with where to get them."""
    return _summary(samples, show, hint=MISSING_AUDIO_HINT)


__all__ = ["MISSING_AUDIO", "MISSING_AUDIO_HINT", "ignore_missing_audio", "load",
           "missing_audio_summary"]
