"""A judged pair as the reports show it: the gate's decision in a report row.

It stands with the results, after the gate, because the row and the worst regressed
utterances it quotes are what a report shows; the gate decides, and imports neither.
"""

from __future__ import annotations

from pathlib import Path

from audiogate.gate.decide import Decision
from audiogate.gate.thresholds import Thresholds
from audiogate.results.diff_text import worst_regressed
from audiogate.results.report import Row
from audiogate.scoring.pair_result import PairResult


def row(result: PairResult, decision: Decision, thresholds: Thresholds, samples: Path) -> Row:
    """The reports' row of a judged pair; a failing pair against a baseline also names its
    worst regressed utterances (read from its per-sample file, already written)."""
    entry = decision.entry
    baseline = thresholds.path.parent / entry.baseline if entry and entry.baseline else None
    reason = decision.reason
    if decision.status == "fail" and baseline is not None:
        reason += worst_regressed(baseline, samples, result.metric, result.language,
                                  result.groups, protocol=result.score.protocol)
    return Row(result, decision.status, reason, decision.threshold, decision.recorded,
               decision.limit, str(baseline) if baseline else None,
               decision.speed.to_json() if decision.speed is not None else None)
