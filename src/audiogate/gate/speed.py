"""A pair's speed from its per-sample timings: percentiles with bootstrap intervals, what
it was measured on, and the paired comparison with a baseline run on the same samples.

Every number comes from the per-sample records alone (``SampleRecord.timing``), so a run
and a merge of the same records give the same numbers, and any engine that fills
``samples.Timing`` is summarized the same way.

What is summarized: the samples that got an answer in this run and were timed (not
errored, not reused from the store, not replayed). Latency percentiles are over samples;
RTFx is Σ audio seconds / Σ latency (the Open ASR Leaderboard's formula on per-sample
times: what one request sees); throughput is samples per second of the run's wall time
(what the server or engine delivered at the concurrency in force).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiogate.errors import ThresholdsError
from audiogate.gate.stats import (
    Interval,
    PairedRatio,
    bootstrap_quantile,
    bootstrap_ratio_of_sums,
    paired_median_ratio,
)
from audiogate.scoring.pair import SampleRecord

QUANTILES = {"p50": 0.5, "p90": 0.9, "p99": 0.99}
WORST = 10  # slowest samples a report lists
# measured_on facts that must be equal for two speed measurements to be compared; the
# rest (load average, a remote server's address) describe the run without deciding it.
COMPARED = ("cpu", "cpus", "gpu", "gpu_count", "server_hardware", "engine", "engine_version",
            "concurrency", "batch_size")


@dataclass(frozen=True)
class Timed:
    """A pair's timed samples, in record order."""

    ids: list[str]
    latency: np.ndarray
    ttft: np.ndarray | None  # None unless every timed sample has one
    itl: np.ndarray | None
    audio: np.ndarray
    in_flight: np.ndarray
    methods: list[str]

    @property
    def n(self) -> int:
        return len(self.ids)


def timed(records: Iterable[SampleRecord]) -> Timed:
    """The samples answered and timed in this run (an errored request's time is not the
    model's speed: a refusal comes back fast)."""
    rows = [r for r in records if r.error is None and r.timing
            and float(r.timing.get("latency") or 0.0) > 0.0]
    ttft = [r.timing.get("ttft") for r in rows if r.timing]
    itl = [r.timing.get("itl") for r in rows if r.timing]
    return Timed(
        ids=[r.id for r in rows],
        latency=np.array([float(r.timing["latency"]) for r in rows if r.timing]),
        ttft=np.array(ttft, dtype=float) if rows and all(t is not None for t in ttft) else None,
        itl=np.array([i for i in itl if i is not None], dtype=float)
        if any(i is not None for i in itl) else None,
        audio=np.array([r.audio_seconds for r in rows], dtype=float),
        in_flight=np.array([int(r.timing.get("in_flight") or 1) for r in rows if r.timing]),
        methods=sorted({str(r.timing.get("method")) for r in rows if r.timing}),
    )


def _interval(i: Interval) -> dict[str, float]:
    return {"estimate": i.estimate, "low": i.low, "high": i.high}


def _quantiles(values: np.ndarray, n_resamples: int, confidence: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        name: _interval(bootstrap_quantile(values, q, n_resamples=n_resamples,
                                           confidence=confidence))
        for name, q in QUANTILES.items()}
    out["mean"] = float(values.mean())
    return out


def summarize(records: Sequence[SampleRecord], *, wall_seconds: float, complete: bool,
              n_resamples: int, confidence: float = 0.95) -> dict[str, Any] | None:
    """The pair's speed (None when no sample was timed). ``complete``: every sample was
    inferred in this run (none reused), so the run's wall time is its own and throughput
    means something."""
    t = timed(records)
    if t.n == 0:
        return None
    answered = sum(r.error is None for r in records)
    out: dict[str, Any] = {
        "timed": t.n, "answered": answered, "total": len(records),
        "methods": t.methods, "confidence": confidence, "n_resamples": n_resamples,
        "latency": _quantiles(t.latency, n_resamples, confidence),
        "ttft": _quantiles(t.ttft, n_resamples, confidence) if t.ttft is not None else None,
        "itl_mean": float(t.itl.mean()) if t.itl is not None and t.itl.size else None,
        "in_flight_max": int(t.in_flight.max()),
        "in_flight_median": float(np.median(t.in_flight)),
        "audio_seconds": float(t.audio.sum()),
        "rtfx": _interval(bootstrap_ratio_of_sums(t.audio, t.latency, n_resamples=n_resamples,
                                                  confidence=confidence))
        if t.audio.sum() > 0 else None,
        "throughput": None,
        "worst": [[t.ids[i], float(t.latency[i]), float(t.audio[i])]
                  for i in np.argsort(-t.latency, kind="stable")[:WORST]],
    }
    if complete and wall_seconds > 0 and t.n == len(records):
        out["throughput"] = _throughput(t, wall_seconds, n_resamples, confidence)
    return out


def _throughput(t: Timed, wall_seconds: float, n_resamples: int,
                confidence: float) -> dict[str, float]:
    """Samples per second of wall time. Its interval: each sample's share of the wall time
    (its latency over the requests in flight with it, scaled to sum to the wall time),
    resampled."""
    share = t.latency / np.maximum(t.in_flight, 1)
    share = share * (wall_seconds / share.sum())
    boot = bootstrap_ratio_of_sums(np.ones(t.n), share, n_resamples=n_resamples,
                                   confidence=confidence)
    return {"estimate": t.n / wall_seconds, "low": boot.low, "high": boot.high,
            "audio_per_second": float(t.audio.sum()) / wall_seconds}


