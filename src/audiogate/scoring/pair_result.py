"""One pair's measured result: what the gate, the reports and the merge command read.

It lives with the scoring because it is the scorer's output for a whole pair (its PairScore
and how the outputs were measured): the gate that judges it and the results that report it
stand after it on the line, and the runner that fills it after them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from audiogate.scoring.pair import PairScore


@dataclass
class PairResult:
    """Everything the gate, the reports and the merge command need about one pair."""

    model: str
    dataset: str
    task: str
    language: str
    metric: str
    score: PairScore
    sample_set: str
    audio_seconds: float
    inference_seconds: float
    wall_seconds: float
    inferred: int
    reused: int
    engine: dict[str, Any]
    error_samples: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interval: dict[str, Any] | None = None  # bootstrap CI of the corpus score
    reused_from: dict[str, int] = field(default_factory=dict)  # earlier run -> outputs
    protocol_rtfx: dict[str, float | None] = field(default_factory=dict)  # as each defines it
    flagged: list[tuple[str, str]] = field(default_factory=list)  # (id, abnormal output)
    groups: list[str] = field(default_factory=list)  # sample meta keys to break the score down by
    # --shard: {index, count, sample_set, total, ids} of the full pair this part belongs to
    shard: dict[str, Any] | None = None
    # How a served engine sent the requests: its limit of requests in flight over the run
    # (min / median / max), the largest server queue seen, the replicas' shares.
    dispatch: dict[str, Any] = field(default_factory=dict)
    # Speed (gate/speed.py): latency / time-to-first-token percentiles, RTFx and throughput
    # with bootstrap intervals, from the per-sample timings; None when nothing was timed.
    speed: dict[str, Any] | None = None
    # What the timings were measured on: CPU / GPU model and count (or a remote server's
    # declared hardware), engine and version, concurrency, batch size, the load average.
    measured_on: dict[str, Any] = field(default_factory=dict)
    load_seconds: float | None = None  # the engine's model load time (once per engine)
    # The answer rules (the model entry's `answer:`, or --predictions-from's) that turned each
    # raw output into the scored answer, so a merge can check the answers; None: not kept.
    answer_rules: dict[str, Any] | None = None
    # A pair whose answers are speech: the judge ASR that transcribed them ({model,
    # identity}), and its speech metrics (name -> {value, interval, scored, errors, ...},
    # gate/speech.py)
    judge: dict[str, Any] | None = None
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def unscored(cls, model: str, dataset: str, task: str, language: str, metric: str
                 ) -> PairResult:
        """The record of a pair that never produced a score (failed before scoring, skipped)."""
        return cls(model=model, dataset=dataset, task=task, language=language, metric=metric,
                   score=PairScore(metric, None, 0, 0, 0, 0, None), sample_set="",
                   audio_seconds=0.0, inference_seconds=0.0, wall_seconds=0.0, inferred=0,
                   reused=0, engine={})

    @property
    def pair_id(self) -> str:
        return f"{self.model}/{self.dataset}"

    @property
    def rtfx(self) -> float | None:
        """open_asr_leaderboard's RTFx: Σ audio seconds / Σ inference seconds."""
        return self.audio_seconds / self.inference_seconds if self.inference_seconds > 0 else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["rtfx"] = self.rtfx
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PairResult:
        data = {k: v for k, v in data.items() if k != "rtfx"}
        data["score"] = PairScore.from_json(data["score"])
        data["error_samples"] = [tuple(e) for e in data.get("error_samples", [])]
        data["flagged"] = [tuple(f) for f in data.get("flagged", [])]
        return cls(**data)
