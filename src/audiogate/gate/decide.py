"""The gate's judgment of one pair, shared by the pytest plugin and `audiogate report merge`.

Why one function: a pair judged on one machine and the same pair reassembled from sample
shards must get the same verdict from the same records. The rules (the entry for this
sample set, the paired test against its baseline, --no-gate, --shard, --require-gate, what
--update-thresholds would record) live here once, so the two front doors cannot drift; the
row the reports show of a decision is the results' (results.decision_row).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from audiogate.errors import AudiogateError
from audiogate.gate.paired import baseline_ids, paired_verdict, per_sample, read_baseline
from audiogate.gate.speech import gate_metrics, judge_of, judged_entries
from audiogate.gate.speed_entry import FAIL as SPEED_FAIL
from audiogate.gate.speed_entry import NOT_COMPARABLE, SpeedRun, SpeedVerdict, judge_speed
from audiogate.gate.thresholds import (
    NOT_GATED_STATUS,
    NOT_RECORDED,
    Change,
    Entry,
    Measured,
    RunFacts,
    Thresholds,
    errors_counted,
    judge,
    plan_change,
    recorded_of,
)
from audiogate.scoring.pair import SampleRecord
from audiogate.scoring.pair_result import PairResult


@dataclass(frozen=True)
class GateRules:
    """What the run asked of the gate (its command-line switches)."""

    no_gate: bool = False
    require_gate: bool = False
    updating: bool = False  # --update-thresholds: say what recording would change
    accept_regression: bool = False
    n_resamples: int = 10_000  # the paired bootstrap's resamples
    shard: str | None = None  # "K/N": a part of every pair's samples, judged only when merged


@dataclass(frozen=True)
class Decision:
    """A pair's status and why, with the entry it was judged against."""

    status: str  # pass | fail | error | not gated | measured | updated
    reason: str
    entry: Entry | None = None
    refused: str | None = None  # an update refused because it would loosen the gate
    speed: SpeedVerdict | None = None  # the speed gate's finding (None: no speed entry)

    @property
    def threshold(self) -> str | None:
        """The limit as the table shows it ("max 4.15")."""
        if self.entry is None:
            return None
        return f"{'max' if self.entry.lower_is_better else 'min'} {self.entry.limit:.2f}"

    @property
    def recorded(self) -> float | None:
        return self.entry.value if self.entry is not None else None

    @property
    def limit(self) -> float | None:
        return self.entry.limit if self.entry is not None else None


class RecordedIds:
    """The ids each entry was recorded on, from its baseline file (read once; None when the
    entry has no baseline or it cannot be read)."""

    def __init__(self, root: Path) -> None:
        self.root = root  # baselines are relative to the thresholds file's folder
        self._cache: dict[str, frozenset[str] | None] = {}

    def __call__(self, entry: Entry) -> frozenset[str] | None:
        if entry.baseline is None:
            return None
        if entry.baseline not in self._cache:
            try:
                ids: frozenset[str] | None = baseline_ids(self.root / entry.baseline)
            except AudiogateError:
                ids = None
            self._cache[entry.baseline] = ids
        return self._cache[entry.baseline]


