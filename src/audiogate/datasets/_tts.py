"""What the text-to-speech loaders share: a TTS sample and its checks.

A TTS sample's ``reference`` is the target text (what the model must say, and what its
speech is scored against); ``audio_path`` is the voice prompt to clone, or None; the
prompt's transcript and any voice name are in ``meta`` (``prompt_text``, ``voice``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from audiogate.datasets._text import decoded_lines, describe_unknown
from audiogate.errors import DataError, DatasetMissing, RegistryError
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample

# `text_case:` of a text-to-speech dataset entry: how its target text is given to the model
# (`lower`: LibriSpeech's transcripts are upper case, which a synthesizer may read as
# acronyms and spell out). The text is always scored against the target text as written.
TEXT_CASES = ("as-written", "lower")


class ListNotFound(DatasetMissing, DataError):
    """The set's list file is not there: the dataset is missing (a pair that is not gated
    is skipped, a gated one fails saying where it looked), not a broken file."""


def read_lines(path: Path, what: str) -> Iterator[tuple[int, str, str] | Sample]:
    """(line number, ``file:line``, text) of each non-blank line of a list, or an error
    sample for a line that is not valid UTF-8."""
    if not path.is_file():
        raise ListNotFound(f"{path}: {what} not found")
    for number, line, undecodable, _ in decoded_lines(path):
        if line is None:
            yield Sample(f"<line {number}>", "", None, error=undecodable)
        elif line.strip():
            yield number, f"{path}:{number}", line


def tts_sample(sample_id: str, text: str, prompt: Path | None, where: str,
               meta: dict[str, Any], seen: dict[str, str]) -> Sample:
    """One TTS sample, or an error sample naming ``where`` (file:line) and the problem:
    no target text, a target or prompt text outside any script, a prompt audio file that
    is not there, a repeated id."""
    error = None
    bad_prompt = describe_unknown(str(meta.get("prompt_text") or ""))
    if not text.strip():
        error = f"{where}: no target text"
    elif bad := describe_unknown(text):
        error = f"{where}: target text: {bad}"
    elif bad_prompt:
        error = f"{where}: prompt text: {bad_prompt}"
    elif sample_id in seen:
        error = f"{where}: duplicate id {sample_id!r} (first at {seen[sample_id]})"
    elif prompt is not None and not prompt.is_file():
        error = f"{where}: prompt audio not found ({prompt})"
        meta = {**meta, "missing_audio": True}
    seen.setdefault(sample_id, where)
    return Sample(sample_id, text, prompt, meta=meta, error=error)


def resolve(path: str, folder: Path) -> Path:
    """``path`` as written, relative to ``folder`` unless absolute."""
    return Path(path) if Path(path).is_absolute() else folder / path


def speak_text(sample: Sample, spec: DatasetSpec) -> str:
    """The text a text-to-speech model is asked to say for ``sample``."""
    case = str(spec.options.get("text_case", "as-written"))
    if case not in TEXT_CASES:
        raise RegistryError(f"dataset {spec.name!r}: text_case must be one of "
                            f"{', '.join(TEXT_CASES)}, not {case!r}")
    return sample.reference.lower() if case == "lower" else sample.reference


def tts_prompt(sample: Sample, spec: DatasetSpec) -> tuple[tuple[str, str], ...]:
    """A text-to-speech request as prompt parts: the text to say, and the sample's own voice
    when it names one. The store keys on them, so a changed text is spoken again."""
    parts: tuple[tuple[str, str], ...] = (("text", speak_text(sample, spec)),)
    if sample.meta.get("voice"):
        parts += (("voice", str(sample.meta["voice"])),)
    return parts
