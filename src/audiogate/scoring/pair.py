"""Score one (model, dataset) pair from its per-sample outcomes, like the published tables.

A sample's error line (``error_line``) is made here, beside the record that carries the
error, so a run and a merge's rebuild of the pair list errored samples in the same words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from audiogate.datasets._text import describe_unknown
from audiogate.registry import load as registry
from audiogate.registry.load import ANSWERED, DatasetSpec, ProtocolSpec, profile_for
from audiogate.scoring.edit_ops import separator
from audiogate.scoring.edit_ops import tokenizer as shown_tokenizer
from audiogate.scoring.open_asr_report import leaderboard_rtfx
from audiogate.scoring.parallel import map_chunks
from audiogate.scoring.protocol import Scored, TextScorer, text_scorer


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
    windows: list[list[float]] | None = None  # how the engine cut the audio (Output.windows)
    timing: dict[str, Any] | None = None  # Output.timing as JSON (None: nothing measured)
    # Speech the model produced and what was measured on it (scoring/speech.py): the clip,
    # the judge and its transcript (which is then ``raw``), the written answer, the
    # per-sample speech metrics
    speech: dict[str, Any] | None = None
    # normalized texts already known for this sample's texts: (normalizer version, text) ->
    # normalized (from the store's cache; see TextScorer.score)
    normalized: dict[tuple[str, str], str] | None = None


# (normalizer version, text, normalized text) made while scoring, for the store's cache
Learned = list[tuple[str, str, str]]
# sample id -> its gating alignment as the HTML report shows it (alignment.align_shown)
Shown = dict[str, list[Any]]


@dataclass
class SampleRecord:
    """One line of the per-sample report: everything needed to see why a number moved.

    The fields are the gating protocol's; ``protocols`` holds each other protocol's counts
    for the same sample (and its normalized texts where they differ from these)."""

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
    # reference tokens; for an errored sample, those counted as deleted (None: nothing to count)
    ref_tokens: int | None = None
    score: float | None = None  # per-sample WER/CER in percent, or 100/0 for accuracy
    excluded: bool = False  # above the dataset's abnormal limit: not in the corpus score
    error: str | None = None
    seconds: float = 0.0
    audio_seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)
    dropped: bool = False  # the protocol leaves this reference out (counted, not an error)
    protocols: dict[str, dict[str, Any]] = field(default_factory=dict)
    windows: list[list[float]] | None = None  # [start, end] s the engine decoded or sent
    flags: list[str] = field(default_factory=list)  # abnormal output (looping, truncated)
    # How long this sample took in this run (samples.Timing as JSON, plus its RTFx: audio
    # seconds / latency); None when nothing was measured (reused, replayed, never sent).
    timing: dict[str, Any] | None = None
    speech: dict[str, Any] | None = None  # produced speech and its measurements (Outcome)

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object, fields in their order. Shallow (it shares the
        record's nested meta, protocols, windows and flags): ``dataclasses.asdict``'s deep
        copy gives the same JSON and cost most of the time of writing 100,000 records."""
        return {name: getattr(self, name) for name in _RECORD_FIELDS}

    @classmethod
    def from_outcome(cls, o: Outcome) -> SampleRecord:
        """The record before scoring: identity, raw output, timing, error."""
        return cls(o.sample_id, o.audio_path, o.reference, o.raw, o.answer, error=o.error,
                   seconds=o.seconds, audio_seconds=o.audio_seconds, meta=o.meta,
                   windows=o.windows, timing=with_rtfx(o.timing, o.audio_seconds),
                   speech=o.speech)


def with_rtfx(timing: dict[str, Any] | None, audio_seconds: float) -> dict[str, Any] | None:
    """A sample's timing with its RTFx (audio seconds per second of latency)."""
    if timing is None:
        return None
    latency = float(timing.get("latency") or 0.0)
    rtfx = round(audio_seconds / latency, 4) if latency > 0 and audio_seconds > 0 else None
    return {**timing, "rtfx": rtfx}


_RECORD_FIELDS = tuple(f.name for f in fields(SampleRecord))


def error_line(record: SampleRecord) -> str:
    """The sample's error, with its audio file named when the message does not say it."""
    error = str(record.error)
    if record.audio_path and record.audio_path not in error:
        return f"{error} (file {record.audio_path})"
    return error