def decide(result: PairResult, records: Sequence[SampleRecord], thresholds: Thresholds,
           rules: GateRules, *, record_hint: str,
           recorded_ids: Callable[[Entry], frozenset[str] | None] | None = None) -> Decision:
    """Judge one pair's result (and its per-sample records) against the thresholds file."""
    root = thresholds.path.parent
    score = result.score
    if rules.shard is not None:
        status = "error" if score.errors else "measured"
        reason = (f"{score.errors} of {score.total} sample(s) errored; " if score.errors
                  else "") + shard_reason(rules.shard, score.total)
        return Decision(status, _with_details(status, reason, result))
    if rules.no_gate:
        status = "error" if score.errors else "measured"
        reason = (f"{score.errors} of {score.total} sample(s) errored; " if score.errors
                  else "") + "--no-gate: measured, not gated"
        return Decision(status, _with_details(status, reason, result))
    errors = dict(result.error_samples)
    facts = RunFacts(score.metric, score.value, score.total, score.errors, score.excluded,
                     result.sample_set, frozenset(r.id for r in records),
                     excluded_detail(records), score.protocol, score.answered_value,
                     tuple(f"{i}: {errors.get(i, 'errored')}" for i in score.uncounted))
    recorded_ids = recorded_ids or RecordedIds(root)
    entries, not_comparable = judged_entries(thresholds.for_pair(result.model, result.dataset),
                                             result.metric, judge_of(result),
                                             updating=rules.updating)
    if not_comparable is not None:  # heard by another judge: never compared, never a pass
        return Decision("error", _with_details("error", not_comparable, result))
    verdict = judge(entries, facts, record_hint=record_hint, recorded_ids=recorded_ids)
    status, reason, entry = verdict.status, verdict.reason, verdict.entry
    judged_by_value = entry is not None and score.value is not None and not score.uncounted \
        and score.errors <= entry.max_errors and score.excluded <= entry.max_excluded
    if entry is not None and judged_by_value and "paired" in entry.gates:
        status, reason = _paired(result, records, entry, status, reason, root,
                                 rules.n_resamples)
    if result.metrics:  # speaker similarity, DNSMOS...: each gated by its own entry
        status, reason = gate_metrics(result, records, entries, status, reason, root=root,
                                      n_resamples=rules.n_resamples, record_hint=record_hint,
                                      recorded_ids=recorded_ids)
    refused = None
    if rules.updating:
        status, reason, refused = _update(result, entry, status, reason,
                                          rules.accept_regression)
    if status == NOT_GATED_STATUS and rules.require_gate:
        status, reason = "fail", f"--require-gate: {reason}"
    speed = judge_speed(thresholds.speed_for(result.model, result.dataset),
                        speed_run(result), records, root, rules.n_resamples)
    status, reason = with_speed(status, reason, speed, rules)
    return Decision(status, _with_details(status, reason, result), entry, refused, speed)


def speed_run(result: PairResult) -> SpeedRun:
    """What the speed gate judges of a pair's result."""
    return SpeedRun(result.speed, result.measured_on, result.score.total, result.sample_set,
                    result.reused, merged="shards" in result.measured_on,
                    engine=result.engine.get("engine"))


def with_speed(status: str, reason: str, speed: SpeedVerdict | None, rules: GateRules
               ) -> tuple[str, str]:
    """The pair's status and reason with its speed gate's finding: a slower run fails the
    pair; a run not comparable with the recorded speed neither passes nor fails on it (a
    failure under --require-gate). While recording, the finding is said and the recording
    decides (a slower speed is a loosening, refused unless accepted)."""
    if speed is None:
        return status, reason
    if speed.status == SPEED_FAIL and not rules.updating:
        if status in {"fail", "error"}:
            return status, f"{reason}; speed {speed.reason}"
        return "fail", f"speed {speed.reason}; {reason}"
    if speed.status == NOT_COMPARABLE:
        text = f"speed not comparable: {speed.reason}"
        if rules.require_gate and not rules.updating and status not in {"fail", "error"}:
            return "fail", f"--require-gate: {text}; {reason}"
        return status, f"{reason}; {text}"
    return status, f"{reason}; speed: {speed.reason}"


def shard_reason(shard: str, samples: int) -> str:
    """Why a shard's pair is not gated, and what gates it."""
    count = shard.split("/")[1]
    return (f"--shard {shard}: {samples} sample(s) of this pair, not gated on their own; "
            f"`audiogate report merge` of all {count} shards judges the pair")


