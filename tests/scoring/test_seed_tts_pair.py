"""Seed-TTS-Eval as a pair's gating protocol: the registered sets are scored by its own
run_wer.py per utterance and average_wer.py over the set (the mean of per-utterance WER),
and give the number its scorer printed for the same transcripts (tests/ground_truth)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiogate.registry import load as registry
from audiogate.scoring.pair import Outcome, score, summarize

TRUTH = json.loads((Path(__file__).parents[1] / "ground_truth" / "seed_tts_eval.json")
                   .read_text(encoding="utf-8"))


@pytest.mark.parametrize(("dataset", "lang"), [("seed-tts-eval-en", "en"),
                                               ("seed-tts-eval-zh", "zh")])
def test_a_pair_scores_as_average_wer_prints(dataset: str, lang: str) -> None:
    spec = registry.dataset(dataset)
    assert spec.protocol == "seed-tts-eval" and spec.task == "tts"
    entries = TRUTH["pairs"][lang]
    outcomes = [Outcome(f"{lang}-{n:04d}", e["reference"], None, e["hypothesis"],
                        e["hypothesis"], None) for n, e in enumerate(entries)]
    pair, records = score(spec, outcomes)
    expected = TRUTH["averages"][lang]
    assert pair.protocol == "seed-tts-eval"
    assert pair.protocols["seed-tts-eval"].reported == expected["wer_percent"]
    assert round(pair.value or 0, 3) == expected["wer_percent"]  # the mean, not Σ/Σ
    refused = sum("error" in e for e in entries)
    assert (pair.scored, pair.errors) == (expected["lines"], refused)
    # the corpus ratio of the same counts is another number: the mean is really used
    counts = [r for r in records if r.error is None]
    ratio = 100 * sum((r.substitutions or 0) + (r.deletions or 0) + (r.insertions or 0)
                      for r in counts) / sum(r.ref_tokens or 0 for r in counts)
    assert abs(ratio - (pair.value or 0)) > 0.1
    # a merge re-derives the same number from the records alone
    again = summarize(spec, records)
    assert again.value == pair.value and again.protocols == pair.protocols
    # UltraEval-Audio's number for the same transcripts is reported beside it
    assert "ultraeval-audio" in pair.others()


def test_seed_tts_eval_scores_text_to_speech_only() -> None:
    asr = registry.dataset("librispeech-test-clean")
    pair, _ = score(asr, [Outcome("a", "HELLO THERE", None, "hello there", "hello there",
                                  None)])
    assert "seed-tts-eval" not in pair.protocols