@dataclass
class ProtocolScore:
    """One protocol's corpus number for a pair, and what it left out.

    ``value`` counts every errored sample as the worst answer it could have been (its
    reference tokens all deleted), so an error never improves it; ``answered_value`` is
    the same over the answered samples only (equal when nothing errored)."""

    value: float | None  # Σ edits / Σ reference tokens × 100, errored samples all deleted
    reported: float | None  # as the protocol publishes it (rounded where it rounds)
    scored: int
    dropped: int  # references it leaves out (empty after normalization, markers)
    excluded: int  # above the abnormal limit, where the protocol filters
    errors: int
    edits: int  # over the scored samples
    ref_tokens: int  # over the scored samples
    digits: int | None = None  # the decimals it reports (None: unrounded)
    error_tokens: int = 0  # reference tokens of errored samples, counted as deleted
    answered_value: float | None = None  # Σ edits / Σ reference tokens over scored samples


@dataclass
class PairScore:
    """The corpus number and the counts that qualify it (under the gating protocol), and
    every protocol's number for the same outputs."""

    metric: str
    value: float | None  # None when nothing could be scored
    total: int
    scored: int
    excluded: int
    errors: int
    abnormal_limit: float | None
    breakdown: dict[str, Any] = field(default_factory=dict)
    protocol: str | None = None  # the gating protocol (None: accuracy has one rule)
    dropped: int = 0
    protocols: dict[str, ProtocolScore] = field(default_factory=dict)
    # The value over the answered samples only (``value`` counts each errored sample as
    # the worst answer: every reference token deleted, a wrong answer, no answer).
    answered_value: float | None = None
    # Errored samples with no reference to count as deleted (unreadable, or empty after
    # normalization): no worst answer is known for them, so no gate may allow them.
    uncounted: list[str] = field(default_factory=list)

    def others(self) -> dict[str, ProtocolScore]:
        """The non-gating protocols' scores."""
        return {n: p for n, p in self.protocols.items() if n != self.protocol}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairScore:
        data = dict(data)
        data["protocols"] = {n: ProtocolScore(**p)
                             for n, p in (data.get("protocols") or {}).items()}
        return cls(**data)


@dataclass
class _Tally:
    """Running sums of one protocol over a pair's samples."""

    scored: int = 0
    dropped: int = 0
    excluded: int = 0
    errors: int = 0
    edits: int = 0
    ref_tokens: int = 0
    error_tokens: int = 0
    uncounted: list[str] = field(default_factory=list)

    def add(self, edits: int, ref_tokens: int) -> None:
        self.scored += 1
        self.edits += edits
        self.ref_tokens += ref_tokens

    def add_error(self, sample_id: str, tokens: int | None) -> None:
        """An errored sample: its ``tokens`` count as deleted (None: the protocol leaves
        this reference out anyway; 0: there is nothing to count)."""
        self.errors += 1
        if tokens:
            self.error_tokens += tokens
        elif tokens == 0:
            self.uncounted.append(sample_id)

    def result(self, scorer: TextScorer) -> ProtocolScore:
        answered = self.edits / self.ref_tokens * 100 if self.ref_tokens else None
        value = None if answered is None else \
            (self.edits + self.error_tokens) / (self.ref_tokens + self.error_tokens) * 100
        return ProtocolScore(value, scorer.reported(value), self.scored, self.dropped,
                             self.excluded, self.errors, self.edits, self.ref_tokens,
                             scorer.profile.round, self.error_tokens, answered)


EMPTY_REFERENCE = "empty reference after normalization"


def _judge_sample(scored: Scored, scorer: TextScorer, spec: DatasetSpec
                  ) -> tuple[float | None, bool, str | None]:
    """(per-sample score, excluded, error) of one sample under one protocol."""
    if scored.dropped:
        return None, False, None
    if scored.empty or scored.alignment is None:
        return None, False, EMPTY_REFERENCE
    a = scored.alignment
    score = a.percent if a.ref_len else None
    limit = spec.abnormal_limit if scorer.profile.abnormal_filter else None
    if limit is not None and score is not None and score > limit:
        return score, True, None
    return score, False, None


def error_tokens(scorer: TextScorer, reference: str) -> int | None:
    """The reference tokens an errored sample counts as deleted under one protocol: its
    worst answer, an empty hypothesis. 0 when there is nothing to count (a reference that
    was not read correctly, or empty after normalization); None when the protocol leaves
    this reference out anyway (dropped)."""
    if describe_unknown(reference) is not None:
        return 0
    scored = scorer.score(reference, "")
    if scored.dropped:
        return None
    return scored.alignment.ref_len if scored.alignment is not None else 0


