"""The unit of evaluation: one utterance (or question) with its reference."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from audiogate.errors import AudiogateError


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
    # A recording joined from several files (whole LibriSpeech chapters): decoded in order
    # and concatenated; ``audio_path`` then names the folder, for messages.
    parts: tuple[Path, ...] = ()


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
    # Called with the seconds of this recording's audio done so far, by engines that
    # know (one long recording can take minutes: progress must not wait for its end).
    progress: Callable[[float], None] | None = None


# [start, end] seconds of each piece of a recording the engine decoded or sent, in order.
Windows = list[list[float]]

# How a sample's ``latency`` was measured (Timing.method).
REQUEST = "request"  # served: the request sent -> the last byte of its answer
STREAM = "stream"  # served, streamed: the same, with the first token's time
DECODE = "decode"  # in-process: the sample decoded on its own
BATCH_SHARE = "batch share"  # in-process: its batch's wall time / the batch's size
REPORTED = "reported"  # an engine audiogate does not own: the seconds its Output said


@dataclass(frozen=True)
class Timing:
    """How long one sample took, measured the same way by every engine, so speed can be
    summarized and gated whatever produced it. Seconds throughout.

    ``latency``: a served request from sending it to the last byte of its answer (the
    attempt that answered); an in-process sample's decode time, or its batch's wall time
    divided by the batch size (as the Open ASR Leaderboard divides it). ``ttft``: a
    streamed answer's first content token; ``itl``: the mean time between its content
    chunks after the first (``tokens`` chunks). ``in_flight``: requests (or samples)
    running at once when this one started, itself included; ``limit``: the most allowed
    then (the dispatcher's limit; None in-process). ``batch``: samples decoded together.
    ``windows``: requests a long recording was cut into (their latencies summed).
    """

    latency: float
    method: str
    ttft: float | None = None
    itl: float | None = None
    tokens: int | None = None
    in_flight: int | None = None
    limit: int | None = None
    batch: int = 1
    windows: int = 1

    def to_json(self) -> dict[str, Any]:
        """As a per-sample record keeps it (fields not measured left out)."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class ProducedAudio:
    """Speech an engine produced (text-to-speech, a spoken answer).

    ``data`` holds the encoded bytes until the run keeps them content-addressed on disk;
    from then on ``sha256`` (of those bytes) names the file and ``path`` says where it is.
    ``transcript`` is what the model says it said (a chat answer's ``message.audio``), never
    what a judge heard.
    """

    format: str  # the file's container: wav, flac, mp3 (raw pcm is wrapped as wav)
    sample_rate: int
    seconds: float
    sha256: str
    data: bytes | None = None
    path: str | None = None
    transcript: str | None = None

    def to_json(self) -> dict[str, Any]:
        """What a record keeps: everything but the bytes."""
        return {"format": self.format, "sample_rate": self.sample_rate,
                "seconds": self.seconds, "sha256": self.sha256, "path": self.path,
                "transcript": self.transcript}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProducedAudio:
        return cls(str(data["format"]), int(data["sample_rate"]), float(data["seconds"]),
                   str(data["sha256"]), path=data.get("path"),
                   transcript=data.get("transcript"))


@dataclass
class Output:
    """What an engine returns for one request: ``error``, or its answer (``text``, and
    ``audio`` for engines that speak; a text-to-speech engine returns audio alone)."""

    sample_id: str
    text: str | None
    seconds: float  # wall time spent on this request (inference only)
    error: str | None = None
    # The engine could not try this sample (its server is down): an error of the run, not
    # of the sample, so it is never stored and a rerun sends exactly these samples.
    not_attempted: bool = False
    # How the engine cut the audio (its own decoding windows, the clip it sent, or the
    # windows audiogate cut): part of the per-sample record, so a diff shows chunking moved.
    windows: Windows | None = None
    # How long it took (see Timing); None when nothing was measured (replayed predictions,
    # a sample that never reached the engine).
    timing: Timing | None = None
    audio: ProducedAudio | None = None  # the speech it produced, if it speaks


def shard_of(sample_id: str, count: int) -> int:
    """The shard (1..count) a sample belongs to: from a hash of its id alone, so the split
    does not depend on file order, machine or worker count."""
    digest = hashlib.sha256(sample_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` as (K, N) with 1 <= K <= N."""
    k, sep, n = text.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit() \
            or not 1 <= int(k) <= int(n):
        raise AudiogateError("expected K/N with 1 <= K <= N (e.g. 2/4)")
    return int(k), int(n)


def take_shard(samples: Sequence[Sample], index: int, count: int) -> list[Sample]:
    """The samples of shard ``index`` of ``count``, in their dataset order."""
    return [s for s in samples if shard_of(s.id, count) == index]


def shard_info(samples: Sequence[Sample], index: int, count: int) -> dict[str, Any]:
    """What a merge needs to check that the shards add up to the pair: which shard this is,
    and the full sample set (its ids in dataset order, its fingerprint)."""
    ids = [s.id for s in samples]
    return {"index": index, "count": count, "sample_set": sample_set_fingerprint(ids),
            "total": len(ids), "ids": ids}


def sample_set_fingerprint(ids: Iterable[str]) -> str:
    """16 hex chars of sha256 over the sorted sample ids: same ids ⇔ same fingerprint."""
    digest = hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()
    return digest[:16]
