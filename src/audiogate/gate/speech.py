"""The gate of a pair whose answers are speech, beside its dataset metric's.

- The judge: the dataset metric (and ``text-speech-wer``) of such a pair is what a judge ASR
  heard, so its thresholds entries name the judge they were recorded with. A run judged
  by another model is compared only with entries of its own judge; when the pair's metric
  is recorded for other judges only, the run is "not comparable": an error, never a pass.
- Speech metrics: each one's per-pair value (the mean of the per-sample values; the corpus
  WER for ``text-speech-wer``) with its bootstrap interval, from the per-sample records
  alone (a merge re-derives them the same way), gated by its own entry: a one-sided
  limit, and the paired test against the baseline's per-sample values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from audiogate.errors import AudiogateError
from audiogate.gate.paired import _baseline_rows
from audiogate.gate.stats import (
    bootstrap_corpus_rate,
    bootstrap_mean,
    paired_bootstrap,
    paired_bootstrap_mean,
)
from audiogate.gate.thresholds import Entry, RunFacts, Verdict, judge
from audiogate.registry.load import LOWER_IS_BETTER, TEXT_SPEECH_WER, DatasetSpec, ProtocolSpec
from audiogate.scoring.pair import SampleRecord

FAILING = ("fail", "error")


# -- per-pair values --------------------------------------------------------------------
def metric_values(records: Sequence[SampleRecord], metric: str) -> dict[str, Any]:
    """Each sample's value of a speech metric: a number, or (errors, reference tokens) for
    ``text-speech-wer``; samples it does not apply to (no voice prompt) are absent."""
    out: dict[str, Any] = {}
    for r in records:
        speech = r.speech or {}
        if r.error is not None or metric not in speech.get("metrics", {}):
            continue
        if metric == TEXT_SPEECH_WER:
            counts = speech.get("text_speech") or {}
            out[r.id] = (int(counts["errors"]), int(counts["ref_tokens"]))
        else:
            out[r.id] = float(speech["metrics"][metric])
    return out


def metric_errors(records: Sequence[SampleRecord], metric: str) -> list[tuple[str, str]]:
    """(id, why) of the samples the metric could not be measured on: an errored sample,
    or the metric's own error (a voice prompt that cannot be read)."""
    out = []
    for r in records:
        if r.error is not None:
            out.append((r.id, str(r.error)))
        elif metric in ((r.speech or {}).get("metric_errors") or {}):
            out.append((r.id, str(r.speech["metric_errors"][metric])))  # type: ignore[index]
    return out