def _count(tally: _Tally, counts: Mapping[str, Any]) -> None:
    """Add one scored sample's per-sample counts under one protocol."""
    if counts.get("dropped"):
        tally.dropped += 1
    elif counts.get("excluded"):
        tally.excluded += 1
    else:
        tally.add(int(counts.get("substitutions") or 0) + int(counts.get("deletions") or 0)
                  + int(counts.get("insertions") or 0), int(counts.get("ref_tokens") or 0))


def summarize_asr(spec: DatasetSpec, records: Sequence[SampleRecord], gating: TextScorer,
                  others: Sequence[TextScorer]) -> PairScore:
    """The corpus numbers of every protocol, from the per-sample records alone.

    Scoring a pair and reassembling it from shards both end here, so the same records
    always give the same number (integer sums: the order of the samples does not matter).
    An errored sample counts its reference tokens as deleted, re-derived here from its
    reference text under each protocol (never from a stored count).
    """
    tallies = {s.name: _Tally() for s in (gating, *others)}
    for rec in records:
        for scorer in (gating, *others):
            counts: Mapping[str, Any] | None
            if scorer is gating:
                counts = None if rec.error is not None else {
                    "dropped": rec.dropped, "excluded": rec.excluded,
                    "substitutions": rec.substitutions, "deletions": rec.deletions,
                    "insertions": rec.insertions, "ref_tokens": rec.ref_tokens}
            else:
                counts = rec.protocols.get(scorer.name)
                counts = None if counts is None or "error" in counts else counts
            if counts is None:  # errored before scoring, or under this protocol
                tallies[scorer.name].add_error(rec.id, error_tokens(scorer, rec.reference))
            else:
                _count(tallies[scorer.name], counts)
    results = {s.name: tallies[s.name].result(s) for s in (gating, *others)}
    for scorer in (gating, *others):
        if scorer.profile.aggregate == "mean":
            results[scorer.name] = _mean_rate(results[scorer.name], records, scorer,
                                              gating=scorer is gating)
    main = results[gating.name]
    return PairScore(
        metric=spec.metric, value=main.value, total=len(records), scored=main.scored,
        excluded=main.excluded, errors=main.errors, abnormal_limit=spec.abnormal_limit,
        protocol=gating.name, dropped=main.dropped, protocols=results,
        answered_value=main.answered_value, uncounted=tallies[gating.name].uncounted,
    )


def _mean_rate(found: ProtocolScore, records: Sequence[SampleRecord], scorer: TextScorer, *,
               gating: bool) -> ProtocolScore:
    """A protocol that averages per-sample rates (Seed-TTS-Eval's average_wer.py): its
    value is the mean of the scored samples' rates, not Σ edits / Σ tokens."""
    if gating:
        rates = [r.score for r in records if r.error is None and not r.dropped
                 and not r.excluded and r.score is not None]
    else:
        entries = [r.protocols.get(scorer.name, {}) for r in records if r.error is None]
        rates = [e["score"] for e in entries if e.get("score") is not None
                 and not e.get("excluded")]
    value = sum(rates) / len(rates) if rates else None
    return replace(found, value=value, reported=scorer.reported(value))


def _other_entry(scored: Scored, score: float | None, excluded: bool, error: str | None,
                 rec: SampleRecord) -> dict[str, Any]:
    """A compact per-sample record of a non-gating protocol."""
    if scored.dropped:
        return {"dropped": True}
    if error is not None:
        return {"error": error}
    a = scored.alignment
    assert a is not None
    entry: dict[str, Any] = {"score": score, "substitutions": a.substitutions,
                             "deletions": a.deletions, "insertions": a.insertions,
                             "ref_tokens": a.ref_len}
    if excluded:
        entry["excluded"] = True
    if scored.reference != rec.normalized_reference:
        entry["normalized_reference"] = scored.reference
    if scored.hypothesis != rec.normalized_hypothesis:
        entry["normalized_hypothesis"] = scored.hypothesis
    return entry


def scorers_for(spec: DatasetSpec, protocols: Mapping[str, ProtocolSpec] | None = None
                ) -> tuple[TextScorer, list[TextScorer]]:
    """The gating protocol's scorer and every other protocol's with a profile for the
    dataset's metric."""
    known = registry.protocols() if protocols is None else protocols
    gating = text_scorer(spec.protocol, profile_for(spec, known), spec)
    others = [text_scorer(name, p.profiles[spec.metric], spec) for name, p in known.items()
              if name != spec.protocol and spec.metric in p.profiles
              and (not p.tasks or spec.task in p.tasks)]
    return gating, others


