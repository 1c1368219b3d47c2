"""Recorded predictions behind `audiogate serve`: a server whose answers cost nothing.

Why: the served path (HTTP, dispatch, timings, the speed gate) can then be measured where
a model's own compute would drown what is measured in noise (a shared 2-core machine):
with `--delay`, a request takes a known time. A server sees audio, not sample ids, so the
dataset's recordings are read once and each is known by its content (the store's audio
hash of its 16 kHz float32 samples, which the client's 16-bit WAV carries exactly).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from audiogate.datasets import load_dataset_with_notes
from audiogate.datasets.audio import load_sample_audio
from audiogate.engines.replay import ReplayEngine
from audiogate.errors import AudiogateError, DataError
from audiogate.registry.load import DatasetSpec
from audiogate.samples import Request


class UnknownAudio(AudiogateError):
    """Audio that is none of the dataset's recordings."""


class ReplayTranscriber:
    """Answers each of ``dataset``'s recordings with its prediction from ``predictions``
    (the replay engine's JSONL); a recording with no prediction, or unknown audio, is an
    error of that request. ``key``: the audio's content hash (the store's)."""

    def __init__(self, predictions: Path, dataset: DatasetSpec, data_root: Path,
                 key: Callable[[Any], str]) -> None:
        self.key = key
        replay = ReplayEngine(predictions)
        samples, _ = load_dataset_with_notes(dataset, data_root)
        self.texts: dict[str, tuple[str, str | None, str | None]] = {}
        for sample in samples:
            if sample.error is not None:
                continue
            try:
                audio = load_sample_audio(sample)
            except AudiogateError:
                continue  # not sendable either: a client errs on it before sending
            [output] = replay.run([Request(sample, None, dataset.task, dataset.language)])
            self.texts[key(audio)] = (sample.id, output.text, output.error)
        if not self.texts:
            raise DataError(f"{dataset.name}: no readable recording under {data_root}")
        self.identity = {"predictions": replay.identity()["predictions"],
                         "dataset": dataset.name}

    def transcribe(self, audio: Any, language: str) -> str:
        found = self.texts.get(self.key(audio))
        if found is None:
            raise UnknownAudio("this audio is none of the replayed dataset's recordings")
        sample_id, text, error = found
        if text is None:
            raise UnknownAudio(f"sample {sample_id}: {error}")
        return text
