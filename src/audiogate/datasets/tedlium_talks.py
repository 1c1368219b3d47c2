"""TED-LIUM long-form: every talk of a split whole, its reference the talk's scored STM
segments joined in time order (the Open ASR Leaderboard's TED-LIUM long-form track).

Same files as the short-form loader (``<split>/sph/<talk>.sph``, ``<split>/stm/<talk>.stm``;
release 3 keeps the release-2 split under ``legacy/``), read by it: segments the official
scoring ignores are left out of the reference and counted, transcripts are cleaned the same
way. Audio that the STM leaves unsegmented (applause, gaps between segments) stays in the
recording: the model hears the whole talk, as a user's would. A talk with any unusable
segment is one error naming that segment: a partial reference would count the words it
lacks as insertions.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from audiogate.datasets import tedlium
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample


def talks(segments: list[Sample]) -> list[Sample]:
    """One Sample per talk from the short-form loader's segment samples."""
    by_talk: dict[str, list[Sample]] = defaultdict(list)
    strays: list[Sample] = []
    for seg in segments:
        talk = seg.meta.get("talk")
        (by_talk[str(talk)] if talk else strays).append(seg)
    found = []
    for talk, segs in sorted(by_talk.items()):
        segs.sort(key=lambda s: (s.start or 0.0, s.id))
        broken = [s for s in segs if s.error is not None]
        meta = {"talk": talk, "speaker": segs[0].meta.get("speaker"), "segments": len(segs),
                "stm": segs[0].meta.get("stm"),
                "span": [segs[0].start, max(s.end or 0.0 for s in segs)]}
        if broken:
            missing = all(s.meta.get("missing_audio") for s in broken)
            found.append(Sample(talk, "", segs[0].audio_path,
                                meta={**meta, **({"missing_audio": True} if missing else {})},
                                error=f"talk {talk}: {len(broken)} of {len(segs)} segments "
                                      f"unusable, first: {broken[0].error}"))
            continue
        found.append(Sample(talk, " ".join(s.reference for s in segs), segs[0].audio_path,
                            meta=meta))
    return found + strays  # STM lines that name no talk: their errors, as they are


def load_with_notes(root: Path, spec: DatasetSpec) -> tuple[list[Sample], list[str]]:
    scanned = tedlium.scan(root, spec)
    notes = [f"{scanned.ignored} segment(s) left out of the talks' references "
             "(ignore_time_segment_in_scoring / inter_segment_gap), as in the official "
             "scoring"] if scanned.ignored else []
    return talks(scanned.samples), notes


def load(root: Path, spec: DatasetSpec) -> list[Sample]:
    return load_with_notes(root, spec)[0]
