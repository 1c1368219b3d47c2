"""The unit of evaluation: one utterance (or question) with its reference."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Sample:
    """One item of a dataset.

    ``error`` is set by a loader when the item is known to be unusable (a transcript
    line with no audio, audio with no transcript line): such a sample is never sent to
    an engine, it is reported and counted against the gate.
    """

    id: str
    reference: str
    audio_path: Path | None
    start: float | None = None  # seconds into audio_path (segmented corpora: TED-LIUM)
    end: float | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class Request:
    """What an engine receives: the sample, its 16 kHz mono audio, and the task context."""

    sample: Sample
    audio: Any  # numpy float32 array at 16 kHz, or None for engines that need no audio
    task: str  # "asr" or "mmau"
    language: str  # ISO code: "en", "zh"
    # The user turn for chat engines, in order: ("text", "...") and ("audio", "") parts.
    # None for plain ASR engines (Whisper, /v1/audio/transcriptions).
    prompt: tuple[tuple[str, str], ...] | None = None


@dataclass
class Output:
    """What an engine returns for one request. Exactly one of ``text`` / ``error`` is set."""

    sample_id: str
    text: str | None
    seconds: float  # wall time spent on this request (inference only)
    error: str | None = None
    # The engine could not try this sample (its server is down): an error of the run, not
    # of the sample, so it is never stored and a rerun sends exactly these samples.
    not_attempted: bool = False

def sample_set_fingerprint(ids: Iterable[str]) -> str:
    """16 hex chars of sha256 over the sorted sample ids: same ids ⇔ same fingerprint."""
    digest = hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()
    return digest[:16]
