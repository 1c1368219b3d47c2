"""How `audiogate report merge` judges each pair: from its records, as a live run would.

Nothing a report says about a pair is taken as it stands. Its samples are scored again from
their texts (results.rederive) under the scoring a live run of the pair uses, its result is
rebuilt from them (results.reassemble, which also puts sample shards back together), and
its verdict comes from the gate's own code (gate.decide) against the thresholds file the
merge is given, under the merge's own switches. A stored number or status that disagrees
fails the pair, naming the file, the sample and what differs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from audiogate.errors import AudiogateError
from audiogate.gate.decide import GateRules, decide
from audiogate.gate.thresholds import Thresholds
from audiogate.registry.load import DatasetSpec, ModelSpec, ProtocolSpec
from audiogate.results.decision_row import row as decision_row
from audiogate.results.reassemble import Part, reassemble, rebuild
from audiogate.results.rederive import Scoring, rescore, result_differences
from audiogate.results.report import (
    FAILING,
    NOT_GATED,
    PASSING,
    Row,
    read_samples,
    samples_path,
    write_samples,
)
from audiogate.scoring.pair import PairScore, SampleRecord
from audiogate.scoring.pair_result import PairResult

SHOW = 10  # disagreements named in a pair's reason before "(+N more)"


@dataclass
class Given:
    """One report's row of a pair, and the report it came from."""

    row: Row
    report: Path  # its audiogate-report.json
    gated: bool  # the run gated its pairs (neither --no-gate nor --shard)

    @property
    def records_file(self) -> Path:
        result = self.row.result
        return samples_path(self.report.parent, result.model, result.dataset)

    @property
    def label(self) -> str:
        shard = self.row.result.shard
        part = f" (shard {shard['index']}/{shard['count']})" if shard else ""
        return f"{self.report}: pair {self.row.result.pair_id}{part}"


@dataclass(frozen=True)
class MergeRules:
    """The merge's own switches: they, not the reports, say how every pair is judged."""

    no_gate: bool = False
    require_gate: bool = False
    lenient: bool = False  # MMAU: score with the lenient letter rule (--mmau-lenient)
    n_resamples: int | None = None  # None: as the runs did


