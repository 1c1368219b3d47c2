"""Seed-TTS-Eval's WER protocol (BytedanceSpeech/seed-tts-eval ``run_wer.py`` and
``average_wer.py``), reproduced exactly for English and Chinese.

Per utterance (``run_wer.py`` ``process_one``), on the judge's transcript and the target
text:

- The target text reaches the scorer as the last field of a stripped line, so trailing
  whitespace is gone (leading whitespace stays).
- zh only, hypothesis: ``zhconv.convert(text, 'zh-cn')`` (Traditional to Simplified).
- Every character of ``zhon.hanzi.punctuation + string.punctuation`` except the ASCII
  apostrophe is deleted, not replaced by a space: ``well-known`` becomes ``wellknown``,
  ``don’t`` (curly) becomes ``dont`` while ``don't`` keeps its apostrophe, and the
  ideographic space U+3000 (in zhon's set) joins the words around it.
- ``"  "`` is replaced by ``" "`` once (three spaces become two).
- zh: every character, spaces included, joined by spaces (Latin words and digits become
  letters); en: lower-cased. Nothing else: no number or spelling normalization.
- jiwer's default word transform (runs of whitespace to one space, strip, split on " ")
  and its Levenshtein alignment; an empty reference is refused (jiwer 3 raises).
- Per-utterance WER = (S + D + I) / reference words; the reported S/D/I rates divide by
  ``len(reference.split(" "))`` of the normalized reference, which counts the empty
  strings between repeated spaces (so they do not add up to the WER in general).

Corpus (``average_wer.py``): the MEAN of the per-utterance WERs, x100, rounded to 3
decimals -- not Σ edits / Σ words. An utterance's WER can exceed 1 (insertions).

Two behaviours of the reference pipeline that audiogate does not copy: ``run_wer.py``
silently skips an utterance whose synthesized wav is missing, and stops the whole run at
an empty reference. Here both are the caller's errors to count, never skipped unseen.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass

import jiwer
import numpy as np
from zhon.hanzi import punctuation as hanzi_punctuation

from audiogate.errors import AudiogateError

LANGUAGES = ("en", "zh")
# run_wer.py: punctuation_all = punctuation + string.punctuation, the apostrophe kept
DELETED = frozenset(hanzi_punctuation + string.punctuation) - {"'"}
_DELETE = str.maketrans(dict.fromkeys(DELETED, None))
# jiwer's wer_default: RemoveMultipleSpaces (\s\s+ -> " "), Strip, split on " "
_SPACES = re.compile(r"\s\s+")
ABOVE = 0.5  # average_wer.py counts utterances with WER above this


class EmptyReference(AudiogateError):
    """The target text has no words left after the protocol's punctuation removal."""


@dataclass(frozen=True)
class SeedTtsScore:
    """One utterance under Seed-TTS-Eval: the texts it compared and what it counts."""

    reference: str  # the target text, as given
    hypothesis: str  # the judge's transcript (zh: after zhconv), as run_wer.py writes it
    normalized_reference: str  # what it passes to jiwer
    normalized_hypothesis: str
    hits: int
    substitutions: int
    deletions: int
    insertions: int
    ref_split: int  # len(normalized_reference.split(" ")): the S/D/I rates' denominator

    @property
    def ref_words(self) -> int:
        return self.hits + self.substitutions + self.deletions

    @property
    def wer(self) -> float:
        """Per-utterance error rate as a fraction (run_wer.py's ``wer`` column)."""
        return (self.substitutions + self.deletions + self.insertions) / self.ref_words

    @property
    def sub(self) -> float:
        return self.substitutions / self.ref_split

    @property
    def dele(self) -> float:
        return self.deletions / self.ref_split

    @property
    def ins(self) -> float:
        return self.insertions / self.ref_split


@dataclass(frozen=True)
class SeedTtsCorpus:
    """A test set under Seed-TTS-Eval, as ``average_wer.py`` computes it."""

    wer_percent: float  # round(mean(per-utterance WER) * 100, 3): the number it prints
    mean_wer: float  # the same mean, unrounded, as a fraction
    utterances: int
    above_half: int  # utterances with WER > 0.5 (counted, never excluded from the mean)
    wer_below_half_percent: float | None  # mean over the others, x100, rounded (not printed)
    sub_percent: float
    del_percent: float
    ins_percent: float


def _check_language(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"Seed-TTS-Eval scores en and zh, not {lang!r}")


def transcript_text(transcript: str, lang: str) -> str:
    """The judge's raw transcript as run_wer.py scores it (zh: converted to Simplified)."""
    _check_language(lang)
    if lang != "zh":
        return transcript
    import zhconv  # imported when used: it loads pkg_resources, which warns on import

    return str(zhconv.convert(transcript, "zh-cn"))


def normalize(text: str, lang: str) -> str:
    """``process_one``'s text handling: the string it hands to ``jiwer.compute_measures``."""
    _check_language(lang)
    text = text.translate(_DELETE).replace("  ", " ")
    return " ".join(text) if lang == "zh" else text.lower()


def words(normalized: str) -> list[str]:
    """jiwer's default word split of a normalized text."""
    return [w for w in _SPACES.sub(" ", normalized).strip().split(" ") if w]


def score_pair(reference: str, transcript: str, lang: str) -> SeedTtsScore:
    """One utterance: the target text against the judge's raw transcript.

    Raises EmptyReference when the target has no words after normalization (Seed-TTS-Eval
    stops there; the caller records the sample as an error).
    """
    hypothesis = transcript_text(transcript, lang)
    reference = reference.rstrip()  # read as the last field of a line.strip()-ed list
    ref = normalize(reference, lang)
    hyp = normalize(hypothesis, lang)
    if not words(ref):
        raise EmptyReference(f"the target text {reference!r} has no words after "
                             "Seed-TTS-Eval's punctuation removal")
    out = jiwer.process_words(ref, hyp)
    return SeedTtsScore(reference, hypothesis, ref, hyp, out.hits, out.substitutions,
                        out.deletions, out.insertions, len(ref.split(" ")))


def corpus(scores: Iterable[SeedTtsScore]) -> SeedTtsCorpus:
    """``average_wer.py`` over the utterances' scores (numpy's mean, as it uses)."""
    scored = list(scores)
    if not scored:
        raise ValueError("no utterances to average")
    wers = [s.wer for s in scored]
    below = [w for w in wers if not w > ABOVE]
    return SeedTtsCorpus(
        wer_percent=float(round(np.mean(wers) * 100, 3)),
        mean_wer=float(np.mean(wers)),
        utterances=len(scored),
        above_half=len(wers) - len(below),
        wer_below_half_percent=float(round(np.mean(below) * 100, 3)) if below else None,
        sub_percent=float(round(np.mean([s.sub for s in scored]) * 100, 3)),
        del_percent=float(round(np.mean([s.dele for s in scored]) * 100, 3)),
        ins_percent=float(round(np.mean([s.ins for s in scored]) * 100, 3)),
    )
