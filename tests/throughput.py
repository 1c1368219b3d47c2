"""Requests per second of the openai engine against a real server, at fixed numbers of
requests in flight and with ``auto``: the helper the dispatch benchmarks share (tests/perf
against `audiogate serve`, tests/vllm_real against real vLLM). It only measures."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from audiogate.datasets.audio import load_audio
from audiogate.engines import EngineContext, make_engine
from audiogate.engines.prompts import render
from audiogate.registry.load import ModelSpec
from audiogate.samples import Request, Sample


@dataclass
class Measured:
    setting: str
    seconds: float
    requests: int
    errors: int
    dispatch: dict[str, Any]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds


def clips(shared_data: Path, slices: tuple[str, ...] = ("test-clean", "test-other")
          ) -> list[np.ndarray]:
    root = shared_data / "LibriSpeech"
    return [load_audio(p) for s in slices for p in sorted((root / s).glob("*/*/*.flac"))]


def requests_for(audio: list[np.ndarray], n: int, prompt: str | None = None) -> list[Request]:
    out = []
    for i in range(n):
        sample = Sample(f"r{i}", "", None)
        out.append(Request(sample, audio[i % len(audio)], "asr", "en",
                           render(prompt, sample) if prompt else None))
    return out


def measure(spec: ModelSpec, urls: tuple[str, ...], requests: list[Request],
            concurrency: int | str, timeout: float = 600.0) -> Measured:
    engine = make_engine(spec, EngineContext(engine_url=urls[0], engine_urls=urls,
                                             concurrency=concurrency, timeout=timeout))
    try:
        started = time.perf_counter()
        outputs = list(engine.run(requests))
        seconds = time.perf_counter() - started
        stats = dict(getattr(engine, "last_dispatch", {}))
    finally:
        engine.close()
    return Measured(str(concurrency), seconds, len(outputs),
                    sum(o.error is not None for o in outputs), stats)


def table(rows: list[Measured]) -> str:
    """Markdown: one row per setting, auto's share of the best fixed setting below."""
    lines = ["| in flight | requests | seconds | req/s | limit min/median/max | "
             "server waiting max | errors |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        d = r.dispatch
        lines.append(f"| {r.setting} | {r.requests} | {r.seconds:.1f} | {r.per_second:.2f} | "
                     f"{d.get('limit_min')}/{d.get('limit_median')}/{d.get('limit_max')} | "
                     f"{d.get('server_waiting_max')} | {r.errors} |")
    fixed = [r for r in rows if r.setting != "auto"]
    auto = [r for r in rows if r.setting == "auto"]
    if fixed and auto:
        best = max(fixed, key=lambda r: r.per_second)
        lines.append(f"\nauto: {auto[0].per_second / best.per_second:.1%} of the best fixed "
                     f"setting ({best.setting} in flight, {best.per_second:.2f} req/s)")
    return "\n".join(lines)