def _paired(result: PairResult, records: Sequence[SampleRecord], entry: Entry, status: str,
            reason: str, root: Path, n_resamples: int) -> tuple[str, str]:
    """The paired bootstrap against the entry's baseline (same ids only). Every gate's
    finding is said, the failing one first; a baseline that cannot be read fails the pair
    without hiding what the limit found."""
    assert entry.baseline is not None
    limit = "limit" in entry.gates
    try:
        baseline = read_baseline(root / entry.baseline)
    except AudiogateError as exc:
        unread = f"the paired test could not run: {exc}"
        if not limit:
            return "fail", unread
        return "fail", (f"{reason}; {unread}" if status == "fail"
                        else f"{unread}; limit: {reason}")
    worse, line = paired_verdict(
        baseline, per_sample(records, result.metric), result.metric,
        margin=entry.margin, confidence=entry.confidence, n_resamples=n_resamples)
    found = f"paired test: {line}"
    if not limit:
        return ("fail" if worse else "pass"), found
    if worse:
        return "fail", (f"{reason}; {found}" if status == "fail" else f"{found}; limit: {reason}")
    return status, f"{reason}; {found}"


def _update(result: PairResult, entry: Entry | None, status: str, reason: str,
            accept_regression: bool) -> tuple[str, str, str | None]:
    """--update-thresholds: record this run unless that would loosen the gate unasked."""
    score = result.score
    skipped = not_recorded(result, status)
    if skipped is not None:
        return status, f"{reason}; --update-thresholds: {skipped.text}", None
    if score.errors or score.value is None or status == "error":
        return status, reason, None  # never recorded: a run with errors is not a measurement
    measured = Measured(result.model, result.dataset, result.metric, score.value,
                        score.total, result.sample_set, excluded=score.excluded,
                        protocol=score.protocol)
    change, _ = plan_change(measured, recorded_of(entry) if entry is not None else None,
                            accept_regression=accept_regression)
    if change.refused:
        return status, f"{reason}; --update-thresholds: {change.text}", change.text
    if status == "pass" and change.kind == "unchanged":
        return status, reason, None
    return "updated", f"recorded by --update-thresholds ({change.kind}): {change.text}; " \
                      f"the gate said: {reason}", None


def not_recorded(result: PairResult, status: str) -> Change | None:
    """--update-thresholds on a pair that passed with errored samples (max_errors allowed
    them): never recorded, and the summary says why and what the gated value counted."""
    score = result.score
    if status not in ("pass", "updated") or not score.errors or score.value is None:
        return None
    name = score.metric.upper()
    return Change(NOT_RECORDED, f"{result.pair_id} {score.metric}: {score.errors} sample(s) "
                                f"errored, so nothing was recorded (thresholds are recorded "
                                f"from runs where every sample is answered); the gated {name} "
                                f"{score.value:.2f} is kept as measured: "
                                f"{errors_counted(score.errors, name, score.answered_value)}")


def _with_details(status: str, reason: str, result: PairResult) -> str:
    """A failing pair's reason carries its notes and its first errored samples."""
    if status in {"fail", "error"} and result.notes:
        reason += " — " + "; ".join(result.notes)
    if status in {"fail", "error"} and result.error_samples:
        shown = "; ".join(f"{i}: {e}" for i, e in result.error_samples[:5])
        more = len(result.error_samples) - 5
        reason += f" — errored samples: {shown}" + (f" (+{more} more)" if more > 0 else "")
    return reason


def excluded_detail(records: Sequence[SampleRecord], show: int = 5) -> str:
    """The excluded samples, for a failure message: id, per-sample score, hypothesis start."""
    excluded = [r for r in records if r.excluded]
    parts = []
    for r in excluded[:show]:
        hypothesis = (r.answer or "").replace("\n", " ")
        start = hypothesis[:60] + ("…" if len(hypothesis) > 60 else "")
        parts.append(f"{r.id} ({r.score or 0:.0f} %: {start!r})")
    more = f" (+{len(excluded) - show} more)" if len(excluded) > show else ""
    return "; ".join(parts) + more
