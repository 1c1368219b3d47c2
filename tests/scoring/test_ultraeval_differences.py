"""UltraEval-Audio's own English normalizer, not the whisper-normalizer package's.

Ground truth: tests/ground_truth/ultraeval_normalization_2.json, recorded by running
UltraEval-Audio's scorer on inputs where its copy of Whisper's normalizer differs from the
package. Every entry is its own test; the three differences each have a test of their own
that compares with what the package does, so a regression to the package's rules fails.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from whisper_normalizer.english import EnglishTextNormalizer

from audiogate.scoring.alignment import align, corpus_percent
from audiogate.scoring.chinese import chinese_tokens, normalize_chinese
from audiogate.scoring.english import english_tokens, normalize_english

# Recorded counts; a changed file means this test file needs a look.
N_EN, N_ZH, N_PAIRS = 30, 11, 22


@pytest.fixture(scope="module")
def recorded(ground_truth: Path) -> dict[str, Any]:
    path = ground_truth / "ultraeval_normalization_2.json"
    return json.loads(path.read_text(encoding="utf-8"))


def _tokens(lang: str, text: str) -> list[str]:
    return chinese_tokens(text) if lang == "zh" else english_tokens(text)


def test_every_recorded_entry_is_covered(recorded: dict[str, Any]) -> None:
    assert (len(recorded["en"]), len(recorded["zh"]), len(recorded["pairs"])) == \
        (N_EN, N_ZH, N_PAIRS)


@pytest.mark.parametrize("index", range(N_EN))
def test_en_entry(recorded: dict[str, Any], index: int) -> None:
    entry = recorded["en"][index]
    assert normalize_english(entry["input"]) == entry["normalized"]
    assert english_tokens(entry["input"]) == entry["tokens"]


@pytest.mark.parametrize("index", range(N_ZH))
def test_zh_entry(recorded: dict[str, Any], index: int) -> None:
    entry = recorded["zh"][index]
    assert normalize_chinese(entry["input"]) == entry["normalized"]
    assert chinese_tokens(entry["input"]) == entry["tokens"]


@pytest.mark.parametrize("index", range(N_PAIRS))
def test_pair_per_sample_percent(recorded: dict[str, Any], index: int) -> None:
    p = recorded["pairs"][index]
    got = align(_tokens(p["lang"], p["ref"]), _tokens(p["lang"], p["hyp"])).percent
    assert got == p["per_sample_percent"]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_corpus_percent(recorded: dict[str, Any], lang: str) -> None:
    pairs = [p for p in recorded["pairs"] if p["lang"] == lang]
    value = corpus_percent(align(_tokens(lang, p["ref"]), _tokens(lang, p["hyp"]))
                           for p in pairs)
    assert value == recorded[f"{lang}_corpus_percent"]


# --- the three differences, each against what the package does --------------------------

PACKAGE = EnglishTextNormalizer()


def test_difference_1_no_informal_rewrites() -> None:
    text = "I kinda dunno, sorta cause"
    assert PACKAGE(text) == "i kind of do not know sort of because"
    assert normalize_english(text) == "i kinda dunno sorta cause"
    assert english_tokens("the cause of it") == ["the", "cause", "of", "it"]


def test_difference_2_latin_in_full_width_parentheses_is_deleted() -> None:
    assert PACKAGE("The crowd （Applause） cheered.") == "the crowd applause cheered"
    assert normalize_english("The crowd （Applause） cheered.") == "the crowd cheered"
    assert normalize_chinese("他在（Beijing）工作") == "他在工作"
    # only Latin letters and spaces: digits inside keep the parentheses' words
    assert normalize_english("The crowd （12 people） cheered.") == "the crowd 12 people cheered"
    # after the ASCII parenthesis removal: an emptied （） is not a match, its symbols go later
    assert normalize_chinese("他说（(hello)）了一句话") == "他说 了一句话"


def test_difference_3_tokens_lower_cased_after_tokenizing() -> None:
    # Unicode normalization turns letter-like symbols into capitals; the text keeps them ...
    assert PACKAGE("ℍello №") == normalize_english("ℍello №") == "Hello No"
    # ... and the tokens are lower-cased after 13a, so they match a plain reference
    assert english_tokens("ℍello №") == ["hello", "no"]
    assert english_tokens("ＡＢＣ 100℃") == ["abc", "100", "c"]
    assert align(english_tokens("HELLO THERE"), english_tokens("ℍello there")).percent == 0.0


# --- the compiled pipeline is the package's ------------------------------------------------

EXTRAS = ["Mr.", "Dr.", "St.", "won't", "can't", "y'all", "gonna", "I'm", "she's", "he'd been",
          "$5.50", "twenty five", "1,000", "3.14", "25%", "one oh one", "(aside)", "[noise]",
          "<unk>", "um", "hmm", "colour", "kinda", "cause", "ℍ", "™", "café", "—", "…", "don’t"]


def test_compiled_pipeline_is_the_packages_own(shared_data: Path) -> None:
    """WhisperPipeline runs the package's steps on precompiled patterns and skips rewrites
    whose text is absent; on real transcripts with inserted hard cases it must give exactly
    the package's output."""
    import random

    from audiogate.scoring.english import WhisperPipeline

    lines = [line.partition(" ")[2]
             for path in sorted(shared_data.glob("LibriSpeech/*/*/*/*.trans.txt"))
             for line in path.read_text(encoding="utf-8").splitlines()]
    rng = random.Random(0)
    ours = WhisperPipeline()
    for _ in range(2000):
        words = rng.choice(lines).split()
        for _ in range(rng.randint(0, 5)):
            words.insert(rng.randint(0, len(words)), rng.choice(EXTRAS))
        text = " ".join(w.lower() if rng.random() < 0.5 else w for w in words)
        assert ours(text) == PACKAGE(text), text
