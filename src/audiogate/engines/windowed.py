"""Any engine with a bounded audio length, given recordings of any length.

A model entry's ``max_audio_seconds`` is the most audio one request may carry (a Whisper
encoder's 30 s, a chat model's per-prompt audio). ``wrap`` puts such an engine behind
``WindowedEngine``: each recording is cut into windows (windowing.py), every window is one
request to the engine, and the texts are stitched in order. The engine itself is
unchanged, so the same wrapper serves the HTTP engines and in-process vLLM; a recording
that fits is one window, sent exactly as before.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from audiogate.engines import windowing
from audiogate.engines.base import Engine
from audiogate.engines.windowing import Span, WindowSettings
from audiogate.errors import RegistryError
from audiogate.registry.load import ModelSpec
from audiogate.samples import Output, Request, Timing

SEPARATOR = "@window"  # sub-request ids: <sample id>@window<index>


@dataclass
class _Recording:
    """One request in flight: its windows and the outputs that came back so far."""

    request: Request
    spans: list[Span]
    planning: float  # seconds spent finding the windows (part of the sample's time)
    outputs: dict[int, Output] = field(default_factory=dict)

    def done_seconds(self) -> float:
        return sum((b - a) for i, (a, b) in enumerate(self.spans) if i in self.outputs) / \
            windowing.TARGET_RATE

    def result(self) -> Output:
        """The stitched output, or the first window's error (naming the window)."""
        ordered = [self.outputs[i] for i in range(len(self.spans))]
        sample_id = self.request.sample.id
        seconds = self.planning + sum(o.seconds for o in ordered)
        windows = windowing.seconds(self.spans)
        failed = next((i for i, o in enumerate(ordered) if o.error is not None), None)
        if failed is not None:
            a, b = windows[failed]
            where = "" if len(ordered) == 1 else \
                f"window {failed + 1} of {len(ordered)} ({a:.2f}-{b:.2f} s): "
            return Output(sample_id, None, seconds, error=f"{where}{ordered[failed].error}",
                          not_attempted=any(o.not_attempted for o in ordered),
                          windows=windows)
        texts = [o.text or "" for o in ordered]
        return Output(sample_id, windowing.stitch(texts, self.request.language), seconds,
                      windows=windows, timing=joined_timing([o.timing for o in ordered]))


def joined_timing(parts: list[Timing | None]) -> Timing | None:
    """One recording's timing from its windows' requests: their latencies summed (the
    recording's cost, however many ran at once); its time to first token the first
    window with text's, after the latencies of the windows before it (a window may answer
    nothing); inter-token time averaged over every gap; None unless every window was
    timed."""
    if not parts or any(p is None for p in parts):
        return None
    timed = [p for p in parts if p is not None]
    if len(timed) == 1:
        return timed[0]
    gaps = [(p.itl, (p.tokens or 1) - 1) for p in timed if p.itl is not None]
    weight = sum(n for _, n in gaps)
    first = next((n for n, p in enumerate(timed) if p.ttft is not None), None)
    ttft = None if first is None else \
        sum(p.latency for p in timed[:first]) + (timed[first].ttft or 0.0)
    return Timing(
        latency=sum(p.latency for p in timed), method=timed[0].method, ttft=ttft,
        itl=sum(i * n for i, n in gaps) / weight if weight else None,
        tokens=sum(p.tokens for p in timed if p.tokens) or None,
        in_flight=max((p.in_flight for p in timed if p.in_flight is not None), default=None),
        limit=max((p.limit for p in timed if p.limit is not None), default=None),
        batch=max(p.batch for p in timed), windows=sum(p.windows for p in timed))


class WindowedEngine:
    """``inner`` sees windows of at most ``settings.max_seconds``; callers see recordings."""

    def __init__(self, inner: Engine, settings: WindowSettings) -> None:
        self._inner = inner
        self.settings = settings
        self.needs_audio = True

    def __getattr__(self, name: str) -> Any:  # reuses_stored_outputs, server, ...
        if name.startswith("__") or name == "_inner":
            raise AttributeError(name)
        return getattr(self._inner, name)

    def identity(self) -> dict[str, Any]:
        return {**self._inner.identity(), "long_audio": {
            "method": "windows cut in pauses, one request each, stitched in order",
            **self.settings.identity()}}

    def run(self, requests: Iterable[Request]) -> Iterator[Output]:
        flight: dict[str, _Recording] = {}
        unplanned: list[Output] = []  # recordings whose windows could not be found

        def windows() -> Iterator[Request]:
            for request in requests:
                started = time.perf_counter()
                sample_id = request.sample.id
                try:
                    spans = windowing.plan(request.audio, self.settings)
                except Exception as exc:  # one recording's failure, not the run's
                    unplanned.append(Output(sample_id, None, time.perf_counter() - started,
                                            error=f"cutting the audio in windows failed: "
                                                  f"{type(exc).__name__}: {exc}"))
                    continue
                flight[sample_id] = _Recording(request, spans, time.perf_counter() - started)
                for index, (a, b) in enumerate(spans):
                    sub = dataclasses.replace(request.sample, id=f"{sample_id}{SEPARATOR}{index}")
                    yield dataclasses.replace(request, sample=sub, audio=request.audio[a:b],
                                              progress=None)

        for output in self._inner.run(windows()):
            yield from _drain(unplanned)
            sample_id, _, index = output.sample_id.rpartition(SEPARATOR)
            recording = flight[sample_id]
            recording.outputs[int(index)] = output
            if recording.request.progress is not None:
                recording.request.progress(recording.done_seconds())
            if len(recording.outputs) == len(recording.spans):
                del flight[sample_id]
                yield recording.result()
        yield from _drain(unplanned)

    def close(self) -> None:
        self._inner.close()


def _drain(outputs: list[Output]) -> Iterator[Output]:
    while outputs:
        yield outputs.pop(0)


def audio_limit(spec: ModelSpec) -> float | None:
    """The entry's ``max_audio_seconds``, else a chat model's per-prompt audio (its
    ``chat.max_audios_per_prompt`` parts of ``chat.audio_chunk_seconds``), else None (the
    engine takes recordings of any length: faster-whisper's own sequential decoding, a
    transcription server's own handling, vLLM Whisper split as its server splits)."""
    value = spec.options.get("max_audio_seconds")
    chat = spec.options.get("chat") or {}
    if value is None and isinstance(chat, dict) and chat.get("max_audios_per_prompt") \
            and chat.get("audio_chunk_seconds"):
        value = float(chat["max_audios_per_prompt"]) * float(chat["audio_chunk_seconds"])
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise RegistryError(f"model {spec.name!r}: max_audio_seconds must be a positive "
                            f"number of seconds, not {value!r}")
    return float(value)


def wrap(engine: Engine, limit: float | None) -> Engine:
    """``engine`` behind windows of at most ``limit`` seconds (None: unchanged)."""
    return engine if limit is None else WindowedEngine(engine, WindowSettings(limit))
