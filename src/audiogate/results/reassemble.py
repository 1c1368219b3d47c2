"""One pair put back together from the sample shards that ran it (`pytest --shard K/N`).

The merged result is computed from the per-sample records alone, in the pair's own dataset
order, by the same functions a single run uses (scoring summaries, bootstrap interval,
RTFx), so the same outputs give the same numbers to the last bit. Only what describes how
the outputs were obtained (wall time, inferred / reused counts) is summed over the shards.
A sample missing from every shard, or present in two, makes the pair unmergeable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiogate.errors import AudiogateError
from audiogate.gate.paired import interval, per_sample
from audiogate.gate.speech import averages_per_sample, speech_result
from audiogate.gate.speed import summarize as summarize_speed
from audiogate.results.rederive import Scoring
from audiogate.results.report import Row
from audiogate.samples import sample_set_fingerprint
from audiogate.scoring.pair import SampleRecord, error_line, protocol_rtfx, summarize
from audiogate.scoring.pair_result import PairResult

SHOW = 10  # sample ids named in a message before "(+N more)"


class ShardMismatch(AudiogateError):
    """The shards of a pair do not add up to the pair's full sample set."""


@dataclass
class Part:
    """One shard's row of a pair, its per-sample records, and where they came from."""

    row: Row
    records: list[SampleRecord]
    source: Path

    @property
    def shard(self) -> dict[str, Any]:
        assert self.row.result.shard is not None
        return self.row.result.shard

    @property
    def label(self) -> str:
        return f"shard {self.shard['index']}/{self.shard['count']} ({self.source})"


def _named(ids: Sequence[str]) -> str:
    more = f" (+{len(ids) - SHOW} more)" if len(ids) > SHOW else ""
    return ", ".join(ids[:SHOW]) + more


def check(parts: Sequence[Part]) -> list[str]:
    """The pair's full sample ids in dataset order, once every check passes: the shards
    split the same sample set the same way, ran the same engine, and their records are
    exactly that set (each sample once)."""
    first = parts[0]
    for part in parts[1:]:
        for key, what in (("sample_set", "sample sets"), ("count", "shard counts")):
            if part.shard[key] != first.shard[key]:
                raise ShardMismatch(f"{first.label} and {part.label} are shards of different "
                                    f"{what} ({first.shard[key]} vs {part.shard[key]})")
        if part.row.result.engine != first.row.result.engine:
            keys = sorted(k for k in {*part.row.result.engine, *first.row.result.engine}
                          if part.row.result.engine.get(k) != first.row.result.engine.get(k))
            raise ShardMismatch(f"{first.label} and {part.label} ran different engines "
                                f"(differing: {', '.join(keys)}); their outputs are not one "
                                "run's")
        if part.row.result.judge != first.row.result.judge:
            raise ShardMismatch(f"{first.label} and {part.label} were heard by different judges "
                                f"({(first.row.result.judge or {}).get('model')} vs "
                                f"{(part.row.result.judge or {}).get('model')}); their scores "
                                "are not one run's")
        if part.row.result.answer_rules != first.row.result.answer_rules:
            raise ShardMismatch(f"{first.label} and {part.label} took the answers from the "
                                "raw outputs by different rules; they are not one run's")
    for part in parts:
        ids = part.shard["ids"]
        if (part.shard["sample_set"], part.shard["total"]) != (sample_set_fingerprint(ids),
                                                               len(ids)):
            raise ShardMismatch(f"{part.label}: its pair's sample set {part.shard['sample_set']} "
                                f"of {part.shard['total']} sample(s) is not the one its "
                                f"{len(ids)} listed ids give ({sample_set_fingerprint(ids)})")
        if len(part.records) != part.row.result.score.total:
            raise ShardMismatch(f"{part.label}: its per-sample file has {len(part.records)} "
                                f"records but its report counts {part.row.result.score.total} "
                                "samples (the file is not this report's)")
    full: list[str] = list(first.shard["ids"])
    seen = Counter(r.id for part in parts for r in part.records)
    problems = []
    missing = [i for i in full if i not in seen]
    if missing:
        given = {p.shard["index"] for p in parts}
        absent = [f"{k}/{first.shard['count']}" for k in range(1, first.shard["count"] + 1)
                  if k not in given]
        problems.append(f"{len(missing)} sample(s) in no shard: {_named(missing)}"
                        + (f" (shard(s) {', '.join(absent)} not given)" if absent else ""))
    twice = sorted(i for i, n in seen.items() if n > 1)
    if twice:
        problems.append(f"{len(twice)} sample(s) in more than one shard: {_named(twice)}")
    known = set(full)
    foreign = sorted(i for i in seen if i not in known)
    if foreign:
        problems.append(f"{len(foreign)} sample(s) not in the pair's sample set: "
                        f"{_named(foreign)}")
    if problems:
        raise ShardMismatch("; ".join(problems))
    return full


