"""Engine kind ``tts-cpu``: the embedded eSpeak NG synthesizer (engines/espeak_tts.py) as a
registered text-to-speech model, the CPU default that gates speech output out of the box.

A request's text (and a sample's own voice, when its dataset names one) comes from
``Request.prompt`` (``("text", ...)``, ``("voice", ...)`` parts: what the store keys on);
the answer is a 16-bit WAV at eSpeak NG's 22.05 kHz. eSpeak NG speaks in its own voices:
it never looks at a voice prompt, so the engine needs no audio.

Entry settings: ``voice`` (an eSpeak NG voice name, default ``en-us``), ``rate`` (words
per minute, default 175).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from audiogate.engines import EngineContext
from audiogate.engines.espeak_tts import DEFAULT_RATE, DEFAULT_VOICE, identity, synthesize
from audiogate.engines.speech_audio import produced, wav_bytes
from audiogate.engines.speech_wire import request_text
from audiogate.errors import AudiogateError, RegistryError
from audiogate.registry.load import ModelSpec
from audiogate.samples import DECODE, Output, ProducedAudio, Request, Timing

KIND = "tts-cpu"
WORKERS = 2  # texts spoken at once (each in its own short-lived process)


class EspeakEngine:
    """eSpeak NG behind the Engine protocol."""

    needs_audio = False

    def __init__(self, name: str, voice: str = DEFAULT_VOICE, rate: int = DEFAULT_RATE) -> None:
        self.name, self.voice, self.rate = name, voice, rate
        self._identity = identity(voice, rate).to_json()  # speaks once: a broken install fails now

    def identity(self) -> dict[str, Any]:
        ident = dict(self._identity)
        ident["synthesizer"] = ident.pop("engine")
        return {"engine": KIND, "model": self.name, **ident}

    def speak(self, text: str, voice: str | None = None) -> ProducedAudio:
        """``text`` as a WAV clip (the entry's voice unless another is named)."""
        samples, rate = synthesize(text, voice or self.voice, self.rate)
        return produced(wav_bytes(samples, rate), "wav")

    def _one(self, request: Request) -> Output:
        started = time.perf_counter()
        try:
            text, voice = request_text(request)
            audio = self.speak(text, voice)
        except AudiogateError as exc:
            return Output(request.sample.id, None, time.perf_counter() - started,
                          error=str(exc))
        seconds = time.perf_counter() - started
        return Output(request.sample.id, None, seconds, audio=audio,
                      timing=Timing(seconds, DECODE))

    def run(self, requests: Iterable[Request]) -> Iterator[Output]:
        workers = min(WORKERS, os.cpu_count() or 1)
        with ThreadPoolExecutor(workers, thread_name_prefix="tts-cpu") as pool:
            yield from pool.map(self._one, requests)

    def close(self) -> None:
        pass


def from_spec(spec: ModelSpec, ctx: EngineContext) -> EspeakEngine:
    voice = str(spec.options.get("voice", DEFAULT_VOICE))
    rate = spec.options.get("rate", DEFAULT_RATE)
    if isinstance(rate, bool) or not isinstance(rate, int):
        raise RegistryError(f"model {spec.name!r}: rate must be words per minute (a whole "
                            f"number), not {rate!r}")
    return EspeakEngine(spec.name, voice, rate)
