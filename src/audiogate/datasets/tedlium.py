"""TED-LIUM (release 1 layout; releases 2 and 3-legacy are the same) from its .sph/.stm files.

``root`` is the release folder; the split comes from the ``split`` option (default test)::

    <split>/sph/<talk>.sph
    <split>/stm/<talk>.stm   # <talk> <channel> <speaker> <start> <end> <label> <transcript>

Every STM segment is one Sample over [start, end) of its talk's .sph (the talk named in
the line's first field). Segments spoken by ``inter_segment_gap`` or transcribed
``ignore_time_segment_in_scoring`` are not scored by NIST sclite, so they are excluded —
and counted: ``scan()`` returns the count so a report can say "N segments ignored"
instead of the sample count silently shrinking.

Reference text: the STM transcript with two edits, both because Whisper's English
normalizer (the WER path) would otherwise score them as words:
* ``{NOISE}``, ``{COUGH}``, ``{SMACK}``, ``{BREATH}``... (non-speech events) are removed:
  the normalizer only drops ``<...>``, ``[...]`` and ``(...)``, so ``{COUGH}`` would become
  the word "cough".
* a trailing utterance key ``(talk-start-end)`` (release 1 train STMs carry one) is removed.
``<unk>``, ``<sil>`` and the alternate-pronunciation marks ``for(2)`` stay: the normalizer
removes them (checked by tests/datasets/test_tedlium.py). The untouched line is in
``meta['stm_transcript']``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from audiogate.datasets._text import decoded_lines, describe_unknown
from audiogate.errors import DatasetMissing
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample

IGNORE_SPEAKER = "inter_segment_gap"
IGNORE_TEXT = "ignore_time_segment_in_scoring"
STM_FIELDS = ("talk", "channel", "speaker", "start", "end", "label", "transcript")
_NOISE = re.compile(r"\{[^{}]*\}")
_UTTERANCE_KEY = re.compile(r"\s*\((?=[^()]*[A-Za-z_])[^()\s]*-[^()\s]*\)\s*$")
_END_SLACK = 0.01  # seconds; the same tolerance load_audio grants a segment's end


@dataclass(frozen=True)
class Segment:
    """One scoreable STM line."""

    talk: str
    channel: str
    speaker: str
    start: float
    end: float
    label: str
    transcript: str  # as written in the STM
    line: int

    @property
    def id(self) -> str:
        return f"{self.talk}-{self.start:.2f}-{self.end:.2f}"


@dataclass
class Scan:
    """What one split holds: samples (errors included) and how many segments were ignored."""

    samples: list[Sample] = field(default_factory=list)
    ignored: int = 0


def clean_transcript(text: str) -> str:
    """The reference scored for an STM transcript (see the module docstring for why)."""
    text = _UTTERANCE_KEY.sub("", text)
    text = _NOISE.sub(" ", text)
    return " ".join(text.split())


def stm_segments(path: Path) -> tuple[list[Segment], int, list[tuple[int, str]]]:
    """Parse one .stm file: (segments to score, count of ignored ones, (line, problem) pairs).

    Problems are messages that already name ``path:line``.
    """
    segments: list[Segment] = []
    problems: list[tuple[int, str]] = []
    ignored = 0
    for lineno, decoded, undecodable, _ in decoded_lines(path):
        if decoded is None:  # never guessed, never scored
            problems.append((lineno, str(undecodable)))
            continue
        line = decoded.strip()
        if not line or line.startswith(";;"):  # blank or an STM comment / category line
            continue
        where = f"{path}:{lineno}"
        fields = line.split(None, 6)
        if len(fields) >= 3 and fields[2] == IGNORE_SPEAKER:
            ignored += 1
            continue
        if len(fields) < len(STM_FIELDS):
            problems.append((lineno, f"{where}: too few fields ({len(fields)} of "
                                     f"{len(STM_FIELDS)}: {' '.join(STM_FIELDS)})"))
            continue
        talk, channel, speaker, start_s, end_s, label, transcript = fields
        if transcript.strip() == IGNORE_TEXT:
            ignored += 1
            continue
        try:
            start, end = float(start_s), float(end_s)
        except ValueError:
            problems.append((lineno, f"{where}: start/end {start_s!r} {end_s!r} are not "
                                     "numbers of seconds"))
            continue
        if end <= start or start < 0:
            problems.append((lineno, f"{where}: segment {start_s}-{end_s} s is empty or "
                                     "negative"))
            continue
        bad = describe_unknown(transcript)
        if bad:
            problems.append((lineno, f"{where}: {bad}"))
            continue
        segments.append(Segment(talk, channel, speaker, start, end, label, transcript,
                                lineno))
    return segments, ignored, problems


def _duration(sph: Path) -> float | None:
    """Seconds of audio in ``sph`` from its header, or None if libsndfile cannot say
    (compressed SPHERE, corrupt file): load_audio then reports the precise reason."""
    try:
        info = sf.info(str(sph))
    except (sf.LibsndfileError, RuntimeError, ValueError):
        return None
    return info.frames / info.samplerate


def scan(root: Path, spec: DatasetSpec) -> Scan:
    """Samples of ``spec.options['split']`` plus the ignored-segment count."""
    split = str(spec.options.get("split", "test"))
    stm_dir = root / split / "stm"
    sph_dir = root / split / "sph"
    if not stm_dir.is_dir():
        raise DatasetMissing(f"TED-LIUM: no transcript folder {stm_dir} for split {split!r}")
    result = Scan()
    durations: dict[str, float | None] = {}
    seen: dict[str, str] = {}
    for stm in sorted(stm_dir.glob("*.stm")):
        segments, ignored, problems = stm_segments(stm)
        result.ignored += ignored
        for lineno, message in problems:
            result.samples.append(Sample(id=f"{stm.stem}-line{lineno}", reference="",
                                         audio_path=None, meta={"stm": str(stm),
                                                                "stm_line": lineno},
                                         error=message))
        for seg in segments:
            where = f"{stm}:{seg.line}"
            sph = sph_dir / f"{seg.talk}.sph"
            if seg.talk not in durations:
                durations[seg.talk] = _duration(sph) if sph.is_file() else None
            duration = durations[seg.talk]
            reference = clean_transcript(seg.transcript)
            sample_id = seg.id
            error: str | None = None
            missing_audio = False
            if sample_id in seen:
                error = f"{where}: same talk and times as {seen[sample_id]}"
                sample_id = f"{sample_id}#line{seg.line}"
            else:
                seen[sample_id] = where
                if not sph.is_file():
                    error = f"{where}: audio file {sph} not found"
                    missing_audio = True  # replay engines may still score it
                elif duration is not None and seg.end > duration + _END_SLACK:
                    error = (f"{where}: segment {seg.start:.2f}-{seg.end:.2f} s lies beyond the "
                             f"end of {sph} ({duration:.2f} s)")
                elif not reference:
                    error = f"{where}: transcript has no words once noise markers are removed"
            result.samples.append(Sample(
                id=sample_id, reference=reference, audio_path=sph, start=seg.start,
                end=seg.end,
                meta={"talk": seg.talk, "speaker": seg.speaker, "label": seg.label,
                      "stm": str(stm), "stm_line": seg.line, "stm_transcript": seg.transcript,
                      **({"missing_audio": True} if missing_audio else {})},
                error=error,
            ))
    return result


def load(root: Path, spec: DatasetSpec) -> list[Sample]:
    """The loader-registry entry point: ``scan(root, spec).samples``."""
    return scan(root, spec).samples


def ignored_segments(root: Path, spec: DatasetSpec) -> int:
    """How many STM segments of the split are excluded from scoring (for the report)."""
    return scan(root, spec).ignored


def load_with_notes(root: Path, spec: DatasetSpec) -> tuple[list[Sample], list[str]]:
    """The samples and, for the report, how many segments the official scoring ignores."""
    found = scan(root, spec)
    notes = [f"{found.ignored} segment(s) ignored (ignore_time_segment_in_scoring / "
             "inter_segment_gap), as in the official scoring"] if found.ignored else []
    return found.samples, notes
