"""Benchmark: one embedded model decoding one utterance at a time on every core, against
several CTranslate2 workers sharing that model (the cores split among them), in one run.

Reports (no timed asserts) each way's seconds for the 42 real test-other clips and their
ratio, and checks that the transcripts are the same both ways: concurrent workers may only
be the default if they change no output. The two ways alternate (A B A B) so a neighbour's
load on the machine falls on both.

Run: .venv/bin/pytest tests/perf/test_perf_cpu_workers.py --run-perf -q -s
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from audiogate.datasets import load_dataset
from audiogate.datasets.audio import load_audio
from audiogate.engines import EngineContext
from audiogate.engines.whisper_cpu import WhisperCpuEngine, cpu_threads
from audiogate.engines.whisper_cpu import from_spec as whisper_from_spec
from audiogate.paths import cache_home
from audiogate.registry import load as registry
from audiogate.samples import Request

ROUNDS = int(os.environ.get("AUDIOGATE_PERF_ROUNDS", "1"))  # A B (A B ...) in turn


def _requests(shared_data: Path) -> list[Request]:
    samples = load_dataset(registry.dataset("librispeech-test-other"), shared_data)
    return [Request(s, load_audio(s.audio_path), "asr", "en") for s in samples
            if s.error is None and s.audio_path is not None]


def _engine(workers: int) -> WhisperCpuEngine:
    spec = registry.model("whisper-tiny.en")
    engine = whisper_from_spec(spec, EngineContext(cache_dir=cache_home()))
    if workers == 1:
        return engine
    engine.close()
    return WhisperCpuEngine(spec.name, engine.model_dir, dict(spec.options.get("settings", {})),
                            cache_home(), workers=workers)


def _timed(engine: WhisperCpuEngine, requests: list[Request]) -> tuple[float, dict[str, str]]:
    started = time.perf_counter()
    texts = {o.sample_id: str(o.text) for o in engine.run(requests)}
    return time.perf_counter() - started, texts


def test_workers_sharing_one_model(shared_data: Path) -> None:
    requests = _requests(shared_data)
    assert len(requests) == 42
    cores = cpu_threads()
    workers = max(2, cores)
    serial, concurrent = _engine(1), _engine(workers)
    seconds: dict[str, list[float]] = {"serial": [], "concurrent": []}
    texts: dict[str, dict[str, str]] = {}
    try:
        for _ in range(ROUNDS):
            for name, engine in (("serial", serial), ("concurrent", concurrent)):
                wall, texts[name] = _timed(engine, requests)
                seconds[name].append(wall)
    finally:
        serial.close()
        concurrent.close()
    differ = sorted(i for i in texts["serial"] if texts["serial"][i] != texts["concurrent"][i])
    best = {name: min(values) for name, values in seconds.items()}
    print(f"\n{len(requests)} test-other clips on {os.cpu_count()} cores: one model, 1 worker "
          f"x {cores} threads: {best['serial']:.2f} s; {workers} workers x "
          f"{max(1, cores // workers)} thread(s) sharing it: {best['concurrent']:.2f} s "
          f"(best of {ROUNDS}: {seconds}); serial/concurrent = "
          f"{best['serial'] / best['concurrent']:.2f}; transcripts differing: "
          f"{len(differ)} {differ[:5]}")
    assert set(texts["serial"]) == set(texts["concurrent"]) == {r.sample.id for r in requests}
