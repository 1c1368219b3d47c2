"""Speed entries of thresholds.yaml (``metric: speed``): read and judged (gate/speed_record.py
records them).

Schema (beside a pair's accuracy entries)::

    - metric: speed
      samples: 83
      sample_set: 1f9c…
      measured_on:          # what the numbers were measured on; all must match to compare
        cpu: AMD EPYC 9B14  # or, for a server on another machine, server_hardware: (its
        cpus: 2             #  owner's words, from $AUDIOGATE_SERVER_HARDWARE)
        gpu: NVIDIA H100 80GB HBM3
        gpu_count: 1
        engine: openai
        engine_version: 0.32.0
        concurrency: 8
        batch_size: 1
      latency_p50: 0.25     # recorded values: seconds (latency, ttft), RTFx, samples/s
      latency_p90: 0.31
      rtfx: 21.4
      max_latency_p90: 0.39 # limits on the point estimates: max_latency_p50/p90/p99,
      min_rtfx: 17.1        #  max_ttft_p50/p90/p99, min_rtfx, min_throughput
      gate: [limit, paired] # default: the gates the entry configures
      baseline: baselines/<model>/<dataset>.speed-<key>.jsonl  # per-sample latencies
      margin: 0.10          # paired: the slowdown tolerated, a fraction (0.10 = 10 %)
      confidence: 0.95

A run whose measured_on differs, or that ran another sample set, or timed nothing (its
outputs reused from the store, or replayed), is "not comparable": never a pass, never a
fail; ``--require-gate`` makes it a failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap

from audiogate.errors import AudiogateError, ThresholdsError
from audiogate.gate.speed import differences, paired_latency, read_speed_baseline
from audiogate.gate.yaml_fields import count as _count
from audiogate.gate.yaml_fields import finite as _finite
from audiogate.gate.yaml_fields import line as _line
from audiogate.registry.load import DatasetSpec
from audiogate.registry.schema import (
    MEASURED_ON_KEYS,
    SPEED,
    SPEED_ENTRY_KEYS,
    SPEED_LIMITS,
    SPEED_VALUES,
    closest,
)
from audiogate.scoring.pair import SampleRecord

PASS, FAIL, NOT_COMPARABLE = "pass", "fail", "not comparable"
DEFAULT_SLACK = 1.25  # new entries: limits 25 % slower than the recorded values
DEFAULT_MARGIN = 0.10  # new entries: the paired gate tolerates a 10 % slower median
UNITS = {"latency": "s", "ttft": "s", "rtfx": "", "throughput": "samples/s"}


def limit_target(key: str) -> tuple[str, bool]:
    """``max_latency_p90`` -> (``latency_p90``, True: lower is better)."""
    bound, _, value = key.partition("_")
    return value, bound == "max"


@dataclass(frozen=True)
class SpeedEntry:
    model: str
    dataset: str
    line: int
    samples: int
    sample_set: str | None
    measured_on: dict[str, Any]
    values: dict[str, float]
    limits: dict[str, float]
    gates: tuple[str, ...]
    baseline: str | None = None
    margin: float = DEFAULT_MARGIN
    confidence: float = 0.95
    metric: str = SPEED

    def matches(self, total: int, fingerprint: str) -> bool:
        if self.sample_set is not None:
            return self.sample_set == fingerprint
        return self.samples == total


def parse_speed_entry(path: Path, model: str, spec: DatasetSpec, item: CommentedMap
                      ) -> SpeedEntry:
    """One ``metric: speed`` entry, every key checked (file, line and key named)."""
    line = _line(item)
    where = f"{path}:{line}: {model}/{spec.name} speed"

    def at(key: str) -> str:
        return f"{path}:{_line(item, key) or line}: {model}/{spec.name} speed: `{key}`"

    unknown = set(item) - SPEED_ENTRY_KEYS
    if unknown:
        key = sorted(unknown)[0]
        raise ThresholdsError(f"{at(key)}: unknown key {key!r} in a speed entry"
                              f"{closest(key, SPEED_ENTRY_KEYS)} (allowed: "
                              f"{', '.join(sorted(SPEED_ENTRY_KEYS))})")
    for key in ("samples", "measured_on"):
        if key not in item:
            raise ThresholdsError(f"{where}: entry lacks `{key}`")
    facts = item["measured_on"]
    if not isinstance(facts, Mapping) or not facts.get("engine"):
        raise ThresholdsError(f"{at('measured_on')} must be a mapping naming at least the "
                              "`engine` (and the hardware: cpu/cpus or gpu/gpu_count)")
    unknown = set(facts) - MEASURED_ON_KEYS
    if unknown:
        fact = sorted(unknown)[0]
        raise ThresholdsError(f"{at('measured_on')}: unknown fact {fact!r}"
                              f"{closest(fact, MEASURED_ON_KEYS)} (allowed: "
                              f"{', '.join(sorted(MEASURED_ON_KEYS))})")
    values = {k: _positive(item[k], at(k)) for k in SPEED_VALUES if k in item}
    limits = {k: _positive(item[k], at(k)) for k in SPEED_LIMITS if k in item}
    for key, limit in limits.items():
        target, lower = limit_target(key)
        value = values.get(target)
        if value is not None and ((limit < value) if lower else (limit > value)):
            raise ThresholdsError(f"{at(key)} {limit:g} is on the strict side of "
                                  f"{target} {value:g}: the recorded run would fail its own "
                                  "gate")
    gates_raw = item.get("gate")
    if gates_raw is None:
        gates = tuple(g for g, on in (("limit", limits), ("paired", item.get("baseline"))) if on)
    else:
        gates = tuple(gates_raw) if isinstance(gates_raw, list) else (str(gates_raw),)
    if not gates or set(gates) - {"limit", "paired"}:
        raise ThresholdsError(f"{at('gate')}: a speed entry gates by limit, paired or both "
                              f"(and needs a max_…/min_… limit or a baseline), not "
                              f"{gates_raw!r}")
    if "limit" in gates and not limits:
        raise ThresholdsError(f"{where}: gate `limit` needs at least one of "
                              f"{', '.join(SPEED_LIMITS)}")
    if "paired" in gates and not item.get("baseline"):
        raise ThresholdsError(f"{where}: the paired speed gate needs a `baseline` file "
                              "(written by --update-thresholds)")
    margin = _finite(item.get("margin", DEFAULT_MARGIN), at("margin"))
    if not 0.0 <= margin < 10.0:
        raise ThresholdsError(f"{at('margin')} is the slowdown tolerated as a fraction "
                              f"(0.10 = 10 %), from 0 to 10, not {margin:g}")
    confidence = _finite(item.get("confidence", 0.95), at("confidence"))
    if not 0.5 <= confidence < 1.0:
        raise ThresholdsError(f"{at('confidence')} must be in [0.5, 1), not {confidence:g}")
    sample_set = item.get("sample_set")
    return SpeedEntry(model, spec.name, line, _count(item["samples"], at("samples")),
                      str(sample_set) if sample_set is not None else None,
                      {str(k): v for k, v in facts.items()}, values, limits, gates,
                      str(item["baseline"]) if item.get("baseline") else None, margin,
                      confidence)


def _positive(raw: Any, where: str) -> float:
    value = _finite(raw, where)
    if value <= 0:
        raise ThresholdsError(f"{where} must be a positive number, not {value:g}")
    return value


# -- judging ------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpeedRun:
    """What one run measured about a pair's speed, as the speed gate judges it."""

    summary: dict[str, Any] | None
    measured_on: dict[str, Any]
    total: int
    fingerprint: str
    reused: int = 0
    merged: bool = False  # reassembled from shards that timed their parts apart
    engine: str | None = None


