"""Abnormal long-form outputs: a decode that loops, or one that stops early.

On a recording of minutes, both failures can hide in a plausible corpus number: a window
that loops adds a few hundred insertions to thousands of reference words, a decode that
stops at minute 5 of 40 reads as "deletions". Each check compares the normalized
hypothesis with the normalized reference of the same recording, so a speaker who really
repeats himself, or a recording that really is mostly silence, is not flagged. Flags are
reported; they never change a score.

- looping: a phrase of up to ``LOOP_MAX_WORDS`` words repeated back to back at least
  ``LOOP_MIN_REPEATS`` times, covering at least ``LOOP_MIN_WORDS`` words, where the
  reference has no repetition half as long;
- truncated: fewer than ``TRUNCATED_RATIO`` of the reference's words (the hypothesis's
  words per second over the recording far below the reference's), for references of at
  least ``MIN_REFERENCE_WORDS`` words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

LOOP_MAX_WORDS = 20
LOOP_MIN_REPEATS = 4
LOOP_MIN_WORDS = 12
TRUNCATED_RATIO = 0.5
MIN_REFERENCE_WORDS = 20


@dataclass(frozen=True)
class Loop:
    """The longest back-to-back repetition of one phrase."""

    phrase: tuple[str, ...]
    repeats: int
    start: int  # word index where it begins

    @property
    def words(self) -> int:
        return len(self.phrase) * self.repeats


def longest_loop(words: Sequence[str], max_words: int = LOOP_MAX_WORDS) -> Loop | None:
    """The phrase repeated back to back over the most words (at least twice), if any.

    For each phrase length n, a run of positions where ``words[j] == words[j + n]`` of
    length r is a stretch of period n covering r + n words: O(len(words) * max_words).
    """
    best: Loop | None = None
    for n in range(1, max_words + 1):
        run = 0
        for j in range(len(words) - n + 1):
            if j + n < len(words) and words[j] == words[j + n]:
                run += 1
                continue
            repeats = (run + n) // n
            start = j - run
            if repeats >= 2 and (best is None or repeats * n > best.words):
                best = Loop(tuple(words[start:start + n]), repeats, start)
            run = 0
    return best


def looping(hypothesis: Sequence[str], reference: Sequence[str]) -> str | None:
    """Why the hypothesis loops, or None."""
    loop = longest_loop(hypothesis)
    if loop is None or loop.repeats < LOOP_MIN_REPEATS or loop.words < LOOP_MIN_WORDS:
        return None
    own = longest_loop(reference)
    if own is not None and own.words * 2 >= loop.words:
        return None  # the speaker repeats himself as much: not the decoder
    return (f"looping: {' '.join(loop.phrase)!r} x{loop.repeats} back to back "
            f"({loop.words} of {len(hypothesis)} words, from word {loop.start + 1})")


def truncated(hypothesis: Sequence[str], reference: Sequence[str],
              audio_seconds: float) -> str | None:
    """Why the hypothesis looks cut short, or None."""
    if len(reference) < MIN_REFERENCE_WORDS or len(hypothesis) >= TRUNCATED_RATIO * len(reference):
        return None
    share = 100 * len(hypothesis) / len(reference)
    rates = ""
    if audio_seconds > 0:
        rates = (f"; {len(hypothesis) / audio_seconds:.2f} words/s against the reference's "
                 f"{len(reference) / audio_seconds:.2f} over {audio_seconds:.0f} s of audio")
    return (f"truncated: {len(hypothesis)} words for {len(reference)} reference words "
            f"({share:.0f} %{rates})")


def flags(hypothesis: str, reference: str, audio_seconds: float) -> list[str]:
    """Every abnormality of one recording's normalized hypothesis against its reference."""
    hyp, ref = hypothesis.split(), reference.split()
    return [f for f in (looping(hyp, ref), truncated(hyp, ref, audio_seconds)) if f]
