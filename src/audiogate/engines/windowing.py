"""Windows of at most a model's audio length, cut in the silences of the recording.

An engine that takes a bounded amount of audio per request (a Whisper encoder's 30 s, a
chat model's per-prompt audio) would otherwise cut a long recording at fixed times, in
the middle of words, or refuse it. Here the cuts go in pauses: faster-whisper's own
voice-activity detector (``faster_whisper.vad``: Silero through onnxruntime, no torch)
finds the speech, and each window ends in the middle of the longest pause in its second
half, so windows stay long (few requests) and end between phrases. Only where a window's
span holds no pause at all is it cut at the limit.

Every setting that moves a boundary is in ``WindowSettings.identity()``, and the
boundaries of every recording are part of its per-sample record.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiogate.datasets.audio import TARGET_RATE

Span = tuple[int, int]  # [start, end) in samples


@dataclass(frozen=True)
class WindowSettings:
    """How recordings are cut: the longest window, and what counts as a pause."""

    max_seconds: float
    threshold: float = 0.5  # Silero speech probability (faster-whisper's default)
    min_silence_ms: int = 100  # shorter gaps inside speech are not pauses
    speech_pad_ms: int = 30  # speech kept on each side of what Silero marks

    @property
    def max_samples(self) -> int:
        return int(self.max_seconds * TARGET_RATE)

    def identity(self) -> dict[str, Any]:
        from importlib.metadata import version

        return {"max_seconds": self.max_seconds, "vad": "faster_whisper.vad (Silero)",
                "vad_block_seconds": VAD_BLOCK // TARGET_RATE,
                "faster_whisper": version("faster-whisper"), "threshold": self.threshold,
                "min_silence_ms": self.min_silence_ms, "speech_pad_ms": self.speech_pad_ms,
                "cut": "middle of the longest pause in the window's second half"}


# The VAD runs this many samples at a time (60 s, a whole number of Silero's 512-sample
# frames): over a whole hour at once it holds ~700 MB of frame copies and probabilities,
# in 60 s blocks ~130 MB (measured; the hour's 173 windows are the same either way).
VAD_BLOCK = 60 * TARGET_RATE


def speech(audio: np.ndarray, settings: WindowSettings) -> list[Span]:
    """Where faster-whisper's VAD hears speech, in order (speech running across a block
    edge stays one span)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    options = VadOptions(threshold=settings.threshold,
                         min_silence_duration_ms=settings.min_silence_ms,
                         speech_pad_ms=settings.speech_pad_ms)
    spans: list[Span] = []
    for first in range(0, len(audio), VAD_BLOCK):
        block = np.asarray(audio[first:first + VAD_BLOCK], dtype=np.float32)
        for found in get_speech_timestamps(block, options, sampling_rate=TARGET_RATE):
            start, end = first + int(found["start"]), first + int(found["end"])
            if spans and start <= spans[-1][1]:
                spans[-1] = (spans[-1][0], max(end, spans[-1][1]))
            else:
                spans.append((start, end))
    return spans


def pauses(length: int, spoken: list[Span]) -> list[Span]:
    """The gaps around and between speech spans (all of it when there is no speech)."""
    gaps, cursor = [], 0
    for start, end in spoken:
        if start > cursor:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < length:
        gaps.append((cursor, length))
    return gaps


def cut_points(length: int, gaps: list[Span], limit: int) -> list[int]:
    """Where to cut ``length`` samples so no window exceeds ``limit``: each window ends in
    the middle of the longest pause in its second half (the latest on a tie), else of the
    longest in its first half, else at the limit."""
    cuts: list[int] = []
    start = 0
    while length - start > limit:
        end = start + limit
        best: tuple[int, int, int] | None = None  # (prefers second half, overlap, cut)
        for a, b in gaps:
            lo, hi = max(a, start + 1), min(b, end)
            if hi <= lo:
                continue
            cut = (lo + hi) // 2
            rank = (int(cut > start + limit // 2), hi - lo, cut)
            if best is None or rank > best:
                best = rank
        cut = best[2] if best is not None else end
        cuts.append(cut)
        start = cut
    return cuts


def plan(audio: np.ndarray, settings: WindowSettings) -> list[Span]:
    """Consecutive windows covering all of ``audio``, each at most ``max_seconds`` long;
    audio that already fits is one window (and the VAD never runs)."""
    length, limit = len(audio), settings.max_samples
    if limit <= 0:
        raise ValueError(f"max_seconds must be positive, not {settings.max_seconds}")
    if length <= limit:
        return [(0, length)]
    cuts = cut_points(length, pauses(length, speech(audio, settings)), limit)
    edges = [0, *cuts, length]
    return list(itertools.pairwise(edges))


def seconds(spans: list[Span]) -> list[list[float]]:
    """Spans as ``[start, end]`` seconds, for the per-sample record."""
    return [[a / TARGET_RATE, b / TARGET_RATE] for a, b in spans]


NO_SPACE_LANGUAGES = frozenset({"zh", "ja", "yue"})  # written without spaces between words


def stitch(texts: list[str], language: str) -> str:
    """Window texts joined in order: with a space, or nothing where the language writes no
    spaces (vLLM's transcription server joins its chunks the same way)."""
    separator = "" if language in NO_SPACE_LANGUAGES else " "
    return separator.join(t.strip() for t in texts if t.strip())
