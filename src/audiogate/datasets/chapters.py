"""Long-form recordings built from LibriSpeech: consecutive utterances of one chapter, joined.

Real speech with exact references, at any data size: every chapter of a split (or of the
project's small slices) is one recording. Utterances are read with the LibriSpeech loader,
grouped by speaker and chapter, and split into runs of consecutive utterance numbers (a
gap would join speech that is not adjacent in the book, so it starts a new recording).
Each run is one Sample, id ``<speaker>-<chapter>-<first>-<last>``: its audio is the
utterances' FLAC files decoded and concatenated in id order (``Sample.parts``; decoded
only when the pair runs), its reference their transcripts joined with a space.

``meta`` records what was joined: ``speaker``, ``chapter``, ``utterances`` (ids in
order), ``offsets`` (seconds at which each starts in the joined audio) and ``duration``.
An unusable utterance (no audio, a broken transcript line) makes its whole recording an
error naming it: a recording with a hole in it would be scored against speech it does
not contain.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import soundfile as sf

from audiogate.datasets.librispeech import load as load_utterances
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Sample


def _number(utt_id: str) -> int | None:
    tail = utt_id.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _chapter(utt_id: str) -> str | None:
    parts = utt_id.split("-")
    return "-".join(parts[:2]) if len(parts) == 3 else None


def runs(utterances: list[Sample]) -> list[list[Sample]]:
    """The utterances of one chapter as runs of consecutive numbers, in order."""
    ordered = sorted(utterances, key=lambda s: _number(s.id) or 0)
    found: list[list[Sample]] = []
    for utt in ordered:
        if found and _number(utt.id) == (_number(found[-1][-1].id) or 0) + 1:
            found[-1].append(utt)
        else:
            found.append([utt])
    return found


def recording(chapter: str, utterances: list[Sample]) -> Sample:
    """One Sample joining ``utterances`` (consecutive, in order) of ``chapter``."""
    first, last = utterances[0].id, utterances[-1].id
    sample_id = f"{chapter}-{first.rsplit('-', 1)[-1]}-{last.rsplit('-', 1)[-1]}"
    ids = [u.id for u in utterances]
    folder = utterances[0].audio_path.parent if utterances[0].audio_path else None
    broken = [u for u in utterances if u.error is not None]
    if broken:
        missing = any(u.meta.get("missing_audio") for u in broken)
        return Sample(sample_id, "", folder, meta={"utterances": ids,
                                                   **({"missing_audio": True} if missing
                                                      else {})},
                      error=f"recording {sample_id} joins {len(ids)} utterances, "
                            f"{len(broken)} unusable: {broken[0].id}: {broken[0].error}")
    offsets: list[float] = []
    total = 0.0
    for utt in utterances:
        offsets.append(total)
        assert utt.audio_path is not None
        try:
            info = sf.info(str(utt.audio_path))
        except (sf.LibsndfileError, RuntimeError) as exc:
            return Sample(sample_id, "", folder, meta={"utterances": ids},
                          error=f"recording {sample_id}: {utt.audio_path}: cannot decode "
                                f"audio ({exc})")
        total += info.frames / info.samplerate
    return Sample(
        sample_id, " ".join(u.reference for u in utterances), folder,
        meta={"speaker": chapter.split("-")[0], "chapter": chapter, "utterances": ids,
              "offsets": offsets, "duration": total},
        parts=tuple(u.audio_path for u in utterances if u.audio_path is not None),
    )


def load(root: Path, spec: DatasetSpec) -> list[Sample]:
    """One recording per run of consecutive utterances of a chapter under ``root``."""
    by_chapter: dict[str, list[Sample]] = defaultdict(list)
    strays: list[Sample] = []
    for utt in load_utterances(root, spec):
        chapter = _chapter(utt.id)
        if chapter is None or _number(utt.id) is None:
            strays.append(utt)  # not a LibriSpeech id: reported as it is, never joined
        else:
            by_chapter[chapter].append(utt)
    samples = [recording(chapter, run) for chapter, found in sorted(by_chapter.items())
               for run in runs(found)]
    return samples + [s if s.error else Sample(s.id, s.reference, s.audio_path,
                                               error=f"{s.audio_path}: not a LibriSpeech "
                                                     "utterance id, not joined")
                      for s in strays]