# -- what a measurement ran on ------------------------------------------------------------
def engine_version(identity: Mapping[str, Any]) -> str | None:
    """The version of the software that ran the model, from the engine's identity: a
    server's own (vLLM's GET /version), in-process vLLM's, faster-whisper's with
    CTranslate2's, transformers' with torch's, a plugin's distribution, a python engine's
    ``identity: {version}``, or an engine's ``version``."""
    server = identity.get("server")
    if isinstance(server, Mapping) and server.get("version"):
        return str(server["version"])
    if identity.get("vllm"):
        return f"vllm {identity['vllm']}"
    if identity.get("faster_whisper"):
        return f"faster-whisper {identity['faster_whisper']}, ctranslate2 " \
               f"{identity.get('ctranslate2')}"
    if identity.get("transformers"):
        return f"transformers {identity['transformers']}, torch {identity.get('torch')}"
    plugin = identity.get("plugin")
    if isinstance(plugin, Mapping) and plugin.get("version"):
        return f"{plugin.get('distribution')} {plugin['version']}"
    own = identity.get("identity")  # a python engine's own fields (its `identity:`)
    if isinstance(own, Mapping) and own.get("version"):
        return str(own["version"])
    return str(identity["version"]) if identity.get("version") else None


def measured_on(host: Mapping[str, Any], identity: Mapping[str, Any],
                dispatch: Mapping[str, Any], records: Sequence[SampleRecord]
                ) -> dict[str, Any]:
    """Where and how the pair's timings were taken: the machine (or a remote server's
    declared hardware), the engine and its version, the concurrency and batch size."""
    timings = [r.timing for r in records if r.timing]
    in_flight = max((int(t.get("in_flight") or 1) for t in timings), default=None)
    concurrency = dispatch.get("concurrency") if dispatch else in_flight
    facts = {k: host.get(k) for k in ("cpu", "cpus", "gpu", "gpu_count")}
    if host.get("server"):
        facts["server"] = host["server"]
        facts["server_hardware"] = host.get("server_hardware")
    facts.update(engine=identity.get("engine"), engine_version=engine_version(identity),
                 concurrency=concurrency,
                 batch_size=max((int(t.get("batch") or 1) for t in timings), default=None))
    return facts


def differences(recorded: Mapping[str, Any], run: Mapping[str, Any]) -> list[str]:
    """How this run's measured_on differs from a recorded one, fact by fact."""
    out = []
    for key in COMPARED:
        if recorded.get(key) != run.get(key):
            out.append(f"{key} {run.get(key)!r} (recorded {recorded.get(key)!r})")
    return out


def hardware_key(facts: Mapping[str, Any]) -> str:
    """8 hex chars naming a measured_on (its compared facts): a speed baseline's file name."""
    compared = {k: facts.get(k) for k in COMPARED}
    return hashlib.sha256(json.dumps(compared, sort_keys=True).encode()).hexdigest()[:8]


# -- the paired comparison ----------------------------------------------------------------
def write_speed_baseline(path: Path, records: Sequence[SampleRecord]) -> None:
    """One line per timed sample, sorted by id: ``{"id", "latency", "ttft", "audio_seconds"}``
    (seconds; ttft only when streamed)."""
    t = timed(records)
    rows = []
    for k, sample_id in enumerate(t.ids):
        row: dict[str, Any] = {"id": sample_id, "latency": round(float(t.latency[k]), 6),
                               "audio_seconds": round(float(t.audio[k]), 6)}
        if t.ttft is not None:
            row["ttft"] = round(float(t.ttft[k]), 6)
        rows.append(row)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in sorted(rows, key=lambda r: r["id"])),
                   encoding="utf-8")
    tmp.replace(path)


def read_speed_baseline(path: Path) -> dict[str, float]:
    """id -> latency (seconds) of a speed baseline; a bad line names the file and line."""
    if not path.exists():
        raise ThresholdsError(f"{path}: speed baseline not found (an entry's `baseline:` is "
                              "read relative to the thresholds file's folder; record it with "
                              "--update-thresholds)")
    out = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            latency = float(row["latency"])
            if not latency > 0:
                raise ValueError(f"latency must be positive, not {latency}")
            out[str(row["id"])] = latency
        except (ValueError, KeyError, TypeError) as exc:
            raise ThresholdsError(f"{path}:{number}: bad speed baseline line ({exc})") from exc
    return out


def paired_latency(baseline: Mapping[str, float], records: Sequence[SampleRecord], *,
                   margin: float, confidence: float, n_resamples: int
                   ) -> tuple[PairedRatio | None, str]:
    """The median per-sample latency ratio (this run / baseline) on the ids both timed, and
    the finding in one line (None when no id is shared)."""
    t = timed(records)
    here = dict(zip(t.ids, t.latency.tolist(), strict=True))
    common = sorted(here.keys() & baseline.keys())
    if not common:
        return None, "no timed sample in common with the speed baseline"
    result = paired_median_ratio([baseline[i] for i in common], [here[i] for i in common],
                                 margin=margin, confidence=confidence, n_resamples=n_resamples)
    line = result.describe()
    only = len(baseline.keys() - here.keys()) + len(here.keys() - baseline.keys())
    if only:
        line += f" ({only} id(s) timed in only one of the two runs: left out)"
    return result, line