def summarize(records: Sequence[SampleRecord], metrics: Sequence[str], *,
              n_resamples: int, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Each speech metric's value, interval and counts, from the per-sample records."""
    out: dict[str, dict[str, Any]] = {}
    for metric in metrics:
        values = metric_values(records, metric)
        errors = metric_errors(records, metric)
        summary: dict[str, Any] = {
            "value": None, "interval": None, "scored": len(values), "errors": len(errors),
            "error_samples": errors[:5], "lower_is_better": LOWER_IS_BETTER[metric],
            "aggregate": "corpus" if metric == TEXT_SPEECH_WER else "mean"}
        if values:
            if metric == TEXT_SPEECH_WER:
                err = np.array([v[0] for v in values.values()])
                ref = np.array([v[1] for v in values.values()])
                boot = bootstrap_corpus_rate(err, ref, n_resamples=n_resamples, seed=seed)
            else:
                boot = bootstrap_mean(list(values.values()), n_resamples=n_resamples, seed=seed)
            summary["value"] = boot.estimate
            summary["interval"] = {"low": boot.low, "high": boot.high,
                                   "confidence": boot.confidence,
                                   "n_resamples": n_resamples, "method": boot.method}
        out[metric] = summary
    return out


def mean_rate_interval(records: Sequence[SampleRecord], *, n_resamples: int,
                       seed: int = 0) -> dict[str, Any] | None:
    """The interval of a dataset metric its protocol averages per sample (Seed-TTS-Eval)."""
    rates = [r.score for r in records if r.error is None and not r.dropped and not r.excluded
             and r.score is not None]
    if not rates:
        return None
    boot = bootstrap_mean(rates, n_resamples=n_resamples, seed=seed)
    return {"low": boot.low, "high": boot.high, "confidence": boot.confidence,
            "n_resamples": n_resamples, "method": f"{boot.method} of the per-sample mean"}


def baseline_metrics(records: Sequence[SampleRecord], metrics: Sequence[str]
                     ) -> dict[str, dict[str, Any]]:
    """What a baseline line keeps of each sample's speech metrics (for the paired gate)."""
    out: dict[str, dict[str, Any]] = {}
    for metric in metrics:
        for sample_id, value in metric_values(records, metric).items():
            out.setdefault(sample_id, {})[metric] = list(value) if isinstance(value, tuple) \
                else value
    return out


def read_metric_baseline(path: Path, metric: str) -> dict[str, Any]:
    """The per-sample values of ``metric`` in a baseline file (written with the entry)."""
    out: dict[str, Any] = {}
    for number, row in _baseline_rows(path):
        value = (row.get("metrics") or {}).get(metric)
        if value is None:
            continue
        try:
            out[str(row["id"])] = (int(value[0]), int(value[1])) \
                if metric == TEXT_SPEECH_WER else float(value)
        except (TypeError, ValueError, IndexError) as exc:
            raise AudiogateError(f"{path}:{number}: bad {metric} value {value!r}") from exc
    if not out:
        raise AudiogateError(f"{path}: no per-sample {metric} values (re-record the baseline "
                             "with --update-thresholds)")
    return out


# -- the judge --------------------------------------------------------------------------
def judged_entries(entries: Sequence[Entry], metric: str, judge_name: str | None, *,
                   updating: bool = False) -> tuple[list[Entry], str | None]:
    """The entries this run may be compared with: those of its own judge for the metrics
    a judge decides; and the "not comparable" reason when the dataset metric is recorded
    for other judges only (recording this judge is allowed: it adds an entry)."""
    if judge_name is None:
        return list(entries), None
    decided = {metric, TEXT_SPEECH_WER}
    kept = [e for e in entries if e.metric not in decided or e.judge == judge_name]
    others = [e for e in entries if e.metric == metric and e.judge != judge_name]
    if others and not any(e.metric == metric for e in kept) and not updating:
        recorded = ", ".join(f"{e.judge!r} (line {e.line})" for e in others)
        return kept, (f"not comparable: thresholds.yaml records {metric} of this pair as "
                      f"judged by {recorded}, but this run was judged by {judge_name!r}; "
                      "values heard by different judges are different measurements: run "
                      "with --judge set to the recorded judge, or record this judge with "
                      "--update-thresholds")
    return kept, None


# -- the speech metrics' gates ------------------------------------------------------------
def gate_metrics(result: Any, records: Sequence[SampleRecord], entries: Sequence[Entry],
                 status: str, reason: str, *, root: Path, n_resamples: int, record_hint: str,
                 recorded_ids: Callable[[Entry], frozenset[str] | None]) -> tuple[str, str]:
    """The pair's status and reason once each gated speech metric is judged too (a failing
    finding is said first)."""
    failing: list[str] = []
    passing: list[str] = []
    statuses = [status]
    ids = frozenset(r.id for r in records)
    for metric, summary in result.metrics.items():
        relevant = [e for e in entries if e.metric == metric]
        if not relevant:
            continue
        facts = RunFacts(metric, summary["value"], result.score.total, summary["errors"], 0,
                         result.sample_set, ids)
        verdict = judge(relevant, facts, record_hint=record_hint, recorded_ids=recorded_ids)
        found = verdict.reason
        if verdict.status == "fail" and summary["error_samples"] and "errored" in found:
            found += " — " + "; ".join(f"{i}: {e}" for i, e in summary["error_samples"])
        verdict_status = verdict.status
        if verdict.entry is not None and "paired" in verdict.entry.gates and \
                verdict_status == "pass" and summary["value"] is not None:
            worse, line = _paired(verdict, records, metric, root, n_resamples)
            found += f"; paired test: {line}"
            verdict_status = "fail" if worse else verdict_status
        statuses.append(verdict_status)
        (failing if verdict_status in FAILING else passing).append(f"{metric}: {found}")
    if len(statuses) == 1:
        return status, reason
    if "fail" in statuses:
        combined = "fail"
    elif "error" in statuses:
        combined = "error"
    elif status == "updated" or "pass" not in statuses:
        combined = status
    else:
        combined = "pass"
    parts = [reason, *failing] if status in FAILING else [*failing, reason]
    return combined, "; ".join([*parts, *passing])


def _paired(verdict: Verdict, records: Sequence[SampleRecord], metric: str, root: Path,
            n_resamples: int) -> tuple[bool, str]:
    entry = verdict.entry
    assert entry is not None and entry.baseline is not None
    try:
        base = read_metric_baseline(root / entry.baseline, metric)
    except AudiogateError as exc:
        return True, f"could not run: {exc}"
    cand = metric_values(records, metric)
    common = sorted(base.keys() & cand.keys())
    if not common:
        return True, "no sample ids in common with the baseline"
    lower = LOWER_IS_BETTER[metric]
    if metric == TEXT_SPEECH_WER:
        found = paired_bootstrap([base[i][0] for i in common], [base[i][1] for i in common],
                                 [cand[i][0] for i in common], [cand[i][1] for i in common],
                                 margin=entry.margin, confidence=entry.confidence,
                                 n_resamples=n_resamples, lower_is_better=lower)
    else:
        found = paired_bootstrap_mean([base[i] for i in common], [cand[i] for i in common],
                                      margin=entry.margin, confidence=entry.confidence,
                                      n_resamples=n_resamples, lower_is_better=lower)
    return found.worse, found.describe(metric.upper())


def speech_result(result: Any, records: Sequence[SampleRecord], metrics: Sequence[str],
                  mean_aggregate: bool, *, n_resamples: int) -> None:
    """Fill a judged pair's result from its records: its speech metrics, and the interval
    of a dataset metric its protocol averages per sample."""
    result.metrics = summarize(records, metrics, n_resamples=n_resamples)
    if mean_aggregate:
        result.interval = mean_rate_interval(records, n_resamples=n_resamples)


def averages_per_sample(dataset: DatasetSpec,
                        protocols: Mapping[str, ProtocolSpec] | None = None) -> bool:
    """Whether the dataset's gating protocol averages per-sample rates (Seed-TTS-Eval)."""
    if dataset.metric not in ("wer", "cer"):  # accuracy has one rule, no protocol
        return False
    from audiogate.registry.load import profile_for
    from audiogate.registry.load import protocols as builtin

    return profile_for(dataset, protocols or builtin()).aggregate == "mean"


def speech_measured(result: Any) -> list[tuple[str, float, str | None]]:
    """(metric, value, judge) of each speech metric a recording run writes down."""
    judge_name = (result.judge or {}).get("model")
    out = []
    for metric, summary in (result.metrics or {}).items():
        if summary.get("value") is None or summary.get("errors"):
            continue
        out.append((metric, float(summary["value"]),
                    judge_name if metric == TEXT_SPEECH_WER else None))
    return out


def judge_of(result: Any) -> str | None:
    return (result.judge or {}).get("model") if isinstance(result.judge, Mapping) else None
