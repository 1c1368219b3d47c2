"""The plugin's speed duties: JUnit properties of a pair's speed, and recording speed with
--update-thresholds (the entry in thresholds.yaml and its per-sample latencies beside it)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from audiogate.gate.decide import speed_run
from audiogate.gate.speed import hardware_key, write_speed_baseline
from audiogate.gate.speed_entry import SpeedMeasured, not_timed, recorded_values, update_speed
from audiogate.gate.thresholds import Change
from audiogate.results.pair_result import PairResult
from audiogate.results.report import Row, read_samples, samples_path


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


def record_speed(rows: Sequence[Row], thresholds: Path, report_dir: Path, *,
                 speed_gated: set[str], accept_regression: bool) -> list[Change]:
    """--update-thresholds: each recorded pair's speed, on the hardware it ran on, with its
    per-sample latencies beside thresholds.yaml. A pair whose speed was not measured in this
    run (outputs reused from the store, replayed) is not recorded; where thresholds.yaml
    gates its speed (``speed_gated``: pair ids), the change list says why."""
    measured: list[SpeedMeasured] = []
    records_of = {}
    notes: list[Change] = []
    for row in rows:
        result = row.result
        if row.status not in {"pass", "updated"} or result.score.errors:
            continue
        why = not_timed(speed_run(result))
        if why is not None or result.speed is None:
            if result.pair_id in speed_gated:
                notes.append(Change("unchanged", f"{result.pair_id} speed: not recorded: "
                                                 f"{why or 'nothing was timed'}"))
            continue
        relative = (Path("baselines") / result.model /
                    f"{result.dataset}.speed-{hardware_key(result.measured_on)}.jsonl")
        measured.append(SpeedMeasured(result.model, result.dataset, result.score.total,
                                      result.sample_set, dict(result.measured_on),
                                      recorded_values(result.speed), relative.as_posix()))
        records_of[relative] = read_samples(samples_path(report_dir, result.model,
                                                         result.dataset))
    changes = update_speed(thresholds, measured, accept_regression=accept_regression)
    for m, change in zip(measured, changes, strict=True):
        if not change.refused:
            write_speed_baseline(thresholds.parent / m.baseline, records_of[Path(m.baseline)])
    return changes + notes