def reassemble(parts: Sequence[Part], scoring: Scoring, *, n_resamples: int
               ) -> tuple[PairResult, list[SampleRecord]]:
    """The pair's result and records as a single run of the same outputs gives them."""
    ids = check(parts)
    by_id = {r.id: r for part in parts for r in part.records}
    notes: list[str] = []
    for part in parts:
        for note in part.row.result.notes:
            shared = all(note in p.row.result.notes for p in parts)
            text = note if shared else f"shard {part.shard['index']}/{part.shard['count']}: " \
                                       f"{note}"
            if text not in notes:
                notes.append(text)
    return rebuild([p.row.result for p in parts], [by_id[i] for i in ids], scoring,
                   n_resamples=n_resamples, notes=notes), [by_id[i] for i in ids]


def rebuild(results: Sequence[PairResult], records: Sequence[SampleRecord], scoring: Scoring,
            *, n_resamples: int, notes: Sequence[str]) -> PairResult:
    """A pair's result from its records alone (in dataset order), by the functions a single
    run uses; only how the outputs were obtained (wall time, inferred / reused counts) comes
    from the ``results`` that ran them, summed."""
    spec, first = scoring.spec, results[0]
    score = summarize(spec, records, lenient=scoring.lenient, protocols=scoring.protocols,
                      metric=scoring.metric)
    scored = [r for r in records if r.error is None]
    inference = sum(r.seconds for r in scored)
    if all(r.inferred == r.score.total for r in results):  # as a run that inferred all
        inference = min(inference, sum(r.wall_seconds for r in results))
    reused_from: Counter[str] = Counter()
    for r in results:
        reused_from.update(r.reused_from)
    result = PairResult(
        model=first.model, dataset=first.dataset, task=spec.task, language=spec.language,
        metric=scoring.metric, score=score, sample_set=sample_set_fingerprint(
            r.id for r in records),
        audio_seconds=sum(r.audio_seconds for r in scored), inference_seconds=inference,
        wall_seconds=sum(r.wall_seconds for r in results),
        inferred=sum(r.inferred for r in results), reused=sum(r.reused for r in results),
        engine=first.engine, error_samples=[(r.id, error_line(r)) for r in records
                                            if r.error is not None],
        notes=list(notes), reused_from=dict(sorted(reused_from.items())),
        groups=list(spec.groups), protocol_rtfx=protocol_rtfx(spec, records, scoring.protocols),
        flagged=[(r.id, flag) for r in records for flag in r.flags],
        dispatch=first.dispatch if len(results) == 1 else {},
        answer_rules=dict(scoring.answer_rules),
    )
    result.interval = interval(per_sample(records, result.metric), result.metric,
                               n_resamples=n_resamples)
    if len(results) == 1:
        # One run's records: its speed is summarized from their timings as the run did, on
        # what the run says it was measured on, so the gate re-derives its speed verdict.
        result.speed = summarize_speed(
            records, wall_seconds=result.wall_seconds,
            complete=result.reused == 0 and result.inferred == score.total,
            n_resamples=n_resamples)
        result.measured_on = dict(first.measured_on)
        result.load_seconds = first.load_seconds
    else:
        # Shards' timings summarized as one set (no throughput: the shards' wall times
        # overlap or ran apart); ``shards`` in measured_on makes the speed gate say "not
        # comparable": shards timed on other machines, or side by side on one, are not one
        # run's latencies, so a merge of shards is never speed-gated.
        result.speed = summarize_speed(records, wall_seconds=result.wall_seconds,
                                       complete=False, n_resamples=n_resamples)
        result.measured_on = {**first.measured_on, "shards": len(results)}
    if first.judge is not None:  # answers in speech: re-derived from the records alone
        result.judge = first.judge
        speech_result(result, records, list(first.metrics),
                      averages_per_sample(spec, scoring.protocols), n_resamples=n_resamples)
    return result
