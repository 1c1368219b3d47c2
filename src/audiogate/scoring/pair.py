"""Score one (model, dataset) pair from its per-sample outcomes, like the published tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from audiogate.registry.load import ANSWERED, DatasetSpec
from audiogate.scoring.alignment import align, corpus_percent
from audiogate.scoring.english import english_tokens, normalize_english


@dataclass
class Outcome:
    """What happened to one sample before scoring: its raw output or its error."""

    sample_id: str
    reference: str
    audio_path: str | None
    raw: str | None
    answer: str | None
    error: str | None
    seconds: float = 0.0
    audio_seconds: float = 0.0
    reused: bool = False
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class SampleRecord:
    """One line of the per-sample report: everything needed to see why a number moved."""

    id: str
    audio_path: str | None
    reference: str
    raw_output: str | None
    answer: str | None
    normalized_reference: str | None = None
    normalized_hypothesis: str | None = None
    substitutions: int | None = None
    deletions: int | None = None
    insertions: int | None = None
    ref_tokens: int | None = None
    score: float | None = None  # per-sample WER/CER in percent, or 100/0 for accuracy
    excluded: bool = False  # above the dataset's abnormal limit: not in the corpus score
    error: str | None = None
    seconds: float = 0.0
    audio_seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_outcome(cls, o: Outcome) -> SampleRecord:
        """The record before scoring: identity, raw output, timing, error."""
        return cls(o.sample_id, o.audio_path, o.reference, o.raw, o.answer, error=o.error,
                   seconds=o.seconds, audio_seconds=o.audio_seconds, meta=o.meta)


@dataclass
class PairScore:
    """The corpus number and the counts that qualify it."""

    metric: str
    value: float | None  # None when nothing could be scored
    total: int
    scored: int
    excluded: int
    errors: int
    abnormal_limit: float | None
    breakdown: dict[str, Any] = field(default_factory=dict)


Tokenize = Callable[[str], list[str]]


def tokenizer_for(spec: DatasetSpec) -> tuple[Tokenize, Callable[[str], str]]:
    """(tokens, normalized text) functions for the dataset's language."""
    if spec.language == "zh":
        from audiogate.scoring.chinese import chinese_tokens, normalize_chinese

        simplified = bool(spec.options.get("to_simplified", False))
        return (lambda t: chinese_tokens(t, to_simplified=simplified),
                lambda t: normalize_chinese(t, to_simplified=simplified))
    return english_tokens, normalize_english


def score_asr(spec: DatasetSpec, outcomes: Sequence[Outcome]
              ) -> tuple[PairScore, list[SampleRecord]]:
    """Corpus WER/CER = Σ edits / Σ reference tokens × 100 over samples that are neither
    errored nor above the abnormal limit; every sample keeps its own record."""
    tokens, normalize = tokenizer_for(spec)
    records: list[SampleRecord] = []
    kept = []
    for o in outcomes:
        rec = SampleRecord.from_outcome(o)
        records.append(rec)
        if rec.error is not None:
            continue
        ref_tokens = tokens(o.reference)
        if not ref_tokens:
            rec.error = "empty reference after normalization"
            continue
        hyp = o.answer or ""
        rec.normalized_reference, rec.normalized_hypothesis = normalize(o.reference), normalize(hyp)
        alignment = align(ref_tokens, tokens(hyp))
        rec.substitutions, rec.deletions = alignment.substitutions, alignment.deletions
        rec.insertions, rec.ref_tokens = alignment.insertions, alignment.ref_len
        rec.score = alignment.percent
        if spec.abnormal_limit is not None and rec.score > spec.abnormal_limit:
            rec.excluded = True
            continue
        kept.append(alignment)
    value = corpus_percent(kept) if kept else None
    return _summary(spec, value, records, len(kept)), records


def score_accuracy(
    spec: DatasetSpec, outcomes: Sequence[Outcome], *, lenient: bool = False
) -> tuple[PairScore, list[SampleRecord]]:
    """MMAU accuracy with the official string-match rule (or the lenient letter mapping)."""
    from audiogate.scoring.mmau import accuracy_breakdown, mmau_correct

    records: list[SampleRecord] = []
    correct: list[dict[str, Any]] = []
    for o in outcomes:
        rec = SampleRecord.from_outcome(o)
        records.append(rec)
        if rec.error is not None:
            continue
        if not (o.answer or "").strip():
            rec.score = 0.0
        else:
            ok = mmau_correct(o.answer or "", o.reference, list(o.meta.get("choices", [])),
                              lenient=lenient)
            rec.score = 100.0 if ok else 0.0
        correct.append({**o.meta, "correct": rec.score == 100.0})
    value = 100 * sum(r["correct"] for r in correct) / len(correct) if correct else None
    summary = _summary(spec, value, records, len(correct))
    summary.breakdown = {"rule": "lenient" if lenient else "official",
                         **(accuracy_breakdown(correct) if correct else {})}
    return summary, records


def score_answered(spec: DatasetSpec, outcomes: Sequence[Outcome]
                   ) -> tuple[PairScore, list[SampleRecord]]:
    """Percent of samples with a non-empty answer (errored samples count as errors): the
    score of a model whose text means nothing, where only "every sample answered" is real."""
    records = [SampleRecord.from_outcome(o) for o in outcomes]
    answered = [r for r in records if r.error is None]
    for r in answered:
        r.score = 100.0 if (r.answer or "").strip() else 0.0
    value = sum(r.score == 100.0 for r in answered) * 100 / len(answered) if answered else None
    return _summary(spec, value, records, len(answered), metric=ANSWERED), records


def _summary(spec: DatasetSpec, value: float | None, records: list[SampleRecord],
             scored: int, metric: str | None = None) -> PairScore:
    return PairScore(
        metric=metric or spec.metric, value=value, total=len(records), scored=scored,
        excluded=sum(r.excluded for r in records),
        errors=sum(r.error is not None for r in records),
        abnormal_limit=None if metric == ANSWERED else spec.abnormal_limit,
    )


def score(spec: DatasetSpec, outcomes: Sequence[Outcome], *, lenient: bool = False,
          metric: str | None = None) -> tuple[PairScore, list[SampleRecord]]:
    """The dataset's own metric, unless the model entry asks for another (``answered``)."""
    if metric == ANSWERED:
        return score_answered(spec, outcomes)
    if spec.metric == "acc":
        return score_accuracy(spec, outcomes, lenient=lenient)
    return score_asr(spec, outcomes)
