"""The judge: a registered ASR model that transcribes produced speech before it is scored.

Speech output is scored by what a pinned listener hears: the judge's transcript is scored
against the text the model was asked to say (text-to-speech) or as the model's answer (a
chat answer in speech). The judge is part of the pair's identity: its name is recorded
with the pair's thresholds entries, its engine identity with every transcript it made.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiogate.datasets.audio import load_audio
from audiogate.engines.base import Engine
from audiogate.errors import AudiogateError
from audiogate.registry.load import ModelSpec
from audiogate.samples import Output, Request, Sample
from audiogate.scoring.answer import extract_answer


@dataclass
class Judge:
    """A judge model and its engine (shared with any pair that runs the same model)."""

    spec: ModelSpec
    engine: Engine

    @property
    def name(self) -> str:
        return self.spec.name

    def identity(self) -> dict[str, Any]:
        return {"judge": self.name, **self.engine.identity()}

    def describe(self) -> dict[str, Any]:
        """What a pair's result records of its judge."""
        return {"model": self.name, "identity": self.engine.identity()}

    def _prompt(self, sample: Sample) -> tuple[tuple[str, str], ...] | None:
        name = dict(self.spec.options.get("prompts") or {}).get("asr")
        if not name:
            return None
        from audiogate.engines.prompts import render

        return render(str(name), sample)

    def transcribe(self, clips: Iterable[tuple[str, Path]], language: str
                   ) -> Iterator[Output]:
        """The judge's transcript of each (sample id, clip) pair, in any order; a clip that
        cannot be read is that sample's error. The text is the judge's answer as its entry's
        ASR answer rules extract it (a chat judge's JSON field, text after </think>)."""
        failed: list[Output] = []

        def requests() -> Iterator[Request]:
            for sample_id, path in clips:
                sample = Sample(sample_id, "", path)
                try:
                    audio = load_audio(path)
                except AudiogateError as exc:
                    failed.append(Output(sample_id, None, 0.0, error=str(exc)))
                    continue
                yield Request(sample, audio, "asr", language, self._prompt(sample))

        rules = dict(self.spec.options.get("answer") or {})
        rules = dict(rules["asr"]) if isinstance(rules.get("asr"), dict) else rules
        for output in self.engine.run(requests()):
            if output.error is None and output.text is not None:
                output.text = extract_answer(output.text, rules)
            yield output
        yield from failed


def timed(measure: Callable[[], Any]) -> tuple[Any, float]:
    """(what ``measure`` returns, the seconds it took)."""
    started = time.perf_counter()
    value = measure()
    return value, time.perf_counter() - started
