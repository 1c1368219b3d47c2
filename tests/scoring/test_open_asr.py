"""The Open ASR Leaderboard protocol, entry by entry against what its own scorer produced.

Ground truth: tests/ground_truth/open_asr_leaderboard.json (recorded by running the
leaderboard's normalizer and score_results). Every string, pair, corpus value, the RTFx
example and the multilingual pairs are tests; each pair also checks UltraEval-Audio's value
recorded beside it, through the same registry profiles the gate uses.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from audiogate.registry import load as registry
from audiogate.registry.load import DatasetSpec, profile_for
from audiogate.scoring.english import english_tokens, normalize_english
from audiogate.scoring.open_asr_english import collapse_acronyms, normalize_open_asr_english
from audiogate.scoring.open_asr_multilingual import (
    join_compound_regions,
    normalize_open_asr_multilingual,
)
from audiogate.scoring.open_asr_report import average_wer, leaderboard_rtfx, table_rtfx
from audiogate.scoring.pair import Outcome, protocol_rtfx, score_asr
from audiogate.scoring.protocol import TextScorer, text_scorer

N_EN, N_PAIRS, N_ML_STRINGS, N_ML_PAIRS = 97, 44, 18, 9


@pytest.fixture(scope="module")
def truth(ground_truth: Path) -> dict[str, Any]:
    path = ground_truth / "open_asr_leaderboard.json"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def english() -> DatasetSpec:
    return registry.dataset("librispeech-test-clean")


def _scorer(name: str, spec: DatasetSpec) -> TextScorer:
    return text_scorer(name, profile_for(spec, registry.protocols(), name), spec)


def test_every_recorded_entry_is_covered(truth: dict[str, Any]) -> None:
    ml = truth["multilingual"]
    assert (len(truth["en"]), len(truth["pairs"]), len(ml["strings"]), len(ml["pairs"])) == \
        (N_EN, N_PAIRS, N_ML_STRINGS, N_ML_PAIRS)


# --- normalized text and tokens, both protocols ------------------------------------------

@pytest.mark.parametrize("index", range(N_EN))
def test_en_string(truth: dict[str, Any], index: int) -> None:
    entry = truth["en"][index]
    normalized = normalize_open_asr_english(entry["input"])
    assert normalized == entry["normalized"]
    assert normalized.split() == entry["tokens"]
    assert normalize_english(entry["input"]) == entry["uea_normalized"]
    assert english_tokens(entry["input"]) == entry["uea_tokens"]


# --- per pair: counts, values, kept or dropped, UltraEval-Audio's value -------------------

@pytest.mark.parametrize("index", range(N_PAIRS))
def test_pair(truth: dict[str, Any], english: DatasetSpec, index: int) -> None:
    p = truth["pairs"][index]
    got = _scorer("open-asr", english).score(p["ref"], p["hyp"])
    assert got.dropped == (not p["kept_by_leaderboard"])
    assert got.reference == p["ref_normalized"]
    if got.dropped:
        assert p["per_sample_percent"] is None
    else:
        a = got.alignment
        assert a is not None and got.hypothesis == p["hyp_normalized"]
        assert (a.insertions, a.deletions, a.substitutions, a.ref_len) == \
            (p["ins"], p["del"], p["sub"], p["ref_len"])
        assert a.percent == p["per_sample_percent"]
    uea = _scorer("ultraeval-audio", english).score(p["ref"], p["hyp"])
    if p["uea_per_sample_percent"] is None:  # UltraEval-Audio divides by zero here
        assert uea.empty and "uea_error" in p
    else:
        assert uea.alignment is not None
        assert uea.alignment.percent == p["uea_per_sample_percent"]
        assert (uea.alignment.percent != a.percent) == p["differs_from_uea"]


def test_pairs_differing_from_ultraeval(truth: dict[str, Any]) -> None:
    assert sum(p["differs_from_uea"] for p in truth["pairs"]) == \
        truth["n_pairs_differing_from_uea"]


# --- the corpus value, through the pair scorer the gate uses -----------------------------

def _outcomes(truth: dict[str, Any]) -> list[Outcome]:
    """The pairs as one dataset's outputs; the kept ones carry the RTFx example's timings."""
    timing = iter(zip(truth["rtfx_example"]["durations"], truth["rtfx_example"]["times"],
                      strict=True))
    out = []
    for i, p in enumerate(truth["pairs"]):
        duration, seconds = next(timing) if p["kept_by_leaderboard"] else (1.0, 1.0)
        out.append(Outcome(f"s{i}", p["ref"], None, p["hyp"], p["hyp"], None,
                           seconds=seconds, audio_seconds=duration))
    return out


def test_corpus_value_rounding_and_drops(truth: dict[str, Any], english: DatasetSpec) -> None:
    result, records = score_asr(english, _outcomes(truth))
    oasr = result.protocols["open-asr"]
    counts = truth["en_corpus_counts"]
    assert oasr.value == truth["en_corpus_percent"] == 100 * counts["total"] / counts["ref_len"]
    assert oasr.reported == truth["en_corpus_wer_leaderboard"] == 8.84
    assert (oasr.edits, oasr.ref_tokens) == (counts["total"], counts["ref_len"])
    assert (oasr.scored, oasr.dropped, oasr.errors) == (truth["en_corpus_n_pairs"], 1, 0)
    dropped = [i for i, r in enumerate(records) if r.protocols["open-asr"].get("dropped")]
    assert dropped == truth["en_corpus_excluded"]
    assert sum(r.protocols["open-asr"].get("insertions", 0) for r in records) == counts["ins"]
    assert sum(r.protocols["open-asr"].get("deletions", 0) for r in records) == counts["del"]
    assert sum(r.protocols["open-asr"].get("substitutions", 0) for r in records) == \
        counts["sub"]
    assert protocol_rtfx(english, records) == {"open-asr": truth["rtfx_example"]["dataset_rtfx"]}
    # the gating protocol on the same outputs: UltraEval-Audio's value, the empty
    # reference an error there (not a silent drop)
    assert result.protocol == "ultraeval-audio"
    assert result.value == truth["uea_en_corpus_percent_same_pairs"] == \
        truth["uea_en_corpus_percent_all_pairs"]
    assert (result.errors, result.dropped) == (1, 0)
    assert result.others() == {"open-asr": oasr}


def test_run_eval_print_is_a_user_profile(truth: dict[str, Any], english: DatasetSpec,
                                          tmp_path: Path) -> None:
    """run_eval.py's closing print (jiwer on the same normalized text, no compound merge)
    is not the leaderboard number; it is a profile a user adds without touching code."""
    extra = tmp_path / "protocols.yaml"
    extra.write_text("open-asr-run-eval:\n  wer: {normalizer: open-asr, tokenizer: whitespace,"
                     " alignment: levenshtein, empty_reference: drop}\n", encoding="utf-8")
    known = registry.protocols(extra)
    spec = replace(english, protocol="open-asr-run-eval")
    result, records = score_asr(spec, _outcomes(truth), known)
    assert result.value == truth["en_corpus_run_eval_print_percent"]
    assert result.value != result.protocols["open-asr"].value
    for record, p in zip(records, truth["pairs"], strict=True):
        assert record.score == p["run_eval_print_percent"]
        assert record.dropped == (not p["kept_by_leaderboard"])


# --- RTFx and the average, as score_results prints them -----------------------------------

def test_rtfx_example(truth: dict[str, Any]) -> None:
    ex = truth["rtfx_example"]
    assert sum(ex["durations"]) == ex["audio_length"]
    assert sum(ex["times"]) == ex["inference_time"]
    rtfx = leaderboard_rtfx(ex["durations"], ex["times"])
    assert rtfx == ex["dataset_rtfx"]
    assert table_rtfx([ex["audio_length"]], [ex["inference_time"]]) == ex["csv_rtfx"]
    printed = truth["score_results_output"]
    assert f"WER = {truth['en_corpus_wer_leaderboard']:0.2f} %, RTFx = {rtfx:0.2f}" in printed
    assert f"avg WER (openai/whisper-tiny.en) = {average_wer([8.84])}" in printed
    assert f"openai/whisper-tiny.en,{ex['csv_rtfx']}," in printed
    # a time of zero: no RTFx at all
    assert leaderboard_rtfx([1.0, 2.0], [0.5, 0.0]) is None


def test_average_is_mean_of_rounded_values() -> None:
    unrounded = [2.004, 2.004, 2.004]
    rounded = [round(v, 2) for v in unrounded]
    assert average_wer(rounded) == 2.0
    assert average_wer([1.235, 1.245]) == round((1.235 + 1.245) / 2, 2)
    with pytest.raises(ValueError):
        average_wer([])


# --- the multilingual path -----------------------------------------------------------------

@pytest.mark.parametrize("index", range(N_ML_STRINGS))
def test_multilingual_string(truth: dict[str, Any], index: int) -> None:
    entry = truth["multilingual"]["strings"][index]
    normalized = normalize_open_asr_multilingual(entry["input"], entry["lang"])
    assert normalized == entry["normalized"]
    assert normalized.split() == entry["tokens"]


@pytest.mark.parametrize("index", range(N_ML_PAIRS))
def test_multilingual_pair(truth: dict[str, Any], english: DatasetSpec, index: int) -> None:
    p = truth["multilingual"]["pairs"][index]
    spec = replace(english, name=f"x-{p['lang']}", language=p["lang"])
    got = _scorer("open-asr", spec).score(p["ref"], p["hyp"])
    lang = p["lang"]
    joined = join_compound_regions(normalize_open_asr_multilingual(p["ref"], lang),
                                   normalize_open_asr_multilingual(p["hyp"], lang))
    assert joined == (p["ref_after_compound_pairs"], p["hyp_after_compound_pairs"])
    a = got.alignment
    assert a is not None
    assert (a.insertions, a.deletions, a.substitutions, a.ref_len) == \
        (p["ins"], p["del"], p["sub"], p["ref_len"])
    assert a.percent == p["per_sample_percent"]


@pytest.mark.parametrize("lang", ["de", "es", "fr", "it", "pt"])
def test_multilingual_corpus(truth: dict[str, Any], english: DatasetSpec, lang: str) -> None:
    ml = truth["multilingual"]
    pairs = [p for p in ml["pairs"] if p["lang"] == lang]
    spec = replace(english, name=f"x-{lang}", language=lang)
    outcomes = [Outcome(f"s{i}", p["ref"], None, p["hyp"], p["hyp"], None)
                for i, p in enumerate(pairs)]
    result, _ = score_asr(spec, outcomes)
    oasr = result.protocols["open-asr"]
    expected = ml["corpus"][lang]
    # the recorded unrounded value is 100 * Σ errors / Σ words; the leaderboard itself
    # computes 100 * (Σ errors / Σ words) (one ulp apart for es) and publishes it rounded
    assert 100 * oasr.edits / oasr.ref_tokens == expected["corpus_percent"]
    assert oasr.value == 100 * (oasr.edits / oasr.ref_tokens)
    assert oasr.reported == round(100 * (oasr.edits / oasr.ref_tokens), 2) == \
        expected["wer_leaderboard"]
    assert oasr.scored == expected["n_pairs"]


# --- rules pinned on their own --------------------------------------------------------------

def test_split_and_joined_compounds_cost_nothing(english: DatasetSpec) -> None:
    scorer = _scorer("open-asr", english)
    for ref, hyp in (("A WHITE PAPER ON SOME THING", "a whitepaper on something"),
                     ("TODAY", "to day")):
        a = scorer.score(ref, hyp).alignment
        assert a is not None and a.errors == 0


def test_acronyms_need_three_letters_with_a_or_i() -> None:
    assert collapse_acronyms("the b b c said") == "the bbc said"
    assert collapse_acronyms("a big cat") == "a big cat"
    assert collapse_acronyms("i a m") == "iam"
    assert collapse_acronyms("a i") == "a i"
    assert collapse_acronyms("5 g") == "5g"


def test_tedlium_marker_is_dropped(english: DatasetSpec) -> None:
    scorer = _scorer("open-asr", english)
    assert scorer.score("ignore_time_segment_in_scoring", "something").dropped
    assert scorer.score("IGNORE TIME SEGMENT IN SCORING", "").dropped