@dataclass(frozen=True)
class SpeedVerdict:
    status: str  # pass | fail | not comparable
    reason: str
    entry: SpeedEntry | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)  # each limit / paired finding

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "reason": self.reason, "checks": self.checks,
                "line": self.entry.line if self.entry else None}


def point(summary: Mapping[str, Any], name: str) -> float | None:
    """A recorded-value name (``latency_p90``, ``rtfx``) read from a speed summary."""
    kind, _, quantile = name.partition("_")
    block = summary.get(kind)
    if not isinstance(block, Mapping):
        return None
    block = block.get(quantile) if quantile else block
    return float(block["estimate"]) if isinstance(block, Mapping) else None


def show(name: str, value: float) -> str:
    unit = UNITS[name.partition("_")[0]]
    return f"{name.replace('_', ' ')} {value:.3f}{(' ' + unit) if unit else ''}"


def not_timed(run: SpeedRun) -> str | None:
    """Why this run's speed cannot be compared with any recording, or None."""
    if run.merged:
        return ("reassembled from shards, which were timed apart (other machines, or at the "
                "same time on one): their latencies are not one run's; gate speed on a "
                "single run")
    summary = run.summary
    answered = summary["answered"] if summary else run.total
    timed = summary["timed"] if summary else 0
    if run.reused:
        return (f"{run.reused} of {run.total} output(s) reused from the store: their time is "
                "an earlier run's; --rerun measures every sample")
    if run.engine == "replay":
        return "replayed predictions: nothing was timed"
    if timed == 0:
        return "no sample was timed (the engine does not report timings)"
    if timed < answered:
        return f"only {timed} of {answered} answered sample(s) were timed"
    return None


