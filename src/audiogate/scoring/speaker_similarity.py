"""Speaker similarity of produced speech to its voice prompt: ``sim-ge2e``.

The cosine similarity of two utterance embeddings from resemblyzer's GE2E speaker encoder
(its weights ship inside the wheel: nothing is downloaded). This is not Seed-TTS-Eval's
SIM, which uses a WavLM-large speaker-verification model; the metric is named by its
encoder so the two numbers are never compared as one.

Each clip goes through resemblyzer's own preprocessing (volume normalized, long silences
trimmed with its voice activity detector) at 16 kHz (resampled with soxr), then
``embed_utterance`` (L2-normalized), so the similarity is the dot product, in [-1, 1].
"""

from __future__ import annotations

import hashlib
import threading
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from audiogate.errors import AudiogateError

METRIC = "sim-ge2e"
RATE = 16_000  # resemblyzer's sampling rate
MIN_SPEECH_S = 0.3  # less voiced audio than this after trimming is not a voice to compare


class SpeakerSimilarityError(AudiogateError):
    """A clip could not be embedded (no speech left after trimming, or not audio)."""


class SpeakerEncoder:
    """resemblyzer's GE2E voice encoder on CPU, loaded once."""

    def __init__(self) -> None:
        try:
            import resemblyzer
            import torch
        except ImportError as exc:
            raise SpeakerSimilarityError(
                f"{METRIC} needs resemblyzer and torch: pip install -e '.[speech]'") from exc
        self._resemblyzer = resemblyzer
        self._encoder = resemblyzer.VoiceEncoder(device="cpu", verbose=False)
        weights = Path(resemblyzer.__file__).parent / "pretrained.pt"
        self._identity = {
            "metric": METRIC, "encoder": "resemblyzer GE2E",
            "resemblyzer": version("resemblyzer"), "torch": torch.__version__,
            "weights": hashlib.sha256(weights.read_bytes()).hexdigest(),
            "preprocess": "resemblyzer.preprocess_wav at 16 kHz (soxr)",
        }
        self._lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    def embed(self, audio: np.ndarray, rate: int, what: str = "clip") -> np.ndarray:
        """The L2-normalized 256-dim embedding of one mono clip."""
        samples = _mono(audio, what)
        if rate != RATE:
            samples = soxr.resample(samples, rate, RATE)
        trimmed = self._resemblyzer.preprocess_wav(samples.astype(np.float32), RATE)
        if len(trimmed) < MIN_SPEECH_S * RATE:
            raise SpeakerSimilarityError(
                f"{what}: {len(trimmed) / RATE:.2f} s of speech after trimming silence "
                f"(needs {MIN_SPEECH_S} s)")
        with self._lock:
            embedding = self._encoder.embed_utterance(trimmed)
        return np.asarray(embedding, dtype=np.float32)

    def similarity(self, prompt: np.ndarray, prompt_rate: int, produced: np.ndarray,
                   produced_rate: int) -> float:
        """Cosine similarity of the prompt's and the produced clip's embeddings."""
        a = self.embed(prompt, prompt_rate, "prompt audio")
        b = self.embed(produced, produced_rate, "produced audio")
        return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _mono(audio: np.ndarray, what: str) -> np.ndarray:
    samples = np.asarray(audio, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1)
    if samples.ndim != 1 or samples.size == 0:
        raise SpeakerSimilarityError(f"{what}: expected mono audio samples, got shape "
                                     f"{np.shape(audio)}")
    if not np.isfinite(samples).all():
        raise SpeakerSimilarityError(f"{what}: non-finite samples")
    return samples


@cache
def encoder() -> SpeakerEncoder:
    """The process's one encoder (loading it takes a second)."""
    return SpeakerEncoder()


def speaker_similarity(prompt: np.ndarray, prompt_rate: int, produced: np.ndarray,
                       produced_rate: int) -> float:
    """``sim-ge2e`` of the produced clip to the prompt clip, in [-1, 1]."""
    return encoder().similarity(prompt, prompt_rate, produced, produced_rate)
