"""Recording speed in thresholds.yaml (``--update-thresholds``): a pair's ``metric: speed``
entry written or moved, never loosened silently (gate/speed_entry.py reads and judges it)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from audiogate.gate.speed import differences
from audiogate.gate.speed_entry import DEFAULT_MARGIN, DEFAULT_SLACK, limit_target, point
from audiogate.gate.thresholds import Change, _add_entry, _yaml
from audiogate.registry.schema import MEASURED_ON_KEYS, SPEED, SPEED_LIMITS, SPEED_VALUES


@dataclass(frozen=True)
class SpeedMeasured:
    """A pair's speed as --update-thresholds records it."""

    model: str
    dataset: str
    samples: int
    sample_set: str
    measured_on: dict[str, Any]
    values: dict[str, float]
    baseline: str  # the per-sample latencies' file, relative to thresholds.yaml


def recorded_values(summary: Mapping[str, Any]) -> dict[str, float]:
    """The values a speed entry records from a run's speed summary (4 significant
    digits)."""
    out = {}
    for name in SPEED_VALUES:
        value = point(summary, name)
        if value is not None and value > 0:
            out[name] = float(f"{value:.4g}")
    return out


def default_limits(values: Mapping[str, float]) -> dict[str, float]:
    """A new entry's limits: p90 latency, median time to first token and RTFx, each
    DEFAULT_SLACK from the recorded value."""
    out = {}
    for key in ("max_latency_p90", "max_ttft_p50", "min_rtfx"):
        target, lower = limit_target(key)
        if target in values:
            value = values[target]
            out[key] = float(f"{(value * DEFAULT_SLACK if lower else value / DEFAULT_SLACK):.4g}")
    return out


def plan_speed(m: SpeedMeasured, item: Mapping[str, Any] | None, *,
               accept_regression: bool) -> tuple[Change, dict[str, float]]:
    """(the change, the limits to write) for a speed measurement against its entry (the
    one for the same sample set and measured_on), or a new entry. An existing limit keeps
    its slack as a ratio to its value; a higher max or a lower min loosens the gate: refused
    unless ``accept_regression``."""
    pair = f"{m.model}/{m.dataset} speed"
    shown = ", ".join(f"{k} {v:g}" for k, v in m.values.items() if k in
                      ("latency_p50", "latency_p90", "ttft_p50", "rtfx"))
    if item is None:
        limits = default_limits(m.values)
        return Change("new", f"{pair}: new entry {shown} ("
                      + ", ".join(f"{k} {v:g}" for k, v in limits.items())
                      + f"; measured on {describe(m.measured_on)})"), limits
    limits, moved, looser = {}, [], False
    for key in SPEED_LIMITS:
        if key not in item:
            continue
        old = float(item[key])
        target, lower = limit_target(key)
        recorded = item.get(target)
        new = old
        if recorded and target in m.values:
            new = float(f"{m.values[target] * old / float(recorded):.4g}")
        limits[key] = new
        if new != old:
            moved.append(f"{key} {old:g} -> {new:g}")
            looser = looser or ((new > old) if lower else (new < old))
    text = f"{pair}: {shown}" + (f" ({', '.join(moved)})" if moved else "")
    if looser:
        refused = not accept_regression
        return Change("loosened", text + (" — REFUSED: this loosens the speed gate; pass "
                                          "--accept-regression to record it" if refused
                                          else ""), refused), limits
    changed = moved or any(item.get(k) != v for k, v in m.values.items())
    return Change("tightened" if moved else "unchanged" if not changed else "re-recorded",
                  text), limits


def describe(facts: Mapping[str, Any]) -> str:
    """measured_on in a few words: ``2 x AMD EPYC 9B14, openai 0.32.0, concurrency 8``."""
    where = facts.get("server_hardware") or (
        f"{facts.get('gpu_count')} x {facts.get('gpu')}" if facts.get("gpu") else
        f"{facts.get('cpus')} x {facts.get('cpu')}")
    return (f"{where}, {facts.get('engine')} {facts.get('engine_version') or ''}".rstrip()
            + f", concurrency {facts.get('concurrency')}, batch {facts.get('batch_size')}")


def _same(item: Any, m: SpeedMeasured) -> bool:
    if not isinstance(item, Mapping) or item.get("metric") != SPEED:
        return False
    same_set = item.get("sample_set") == m.sample_set or (
        item.get("sample_set") is None and item.get("samples") == m.samples)
    facts = item.get("measured_on")
    return same_set and isinstance(facts, Mapping) and not differences(facts, m.measured_on)


def update_speed(path: Path, measured: Iterable[SpeedMeasured], *,
                 accept_regression: bool = False) -> list[Change]:
    """Record speed measurements in the thresholds file (comments and other entries kept);
    one Change each. A loosening is written only with ``accept_regression``."""
    yaml = _yaml()
    data = yaml.load(path.read_text(encoding="utf-8")) if path.exists() else None
    if data is None:
        data = CommentedMap()
    changes: list[Change] = []
    for m in measured:
        items = data.get(m.model, {}).get(m.dataset, [])
        item = next((i for i in items if _same(i, m)), None)
        change, limits = plan_speed(m, item, accept_regression=accept_regression)
        changes.append(change)
        if change.refused:
            continue
        new = item is None
        if item is None:
            item = CommentedMap()
            item["metric"] = SPEED
        item["samples"] = m.samples
        item["sample_set"] = m.sample_set
        item["measured_on"] = CommentedMap((k, v) for k, v in m.measured_on.items()
                                           if v is not None and k in MEASURED_ON_KEYS)
        for key in list(item):
            if key in SPEED_VALUES and key not in m.values:
                del item[key]  # not measured this time (no streaming): not recorded either
        for key, value in {**m.values, **limits}.items():
            item[key] = value
        if new:
            gates = CommentedSeq(["limit", "paired"] if limits else ["paired"])
            gates.fa.set_flow_style()
            item["gate"] = gates
            item["margin"] = DEFAULT_MARGIN
        item["baseline"] = m.baseline
        if new:
            _add_entry(data, m.model, m.dataset, item)
    if any(c.kind != "unchanged" and not c.refused for c in changes):
        buf = io.StringIO()
        yaml.dump(data, buf)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(buf.getvalue(), encoding="utf-8")
        tmp.replace(path)
    return changes

