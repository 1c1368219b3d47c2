"""The plugin's speed duty: recording speed with --update-thresholds --record-speed (the
entry in thresholds.yaml and its per-sample latencies beside it). Speed is recorded only on
request: it holds for one machine, and a recorded entry gates every later run there."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from audiogate.gate.decide import speed_run
from audiogate.gate.speed import hardware_key, write_speed_baseline
from audiogate.gate.speed_entry import not_timed
from audiogate.gate.speed_record import SpeedMeasured, recorded_values, update_speed
from audiogate.gate.thresholds import Change
from audiogate.results.report import Row, read_samples, samples_path


def record_speed(rows: Sequence[Row], thresholds: Path, report_dir: Path, *,
                 speed_gated: set[str], accept_regression: bool) -> list[Change]:
    """--update-thresholds --record-speed: each recorded pair's speed, on the hardware it
    ran on, with its per-sample latencies beside thresholds.yaml. A pair whose speed was not
    measured in this run (replayed, or partly unanswered) is not recorded; where
    thresholds.yaml gates its speed (``speed_gated``: pair ids), the change list says why."""
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


def speed_kept(rows: Sequence[Row], speed_gated: set[str]) -> list[Change]:
    """--update-thresholds without --record-speed: a pair's speed entries stay as they are,
    and the change list says how to record this machine's speed instead."""
    return [Change("unchanged", f"{row.result.pair_id} speed: entry kept; "
                                "--record-speed records this run's speed")
            for row in rows if row.result.pair_id in speed_gated]