def judge_speed(entries: Sequence[SpeedEntry], run: SpeedRun, records: Sequence[SampleRecord],
                root: Path, n_resamples: int) -> SpeedVerdict | None:
    """The speed gate of one pair (None when thresholds.yaml has no speed entry for it)."""
    if not entries:
        return None
    why = not_timed(run)
    if why is not None:
        return SpeedVerdict(NOT_COMPARABLE, why)
    on_set = [e for e in entries if e.matches(run.total, run.fingerprint)]
    if not on_set:
        e = entries[0]
        return SpeedVerdict(NOT_COMPARABLE, f"recorded on another sample set ({e.samples} "
                                            f"samples [{e.sample_set or 'ids not pinned'}], "
                                            f"line {e.line}); this run has {run.total} "
                                            f"[{run.fingerprint}]")
    found = [e for e in on_set if not differences(e.measured_on, run.measured_on)]
    if not found:
        closest = min(on_set, key=lambda e: len(differences(e.measured_on, run.measured_on)))
        return SpeedVerdict(NOT_COMPARABLE, "measured on other hardware or software: "
                            + "; ".join(differences(closest.measured_on, run.measured_on))
                            + f" (line {closest.line}); record this machine's speed with "
                              "--update-thresholds", closest)
    entry = found[0]
    assert run.summary is not None
    checks: list[dict[str, Any]] = []
    if "limit" in entry.gates:
        for key, limit in entry.limits.items():
            target, lower = limit_target(key)
            value = point(run.summary, target)
            if value is None:
                checks.append({"gate": key, "ok": False, "text": f"{target.replace('_', ' ')} "
                               "not measured in this run (the entry limits it)"})
                continue
            ok = value <= limit if lower else value >= limit
            sign = ("<=" if ok else ">") if lower else (">=" if ok else "<")
            recorded = entry.values.get(target)
            text = f"{show(target, value)} {sign} {key.partition('_')[0]} {limit:.3f}" + (
                f" (recorded {recorded:.3f})" if recorded is not None else "")
            checks.append({"gate": key, "ok": ok, "value": value, "limit": limit,
                           "text": text})
    if "paired" in entry.gates:
        assert entry.baseline is not None
        try:
            baseline = read_speed_baseline(root / entry.baseline)
        except AudiogateError as exc:
            checks.append({"gate": "paired", "ok": False,
                           "text": f"the paired speed test could not run: {exc}"})
        else:
            result, line = paired_latency(baseline, records, margin=entry.margin,
                                          confidence=entry.confidence, n_resamples=n_resamples)
            check: dict[str, Any] = {"gate": "paired", "ok": result is not None
                                     and not result.worse, "text": f"paired: {line}"}
            if result is not None:
                check.update(median=result.median, low=result.low, high=result.high,
                             margin=result.margin)
            checks.append(check)
    failed = [c for c in checks if not c["ok"]]
    ordered = failed + [c for c in checks if c["ok"]]
    text = "; ".join(c["text"] for c in ordered)
    if failed:
        return SpeedVerdict(FAIL, f"slower: {text}", entry, checks)
    return SpeedVerdict(PASS, text, entry, checks)
