"""An errored sample counts as the worst answer it could have been: every reference token
deleted (WER/CER), a wrong answer (accuracy), no answer (`answered`). So an error that
`max_errors` allows can never make a pair's number better; the value over the answered
samples is kept beside it. Real references from the LibriSpeech slice shipped in data/.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from audiogate.datasets import load_dataset
from audiogate.registry import load as registry
from audiogate.registry.load import DatasetSpec
from audiogate.scoring.english import english_tokens
from audiogate.scoring.open_asr_english import normalize_open_asr_english
from audiogate.scoring.pair import Outcome, score, score_asr, summarize


@pytest.fixture(scope="module")
def english() -> DatasetSpec:
    return registry.dataset("librispeech-test-clean")


@pytest.fixture(scope="module")
def references(shared_data: Path, english: DatasetSpec) -> list[tuple[str, str]]:
    samples = load_dataset(english, shared_data)
    assert len(samples) == 6 and all(s.error is None for s in samples)
    return [(s.id, s.reference) for s in samples]


def _outcomes(references: list[tuple[str, str]], errored: dict[str, str],
              wrong: dict[str, str] | None = None) -> list[Outcome]:
    """Exact transcripts, except the ids in ``errored`` (that error) and ``wrong`` (that
    answer with the given text)."""
    wrong = wrong or {}
    out = []
    for sample_id, ref in references:
        hyp = wrong.get(sample_id, ref)
        error = errored.get(sample_id)
        out.append(Outcome(sample_id, ref, None, None if error else hyp,
                           None if error else hyp, error))
    return out


def test_an_errored_sample_counts_every_reference_token_deleted(
        references: list[tuple[str, str]], english: DatasetSpec) -> None:
    """The one clip with mistakes errors: the old rule left it out of the corpus (WER 0.00
    on the rest); now its reference words all count as deleted."""
    first, ref = references[0]
    result, records = score_asr(english, _outcomes(references, {first: "HTTP 500"}))
    n = len(english_tokens(ref))
    total = sum(len(english_tokens(r)) for _, r in references)
    assert n == 28 and total == 106
    assert (result.errors, result.scored, result.uncounted) == (1, 5, [])
    assert result.value == 100 * n / total
    assert result.answered_value == 0.0
    gating = result.protocols["ultraeval-audio"]
    assert (gating.edits, gating.ref_tokens, gating.error_tokens) == (0, total - n, n)
    # every protocol counts it the same way, with its own tokens
    oasr = result.protocols["open-asr"]
    n_oasr = len(normalize_open_asr_english(ref).split())
    assert oasr.error_tokens == n_oasr and oasr.answered_value == 0.0
    assert oasr.value == 100 * n_oasr / (oasr.ref_tokens + n_oasr)
    assert oasr.reported == round(oasr.value, 2)
    # the errored record says how many tokens it counts; the summary of the records alone
    # (a merge, a reassembly) gives the same numbers
    assert records[0].ref_tokens == n and records[0].deletions is None
    assert summarize(english, records) == result


def test_an_error_never_improves_the_number(references: list[tuple[str, str]],
                                            english: DatasetSpec) -> None:
    """Whatever the clip's answer would have been, erroring is never better than it."""
    first, ref = references[0]
    errored, _ = score_asr(english, _outcomes(references, {first: "timeout"}))
    for answer in ("", ref, ref.lower()[::-1], "HE HOPED", ref + " AND MORE WORDS"):
        answered, _ = score_asr(english, _outcomes(references, {}, {first: answer}))
        assert answered.value is not None and errored.value is not None
        assert errored.value >= answered.value
    empty, _ = score_asr(english, _outcomes(references, {}, {first: ""}))
    assert errored.value == empty.value  # the worst answer: nothing at all


@pytest.mark.parametrize(("reference", "why"), [
    ("", "no reference"), ("(LAUGHTER) [NOISE]", "empty after normalization")])
def test_an_error_with_no_reference_to_count_is_named(references: list[tuple[str, str]],
                                                      english: DatasetSpec, reference: str,
                                                      why: str) -> None:
    """Nothing to count as deleted: the sample stays an error and is listed as uncounted
    (the gate fails on it whatever max_errors allows)."""
    outcomes = _outcomes(references, {})
    outcomes.append(Outcome("broken", reference, None, None, None, f"bad line: {why}"))
    result, records = score_asr(english, outcomes)
    assert result.errors == 1 and result.uncounted == ["broken"]
    assert result.value == result.answered_value == 0.0
    assert records[-1].ref_tokens is None


def test_an_unreadable_reference_is_never_counted(references: list[tuple[str, str]],
                                                  english: DatasetSpec) -> None:
    """A reference with a control character was not read correctly: its words are not
    counted as deletions (they are not what the speaker said)."""
    outcomes = _outcomes(references, {})
    outcomes.append(Outcome("junk", "HELLO \x1b[0m WORLD", None, None, None, "control"))
    result, _ = score_asr(english, outcomes)
    assert result.uncounted == ["junk"]
    assert result.protocols["ultraeval-audio"].error_tokens == 0


def test_accuracy_counts_an_errored_sample_as_wrong(shared_data: Path) -> None:
    spec = registry.dataset("mmau-test-mini")
    samples = load_dataset(spec, shared_data)[:10]
    outcomes = [Outcome(s.id, s.reference, None, s.reference, s.reference,
                        "HTTP 500" if i == 0 else None, meta=s.meta)
                for i, s in enumerate(samples)]
    result, _ = score(spec, outcomes)
    correct = result.answered_value
    assert correct is not None and result.errors == 1
    assert result.value == pytest.approx(correct * 9 / 10)
    assert result.value < correct


def test_answered_counts_an_errored_sample_as_unanswered(
        references: list[tuple[str, str]], english: DatasetSpec) -> None:
    first = references[0][0]
    result, _ = score(english, _outcomes(references, {first: "timeout"}), metric="answered")
    assert result.errors == 1
    assert result.answered_value == 100.0
    assert result.value == pytest.approx(500 / 6)