def score_asr(spec: DatasetSpec, outcomes: Sequence[Outcome],
              protocols: Mapping[str, ProtocolSpec] | None = None, *, workers: int = 1,
              learned: Learned | None = None, shown: Shown | None = None
              ) -> tuple[PairScore, list[SampleRecord]]:
    """Corpus WER/CER = Σ edits / Σ reference tokens × 100 under the dataset's gating
    protocol (samples errored, dropped or above the abnormal limit left out and counted),
    and the same from the same outputs under every other protocol. With ``workers`` > 1 a
    large pair is scored in chunks by a pool of processes (``scoring.parallel``): the same
    records, in the same order. A sample's normalized texts already known
    (``Outcome.normalized``) are not normalized again; ``learned`` receives those that
    were. ``shown`` receives each scored sample's gating alignment as the HTML report shows
    it, where the report would tokenize and align the same way (so it need not again)."""
    gating, others = scorers_for(spec, protocols)
    records = []
    for record, new, alignment in map_chunks(_score_records, outcomes, workers, spec,
                                             protocols, shown is not None):
        records.append(record)
        if learned is not None:
            learned += new
        if shown is not None and alignment is not None:
            shown[record.id] = alignment
    return summarize_asr(spec, records, gating, others), records


def normalizer_versions(spec: DatasetSpec, protocols: Mapping[str, ProtocolSpec] | None = None
                        ) -> set[str]:
    """The versions of every normalizer that scores this dataset (gating and others)."""
    if spec.metric == "acc":
        return set()
    gating, others = scorers_for(spec, protocols)
    return {v for s in (gating, *others) for v in (s.normalize_version, s.drop_version)}


def _score_records(outcomes: Sequence[Outcome], spec: DatasetSpec,
                   protocols: Mapping[str, ProtocolSpec] | None, with_shown: bool = False
                   ) -> list[tuple[SampleRecord, Learned, list[Any] | None]]:
    """Every sample's record under every protocol (one chunk of a pair, or all of it), the
    normalized texts it had to make, and (``with_shown``) its gating alignment as a report
    shows it."""
    gating, others = scorers_for(spec, protocols)
    sep = None
    if with_shown and gating.tokenize is shown_tokenizer(spec.language, gating.name):
        sep = separator(spec.language)
    out: list[tuple[SampleRecord, Learned, list[Any] | None]] = []
    for o in outcomes:
        rec = SampleRecord.from_outcome(o)
        known = o.normalized or {}
        memo = dict(known)
        if rec.error is not None:
            rec.ref_tokens = error_tokens(gating, o.reference) or None
            out.append((rec, [], None))
            continue
        hyp = o.answer or ""
        g = gating.score(o.reference, hyp, memo, sep)
        rec.score, rec.excluded, rec.error = _judge_sample(g, gating, spec)
        rec.dropped = g.dropped
        if rec.error is None:
            rec.normalized_reference = g.reference
            if not g.dropped:
                rec.normalized_hypothesis = g.hypothesis
        if g.alignment is not None:
            a = g.alignment
            rec.substitutions, rec.deletions = a.substitutions, a.deletions
            rec.insertions, rec.ref_tokens = a.insertions, a.ref_len
        for other in others:
            s = other.score(o.reference, hyp, memo)
            score, excluded, error = _judge_sample(s, other, spec)
            rec.protocols[other.name] = _other_entry(s, score, excluded, error, rec)
        out.append((rec, [(v, t, n) for (v, t), n in memo.items() if (v, t) not in known],
                    g.shown if rec.error is None and not g.dropped else None))
    return out


def protocol_rtfx(spec: DatasetSpec, records: Sequence[SampleRecord],
                  protocols: Mapping[str, ProtocolSpec] | None = None) -> dict[str, float | None]:
    """RTFx of each protocol that defines one, over the samples it scored (timing, so kept
    out of the score: the same outputs always give the same score)."""
    if spec.metric == "acc":
        return {}
    gating, others = scorers_for(spec, protocols)
    out: dict[str, float | None] = {}
    for scorer in (gating, *others):
        if not scorer.profile.rtfx:
            continue
        if scorer is gating:
            kept = [r for r in records if r.error is None and not r.dropped and not r.excluded]
        else:
            kept = [r for r in records if r.error is None and "score" in r.protocols.get(
                scorer.name, {}) and not r.protocols[scorer.name].get("excluded")]
        out[scorer.name] = leaderboard_rtfx([r.audio_seconds for r in kept],
                                            [r.seconds for r in kept])
    return out


