"""A pair's properties in JUnit XML (pytest's ``--junitxml``): the numbers and the status a
CI dashboard reads from each pair's test case.

pytest writes the XML from each test's ``user_properties``; the pytest front door adds these
when a pair runs and when it is judged (a pair that never got a result still gets its
status).
"""

from __future__ import annotations

from typing import Any

from audiogate.scoring.pair_result import PairResult

STATUS_PROPERTY = "audiogate.status"
SPEED_STATUS_PROPERTY = "audiogate.speed_status"  # the speed gate's finding, when gated


def properties(result: PairResult) -> list[tuple[str, object]]:
    """``audiogate.metric``, ``audiogate.value`` (the gated value), the counts, RTFx, the
    protocol, ``audiogate.value.<protocol>`` for each other protocol, and the pair's speed
    (``speed_properties``); a pair whose answers are speech adds ``audiogate.judge`` and
    ``audiogate.value.<speech metric>``."""
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
    return found + speed_properties(result)


def speed_properties(result: PairResult) -> list[tuple[str, Any]]:
    """``audiogate.latency_p50`` … for JUnit XML: seconds, RTFx, samples per second, and the
    engine's model load time."""
    speed = result.speed
    out: list[tuple[str, Any]] = []
    if result.load_seconds is not None:
        out.append(("audiogate.load_seconds", round(result.load_seconds, 3)))
    if not speed:
        return out
    for kind in ("latency", "ttft"):
        block = speed.get(kind) or {}
        for q in ("p50", "p90", "p99"):
            if q in block:
                out += [(f"audiogate.{kind}_{q}", round(block[q]["estimate"], 6)),
                        (f"audiogate.{kind}_{q}_low", round(block[q]["low"], 6)),
                        (f"audiogate.{kind}_{q}_high", round(block[q]["high"], 6))]
    for name in ("rtfx", "throughput"):
        block = speed.get(name)
        if block:
            out += [(f"audiogate.speed_{name}", round(block["estimate"], 4)),
                    (f"audiogate.speed_{name}_low", round(block["low"], 4)),
                    (f"audiogate.speed_{name}_high", round(block["high"], 4))]
    out.append(("audiogate.timed", speed["timed"]))
    return out
