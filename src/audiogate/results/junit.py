"""A pair's properties in JUnit XML (pytest's ``--junitxml``): the numbers and the status a
CI dashboard reads from each pair's test case.

pytest writes the XML from each test's ``user_properties``; the pytest front door adds these
when a pair runs and when it is judged (a pair that never got a result still gets its
status).
"""

from __future__ import annotations

from audiogate.scoring.pair_result import PairResult

STATUS_PROPERTY = "audiogate.status"


def properties(result: PairResult) -> list[tuple[str, object]]:
    """``audiogate.metric``, ``audiogate.value`` (the gated value), the counts, RTFx, the
    protocol, and ``audiogate.value.<protocol>`` for each other protocol; a pair whose
    answers are speech adds ``audiogate.judge`` and ``audiogate.value.<speech metric>``."""
    found: list[tuple[str, object]] = [
        (f"audiogate.{name}", value) for name, value in (
            ("metric", result.metric), ("value", result.score.value),
            ("samples", result.score.total), ("errors", result.score.errors),
            ("excluded", result.score.excluded), ("rtfx", result.rtfx),
            ("protocol", result.score.protocol), ("dropped", result.score.dropped))]
    found += [(f"audiogate.value.{protocol}", other.reported)
              for protocol, other in result.score.others().items()]
    if result.judge:
        found.append(("audiogate.judge", result.judge.get("model")))
    found += [(f"audiogate.value.{name}", summary.get("value"))
              for name, summary in result.metrics.items()]
    return found
