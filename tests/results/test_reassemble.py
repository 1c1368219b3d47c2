"""A pair put back together from sample shards: the same numbers as one run of the same
records, and a clear failure when the shards do not add up (records scored by the real
scoring path from the real test-other references, no model run)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from pair_reports import edit, scored

from audiogate.gate.paired import interval, per_sample
from audiogate.registry import load as registry
from audiogate.results.reassemble import Part, ShardMismatch, reassemble
from audiogate.results.rederive import Scoring, rescore
from audiogate.results.report import Row
from audiogate.samples import Sample, sample_set_fingerprint, shard_info, shard_of
from audiogate.scoring.pair import Outcome, SampleRecord, score, summarize
from audiogate.scoring.pair_result import PairResult

DATASET = "librispeech-test-other"
N = 3


@pytest.fixture
def records(references: list[tuple[str, str]]) -> list[SampleRecord]:
    kinds = ["sub", "del", "ins", "none"]
    items: list[tuple[str, str, str | None]] = [
        (i, ref, edit(ref, kinds[k % 4], k % 7)) for k, (i, ref) in enumerate(references)]
    items[5] = (items[5][0], items[5][1], None)  # one engine error
    return scored(DATASET, items)


def scoring() -> Scoring:
    """How a live run of whisper-tiny.en scores the dataset."""
    return Scoring.of(registry.model("whisper-tiny.en"), registry.dataset(DATASET),
                      registry.protocols(), lenient=False, recorded_rules=None)


def result_of(records: list[SampleRecord], shard: dict | None) -> PairResult:
    spec = registry.dataset(DATASET)
    summary = summarize(spec, records)
    return PairResult("whisper-tiny.en", DATASET, "asr", "en", "wer", summary,
                      sample_set_fingerprint(r.id for r in records), 1.0, 1.0, 1.0, 0,
                      len(records), {"engine": "whisper-cpu"}, shard=shard)


def parts_of(records: list[SampleRecord]) -> list[Part]:
    full = [Sample(r.id, r.reference, None) for r in records]
    out = []
    for k in range(1, N + 1):
        mine = [r for r in records if shard_of(r.id, N) == k]
        row = Row(result_of(mine, shard_info(full, k, N)), "measured", "shard")
        out.append(Part(row, mine, Path(f"shard-{k}")))
    return out


def test_summaries_from_records_equal_the_scoring(records: list[SampleRecord]) -> None:
    spec = registry.dataset(DATASET)
    outcomes = [Outcome(r.id, r.reference, r.audio_path, r.raw_output, r.answer, r.error)
                for r in records]
    from_outcomes = score(spec, outcomes)[0]
    assert summarize(spec, records) == from_outcomes
    assert from_outcomes.errors == 1 and from_outcomes.value is not None
    assert set(from_outcomes.protocols) == {"ultraeval-audio", "open-asr"}


def test_reassembled_pair_equals_one_run(records: list[SampleRecord]) -> None:
    spec = registry.dataset(DATASET)
    parts = parts_of(records)
    assert all(p.records for p in parts)
    result, merged = reassemble(parts[::-1], scoring(), n_resamples=500)  # order of inputs: moot
    assert merged == records  # dataset order restored
    assert result.score == summarize(spec, records)
    assert result.score.errors == 1 and result.error_samples[0][0] == records[5].id
    assert result.interval == interval(per_sample(records, "wer"), "wer", n_resamples=500)
    assert result.sample_set == sample_set_fingerprint(r.id for r in records)
    assert (result.reused, result.inferred) == (len(records), 0)


def test_missing_repeated_and_foreign_samples_are_named(records: list[SampleRecord]) -> None:
    parts = parts_of(records)
    gone = parts[1].records[0].id
    with pytest.raises(ShardMismatch, match=rf"sample\(s\) in no shard: {gone}.*"
                                            rf"shard\(s\) 2/3 not given"):
        reassemble([parts[0], parts[2]], scoring(), n_resamples=100)
    with pytest.raises(ShardMismatch, match=rf"in more than one shard: .*{gone}"):
        reassemble([*parts, parts[1]], scoring(), n_resamples=100)
    stray = dataclasses.replace(parts[0].records[0], id="9999-9999-9999")
    parts[0].records.append(stray)
    parts[0].row.result.score.total += 1
    with pytest.raises(ShardMismatch, match="not in the pair's sample set: 9999-9999-9999"):
        reassemble(parts, scoring(), n_resamples=100)


def test_shards_of_other_sets_engines_or_stale_files_do_not_merge(
        records: list[SampleRecord]) -> None:
    parts = parts_of(records)
    assert parts[2].row.result.shard is not None
    parts[2].row.result.shard["sample_set"] = "0" * 16
    with pytest.raises(ShardMismatch, match="shards of different sample sets"):
        reassemble(parts, scoring(), n_resamples=100)
    parts = parts_of(records)
    parts[1].row.result.engine = {"engine": "whisper-cpu", "weights": "other"}
    with pytest.raises(ShardMismatch, match=r"ran different engines.*weights"):
        reassemble(parts, scoring(), n_resamples=100)
    parts = parts_of(records)
    parts[0].records.pop()
    with pytest.raises(ShardMismatch, match=r"per-sample file has .* records but its report"):
        reassemble(parts, scoring(), n_resamples=100)
    parts = parts_of(records)
    for part in parts:  # a sample dropped from the pair's ids in every shard
        part.shard["ids"] = part.shard["ids"][1:]
    with pytest.raises(ShardMismatch, match=r"sample set .* of 42 sample\(s\) is not the one "
                                            r"its 41 listed ids give"):
        reassemble(parts, scoring(), n_resamples=100)
    parts = parts_of(records)
    parts[1].row.result.answer_rules = {"after_think": True}
    with pytest.raises(ShardMismatch, match="answers from the raw outputs by different rules"):
        reassemble(parts, scoring(), n_resamples=100)


def test_rescoring_names_every_stored_value_that_disagrees(records: list[SampleRecord]
                                                           ) -> None:
    summary, fresh, problems = rescore(records, scoring(), Path("s.jsonl"))
    assert (fresh, problems) == (records, [])
    assert summary == summarize(registry.dataset(DATASET), records)
    edited = [dataclasses.replace(r, protocols=dict(r.protocols)) for r in records]
    worse = next(r for r in edited if r.error is None and r.substitutions)
    errors = int(worse.substitutions or 0) + int(worse.deletions or 0) + \
        int(worse.insertions or 0)
    worse.substitutions = worse.deletions = worse.insertions = 0
    worse.excluded = True
    worse.normalized_hypothesis = worse.normalized_reference
    worse.protocols["open-asr"] = {**worse.protocols["open-asr"], "substitutions": 0}
    lied = next(r for r in edited if r.error is None and r is not worse)
    lied.answer = "not what it said"
    right = next(r for r in edited if r.error is not None)
    right.error = "empty reference after normalization"  # a scoring error, decided again
    _, fresh, problems = rescore(edited, scoring(), Path("s.jsonl"))
    assert [r for r in fresh if r is not fresh[edited.index(right)]] == \
        [r for r in records if r.id != right.id]

    def of(record: SampleRecord) -> list[str]:
        at = f"s.jsonl: sample {record.id}: "
        return [p.removeprefix(at) for p in problems if p.startswith(at)]
    assert of(worse)[:2] == [f"stored 0 errors, re-scored {errors}",
                             "stored excluded, re-scored not excluded"]
    said, scored = worse.normalized_reference, records[edited.index(worse)].normalized_hypothesis
    assert said is not None and scored is not None
    assert of(worse)[2].startswith(f"stored normalized hypothesis '{said[:40]}")
    assert f", re-scored '{scored[:40]}" in of(worse)[2]  # long texts end in "…"
    assert of(worse)[3].startswith("stored open-asr counts {") and len(of(worse)) == 4
    assert lied.raw_output is not None
    assert of(lied) == [f"stored answer 'not what it said', but the answer rules give "
                        f"'{lied.raw_output[:80]}…' from its raw output"]
    # relabelled a scoring error, an engine error (no output) is scored as no answer at all
    assert of(right)[0] == "stored error 'empty reference after normalization', re-scored " \
                           "no error"
    assert len(problems) == 5 + len(of(right))


def test_merged_shards_keep_every_timing_and_their_speed_is_not_gated(
        records: list[SampleRecord]) -> None:
    from audiogate.gate.decide import speed_run
    from audiogate.gate.speed import summarize as summarize_speed
    from audiogate.gate.speed_entry import not_timed

    timed = [dataclasses.replace(r, audio_seconds=3.0, timing={
        "latency": 0.1 + k / 100, "method": "request", "in_flight": 1}) for k, r in
        enumerate(records)]
    result, merged = reassemble(parts_of(timed), scoring(), n_resamples=300)
    assert [r.timing for r in merged] == [r.timing for r in timed]  # carried as recorded
    # the same numbers as the records summarized at once (no throughput: wall times overlap)
    assert result.speed == summarize_speed(timed, wall_seconds=3.0, complete=False,
                                           n_resamples=300)
    assert result.speed is not None and result.speed["timed"] == len(records) - 1
    assert result.measured_on["shards"] == N
    why = not_timed(speed_run(result))
    assert why is not None and why.startswith("reassembled from shards, which were timed apart")