def score_accuracy(
    spec: DatasetSpec, outcomes: Sequence[Outcome], *, lenient: bool = False
) -> tuple[PairScore, list[SampleRecord]]:
    """MMAU accuracy with the official string-match rule (or the lenient letter mapping)."""
    from audiogate.scoring.mmau import mmau_correct

    records: list[SampleRecord] = []
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
    return summarize_accuracy(spec, records, lenient=lenient), records


def summarize_accuracy(spec: DatasetSpec, records: Sequence[SampleRecord], *,
                       lenient: bool) -> PairScore:
    """Accuracy and its breakdown from the per-sample records alone (see summarize_asr)."""
    from audiogate.scoring.mmau import accuracy_breakdown

    correct = [{**r.meta, "correct": r.score == 100.0} for r in records if r.error is None]
    right = sum(r["correct"] for r in correct)
    summary = _summary(spec, right, list(records), len(correct))
    summary.breakdown = {"rule": "lenient" if lenient else "official",
                         **(accuracy_breakdown(correct) if correct else {}),
                         # every errored sample, not only those that reached the rule
                         "errors": summary.errors}
    return summary


def score_answered(spec: DatasetSpec, outcomes: Sequence[Outcome]
                   ) -> tuple[PairScore, list[SampleRecord]]:
    """Percent of samples with a non-empty answer (errored samples count as errors): the
    score of a model whose text means nothing, where only "every sample answered" is real."""
    records = [SampleRecord.from_outcome(o) for o in outcomes]
    for r in records:
        if r.error is None:
            r.score = 100.0 if (r.answer or "").strip() else 0.0
    return summarize_answered(spec, records), records


def summarize_answered(spec: DatasetSpec, records: Sequence[SampleRecord]) -> PairScore:
    """The ``answered`` score from the per-sample records alone (see summarize_asr)."""
    answered = [r for r in records if r.error is None]
    return _summary(spec, sum(r.score == 100.0 for r in answered), list(records),
                    len(answered), metric=ANSWERED)


def _summary(spec: DatasetSpec, right: int, records: list[SampleRecord], scored: int,
             metric: str | None = None) -> PairScore:
    """A proportion's score: ``right`` of the ``scored`` samples that got an answer, each
    errored sample counted as a wrong answer (``answered_value``: over the answered)."""
    errors = sum(r.error is not None for r in records)
    return PairScore(
        metric=metric or spec.metric,
        value=100 * right / (scored + errors) if scored else None, total=len(records),
        scored=scored, excluded=sum(r.excluded for r in records), errors=errors,
        abnormal_limit=None if metric == ANSWERED else spec.abnormal_limit,
        answered_value=100 * right / scored if scored else None,
    )


def summarize(spec: DatasetSpec, records: Sequence[SampleRecord], *, lenient: bool = False,
              protocols: Mapping[str, ProtocolSpec] | None = None,
              metric: str | None = None) -> PairScore:
    """The pair's score from its per-sample records (what `score` computes at its end)."""
    if metric == ANSWERED:
        return summarize_answered(spec, records)
    if spec.metric == "acc":
        return summarize_accuracy(spec, records, lenient=lenient)
    gating, others = scorers_for(spec, protocols)
    return summarize_asr(spec, records, gating, others)


def score(spec: DatasetSpec, outcomes: Sequence[Outcome], *, lenient: bool = False,
          protocols: Mapping[str, ProtocolSpec] | None = None, metric: str | None = None,
          workers: int = 1, learned: Learned | None = None, shown: Shown | None = None
          ) -> tuple[PairScore, list[SampleRecord]]:
    """The dataset's own metric, unless the model entry asks for another (``answered``);
    WER/CER across ``workers`` processes for a large pair (``score_asr``)."""
    if metric == ANSWERED:
        return score_answered(spec, outcomes)
    if spec.metric == "acc":
        return score_accuracy(spec, outcomes, lenient=lenient)
    return score_asr(spec, outcomes, protocols, workers=workers, learned=learned,
                     shown=shown)
