"""Seed-TTS-Eval's WER protocol, entry by entry against what its own scorer produced.

Ground truth: tests/ground_truth/seed_tts_eval.json, recorded by running its run_wer.py and
average_wer.py unchanged (scripts/record_seed_tts_eval.py). Every pair (normalized texts,
WER, the S/D/I rates it writes, or its refusal) and every average is a test.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from audiogate.scoring.seed_tts import (
    EmptyReference,
    SeedTtsScore,
    corpus,
    normalize,
    score_pair,
    transcript_text,
)

N_EN, N_ZH = 289, 135
TRUTH = json.loads((Path(__file__).parents[1] / "ground_truth" / "seed_tts_eval.json")
                   .read_text(encoding="utf-8"))


def _entries(lang: str) -> list[dict[str, Any]]:
    return list(TRUTH["pairs"][lang])


def test_every_recorded_entry_is_covered() -> None:
    assert (len(_entries("en")), len(_entries("zh"))) == (N_EN, N_ZH)
    assert TRUTH["source"]["commit"] == "752f4297f090c46bb1a55a1f7439e5944ddefe8d"
    # refusals recorded as such, and the averages cover every pair scored
    for lang in ("en", "zh"):
        scored = [e for e in _entries(lang) if "error" not in e]
        assert TRUTH["averages"][lang]["lines"] == len(scored)
        assert len(scored) < len(_entries(lang))


def _check(entry: dict[str, Any], lang: str) -> SeedTtsScore | None:
    if "error" in entry:
        assert entry["error"] == "ValueError: one or more references are empty strings"
        with pytest.raises(EmptyReference, match="no words after"):
            score_pair(entry["reference"], entry["hypothesis"], lang)
        assert normalize(entry["reference"], lang) == entry["normalized_reference"]
        return None
    got = score_pair(entry["reference"], entry["hypothesis"], lang)
    assert got.reference == entry["written_reference"]
    assert got.hypothesis == entry["written_hypothesis"]
    assert got.normalized_reference == entry["normalized_reference"]
    assert got.normalized_hypothesis == entry["normalized_hypothesis"]
    # exact floats: the same divisions as run_wer.py
    assert (got.wer, got.ins, got.dele, got.sub) == \
        (entry["wer"], entry["ins"], entry["del"], entry["sub"])
    return got


@pytest.mark.parametrize("index", range(N_EN))
def test_en_pair(index: int) -> None:
    _check(_entries("en")[index], "en")


@pytest.mark.parametrize("index", range(N_ZH))
def test_zh_pair(index: int) -> None:
    _check(_entries("zh")[index], "zh")


AVERAGES = sorted(TRUTH["averages"])


@pytest.mark.parametrize("name", AVERAGES)
def test_average_as_average_wer_prints_it(name: str) -> None:
    lang = name.split("_")[0]
    recorded = TRUTH["averages"][name]
    scored = [e for e in _entries(lang) if "error" not in e]
    if name.endswith("_perfect_5"):
        chosen = [e for e in scored if e["wer"] == 0.0][:5]
    elif "_first_" in name:
        chosen = scored[:recorded["lines"]]
    else:
        chosen = scored
    assert len(chosen) == recorded["lines"]
    result = corpus(score_pair(e["reference"], e["hypothesis"], lang) for e in chosen)
    assert result.wer_percent == recorded["wer_percent"]
    assert f"WER: {result.wer_percent}%" == recorded["printed"]
    assert result.utterances == recorded["lines"]


def test_the_corpus_is_a_mean_of_utterances_not_of_words() -> None:
    short = score_pair("Yes.", "No.", "en")  # 1 word, 1 error
    long = score_pair("one two three four five six seven eight nine ten",
                      "one two three four five six seven eight nine ten", "en")
    result = corpus([short, long])
    assert result.wer_percent == 50.0  # Σ edits / Σ words would be 9.091
    assert (result.above_half, result.wer_below_half_percent) == (1, 0.0)


def test_quirks_kept_exactly() -> None:
    # the curly apostrophe is punctuation, the straight one is not
    assert normalize("Don’t", "en") == "dont"
    assert normalize("Don't", "en") == "don't"
    # hyphens join words; the ideographic space is deleted, not a separator
    assert normalize("well-known", "en") == "wellknown"
    assert normalize("a\u3000b", "en") == "ab"
    # zh: every character, Latin letters too, case kept; Traditional hypotheses simplified
    assert normalize("用iPhone", "zh") == "用 i P h o n e"
    assert transcript_text("說話", "zh") == "说话"
    assert transcript_text("說話", "en") == "說話"
    # the S/D/I rates divide by the reference split on single spaces (empties counted)
    s = score_pair("今天 天气", "今天", "zh")
    assert (s.deletions, s.ref_words, s.ref_split) == (2, 4, 6)
    assert (s.wer, s.dele) == (0.5, 2 / 6)


def test_other_languages_are_refused() -> None:
    with pytest.raises(ValueError, match="en and zh"):
        score_pair("hola", "hola", "es")
