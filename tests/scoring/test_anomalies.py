"""Abnormal stitched outputs on real chapter references: a looping decode and one that stops
early are flagged; the real text, and a speaker who repeats himself, are not."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiogate.datasets import load_dataset
from audiogate.registry import load as registry
from audiogate.scoring.anomalies import flags, longest_loop
from audiogate.scoring.open_asr_english import normalize_open_asr_english


@pytest.fixture(scope="module")
def chapter(shared_data: Path) -> tuple[str, float]:
    """The normalized reference of the 145 s dev-clean chapter, and its duration."""
    [longest, *_] = load_dataset(registry.dataset("librispeech-chapters-dev-clean"),
                                 shared_data)
    return normalize_open_asr_english(longest.reference), float(longest.meta["duration"])


def test_the_reference_itself_is_not_flagged(chapter: tuple[str, float]) -> None:
    reference, seconds = chapter
    assert flags(reference, reference, seconds) == []


def test_a_window_that_loops_is_flagged(chapter: tuple[str, float]) -> None:
    reference, seconds = chapter
    words = reference.split()
    looped = " ".join([*words[:150], *(["and the old man said"] * 8), *words[150:]])
    [flag] = flags(looped, reference, seconds)
    assert flag.startswith("looping: 'and the old man said' x8") and "from word 151" in flag


def test_a_decode_that_stops_early_is_flagged(chapter: tuple[str, float]) -> None:
    reference, seconds = chapter
    words = reference.split()
    [flag] = flags(" ".join(words[:100]), reference, seconds)
    assert flag.startswith(f"truncated: 100 words for {len(words)} reference words")
    assert "over 145 s of audio" in flag
    assert flags(" ".join(words[: len(words) * 2 // 3]), reference, seconds) == []


def test_a_speaker_who_repeats_himself_is_not_flagged() -> None:
    said = " ".join(["no"] * 14 + ["he", "shouted"])
    assert flags(said, said, 10.0) == []


def test_longest_loop_finds_the_period_and_where_it_starts() -> None:
    loop = longest_loop(["a", "b", "c", "d", "e", "c", "d", "e", "c", "d", "e", "f"])
    assert loop is not None and (loop.phrase, loop.repeats, loop.start) == (("c", "d", "e"), 3, 2)