class Judge:
    """Re-derives and judges the pairs of the reports being merged."""

    def __init__(self, models: Mapping[str, ModelSpec], datasets: Mapping[str, DatasetSpec],
                 protocols: Mapping[str, ProtocolSpec], thresholds: Thresholds,
                 rules: MergeRules) -> None:
        self.models, self.datasets, self.protocols = models, datasets, protocols
        self.thresholds, self.rules = thresholds, rules

    def whole(self, given: Given, output: Path) -> Row:
        """A pair that ran whole in one report."""
        stored = given.row.result
        if stored.score.total == 0:
            return self._unscored([given], [given])
        try:
            scoring = self.scoring(stored)
            summary, fresh, found = rescore(read_records(given), scoring, given.records_file)
        except AudiogateError as exc:
            return _failed(stored, f"{given.label}: cannot be re-derived: {exc}")
        problems = self._rule_problems(given, scoring) + [
            f"{given.label}: {p}" for p in result_differences(stored, scoring, summary, fresh)]
        problems += found  # the pair's own numbers first, then each sample's
        n = self.rules.n_resamples or _resamples([stored])
        result = rebuild([stored], fresh, scoring, n_resamples=n, notes=stored.notes)
        return self._judge(result, fresh, output, n, problems, given)

    def sharded(self, pair_id: str, given: Sequence[Given], output: Path) -> Row:
        """A pair whose sample shards ran in several reports: put back together, judged."""
        first = given[0].row.result
        unscored = [g for g in given if "ids" not in (g.row.result.shard or {})]
        if unscored:  # skipped or failed before scoring in some shard
            return self._unscored(given, unscored)
        problems: list[str] = []
        try:
            scoring = self.scoring(first)
            parts = []
            for g in given:
                summary, fresh, found = rescore(read_records(g), scoring, g.records_file)
                problems += self._rule_problems(g, scoring) + [
                    f"{g.label}: {p}" for p in result_differences(g.row.result, scoring,
                                                                   summary, fresh)]
                problems += self._shard_status(g, summary) + found
                parts.append(Part(g.row, fresh, g.report))
            n = self.rules.n_resamples or _resamples([g.row.result for g in given])
            result, records = reassemble(parts, scoring, n_resamples=n)
        except AudiogateError as exc:
            return _failed(first, f"the {len(given)} shard(s) of {pair_id} could not be "
                                  f"merged: {exc}")
        return self._judge(result, records, output, n, problems)

    def scoring(self, result: PairResult) -> Scoring:
        """How a live run scores the pair, from the registries the merge is given."""
        spec = self.datasets.get(result.dataset)
        if spec is None:
            raise AudiogateError(f"dataset {result.dataset!r} is not registered here; pass "
                                 "the --datasets-file the run used")
        model = self.models.get(result.model)
        if model is None:
            raise AudiogateError(f"model {result.model!r} is not registered here; pass the "
                                 "--models-file the run used")
        return Scoring.of(model, spec, self.protocols, lenient=self.rules.lenient,
                          recorded_rules=result.answer_rules)

    def gate_rules(self, n_resamples: int) -> GateRules:
        return GateRules(no_gate=self.rules.no_gate, require_gate=self.rules.require_gate,
                         n_resamples=n_resamples)

    def _judge(self, result: PairResult, records: list[SampleRecord], output: Path, n: int,
               problems: list[str], given: Given | None = None) -> Row:
        """The merge's verdict on a re-derived pair; a stored value or status that
        disagrees with it fails the pair, named."""
        samples = write_samples(records, samples_path(output, result.model, result.dataset))
        hint = f"`pytest benchmarks -k {result.pair_id} --model {result.model} " \
               "--update-thresholds`"
        decision = decide(result, records, self.thresholds, self.gate_rules(n),
                          record_hint=hint)
        if given is not None:  # what the run itself said, under its own switches
            ran = GateRules(no_gate=not given.gated, n_resamples=n)
            said = decision if ran == self.gate_rules(n) else decide(
                result, records, self.thresholds, ran, record_hint=hint)
            problems = status_problems(given, said.status, said.reason) + problems
        row = decision_row(result, decision, self.thresholds, samples)
        if not problems:
            return row
        more = f" (+{len(problems) - SHOW} more)" if len(problems) > SHOW else ""
        row.status = "fail"
        row.reason = (f"the reports disagree with their re-scored records: "
                      f"{'; '.join(problems[:SHOW])}{more} — re-derived: "
                      f"{decision.status.upper()} — {row.reason}")
        return row

    def _rule_problems(self, given: Given, scoring: Scoring) -> list[str]:
        """A pair scored under an MMAU rule the merge was not told to use."""
        rule = given.row.result.score.breakdown.get("rule")
        wanted = "lenient" if scoring.lenient else "official"
        if scoring.spec.metric != "acc" or rule in (None, wanted):
            return []
        return [f"{given.label}: scored with the {rule} MMAU rule; the merge scores the "
                f"{wanted} rule (pass --mmau-lenient to merge a lenient run)"]

    def _shard_status(self, given: Given, summary: PairScore) -> list[str]:
        """A shard's status as the run's gate code gives it (measured, or error)."""
        shard = given.row.result.shard or {}
        stored = dataclasses.replace(given.row.result, score=summary)
        said = decide(stored, [], self.thresholds,
                      GateRules(shard=f"{shard.get('index')}/{shard.get('count')}"),
                      record_hint="")
        return status_problems(given, said.status, said.reason)

    def _unscored(self, given: Sequence[Given], unscored: Sequence[Given]) -> Row:
        """A pair that some report never scored: it failed before scoring, or it was
        skipped. Skipped stays skipped only where a live run may skip it (not gated by the
        thresholds file, no --require-gate): a gated pair never passes by not running."""
        first = unscored[0].row
        result = dataclasses.replace(first.result, shard=None)  # stands for the whole pair
        pair_id = result.pair_id
        claimed = [g for g in unscored if g.row.status not in {"fail", "skipped"}]
        if claimed:
            return _failed(result, "; ".join(f"{g.label}: stored status "
                                             f"{g.row.status.upper()} with no scored sample"
                                             for g in claimed))
        failed = [g for g in unscored if g.row.status == "fail"]
        if len(given) > 1 and (failed or len(unscored) < len(given)):
            listed = "; ".join(f"{g.report}: {g.row.status} — {g.row.reason}" for g in unscored)
            return Row(result, "fail", f"{len(unscored)} of the {len(given)} shard(s) of "
                                       f"{pair_id} did not score it: {listed}")
        if failed:
            return Row(result, "fail", first.reason)
        must_run = ("--require-gate" if self.rules.require_gate else
                    f"{self.thresholds.path} gates it" if not self.rules.no_gate
                    and self.thresholds.is_gated(result.model, result.dataset) else None)
        if must_run:
            return Row(result, "fail", f"{pair_id} was skipped ({first.reason}), but "
                                       f"{must_run}: a gated pair never passes by not running")
        return Row(result, "skipped", first.reason)


def status_problems(given: Given, status: str, reason: str) -> list[str]:
    """The report's status for a pair, where the gate's own code gives another one for the
    same records under the same switches (an "updated" pair reads as passing; a pair
    failed by --require-gate as not gated)."""
    stored = given.row.status
    if _kind(stored) == _kind(status):
        return []
    if stored == "fail" and given.row.reason.startswith("--require-gate:") and \
            status in NOT_GATED:
        return []
    return [f"{given.label}: stored status {stored.upper()}, re-derived {status.upper()} "
            f"({reason})"]


def _kind(status: str) -> str:
    for kind, members in (("passing", PASSING), ("failing", FAILING),
                          ("not gated", NOT_GATED)):
        if status in members:
            return kind
    return status


def read_records(given: Given) -> list[SampleRecord]:
    """The per-sample records beside a report (a pair is merged from its records)."""
    source = given.records_file
    if not source.is_file():
        raise AudiogateError(f"{source}: no per-sample records for "
                             f"{given.row.result.pair_id} beside {given.report}; a pair is "
                             "merged from its records")
    try:
        return read_samples(source)
    except (OSError, ValueError, TypeError) as exc:
        raise AudiogateError(f"{source}: unreadable per-sample records "
                             f"({type(exc).__name__}: {exc})") from exc


def _failed(result: PairResult, reason: str) -> Row:
    failed = PairResult.unscored(result.model, result.dataset, result.task, result.language,
                                 result.metric)
    return Row(failed, "fail", reason)


def _resamples(results: Sequence[PairResult]) -> int:
    """The resamples the runs' intervals used (they ran with one command line)."""
    for result in results:
        if result.interval and result.interval.get("n_resamples"):
            return int(result.interval["n_resamples"])
    return 10_000
