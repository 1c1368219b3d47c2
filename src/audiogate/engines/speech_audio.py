"""Produced speech as bytes: checked on arrival, hashed, and encoded for keeping.

An engine that speaks returns encoded audio (WAV, FLAC, MP3, or OpenAI's raw ``pcm``).
Every clip is decoded once here before it counts as an answer: bytes that are not audio,
hold no samples or hold non-finite values are the sample's error, never a clip a judge
would hear as silence. Raw PCM has no header a browser or a reader could use, so it is
wrapped in a WAV container; every other format is kept byte for byte as received.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
import soundfile as sf

from audiogate.errors import EngineError
from audiogate.samples import ProducedAudio

# OpenAI's /v1/audio/speech response formats, as the files they are kept in
FORMATS = {"wav": "wav", "flac": "flac", "mp3": "mp3", "pcm": "wav"}
PCM_RATE = 24_000  # OpenAI's `pcm`: raw 24 kHz 16-bit signed little-endian mono


def wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    """16-bit PCM WAV of float samples in [-1, 1) (the int16 they came from, exactly)."""
    pcm = np.clip(np.round(np.asarray(samples, dtype=np.float64) * 32768.0), -32768, 32767)
    buf = io.BytesIO()
    sf.write(buf, pcm.astype("<i2"), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def decode(data: bytes, what: str = "produced audio") -> tuple[np.ndarray, int]:
    """Mono float32 samples and their rate; an EngineError says why bytes are not audio."""
    if not data:
        raise EngineError(f"{what}: no bytes")
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as exc:
        raise EngineError(f"{what}: cannot decode {len(data)} bytes as audio ({exc})") from exc
    mono = samples.mean(axis=1) if samples.shape[1] > 1 else samples[:, 0]
    if mono.size == 0:
        raise EngineError(f"{what}: decodes to no samples")
    if not np.isfinite(mono).all():
        raise EngineError(f"{what}: non-finite samples")
    return np.ascontiguousarray(mono), int(rate)


def produced(data: bytes, fmt: str, *, transcript: str | None = None,
             what: str = "produced audio") -> ProducedAudio:
    """Bytes an engine returned in ``fmt``, checked by decoding them, ready to keep."""
    if fmt not in FORMATS:
        raise EngineError(f"{what}: unsupported audio format {fmt!r} (known: "
                          f"{', '.join(sorted(FORMATS))})")
    if fmt == "pcm":
        if len(data) % 2:
            raise EngineError(f"{what}: raw 16-bit PCM of odd length ({len(data)} bytes)")
        samples = np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0
        if samples.size == 0:
            raise EngineError(f"{what}: no bytes")
        data = wav_bytes(samples, PCM_RATE)
    samples, rate = decode(data, what)
    return ProducedAudio(FORMATS[fmt], rate, samples.size / rate,
                         hashlib.sha256(data).hexdigest(), data=data, transcript=transcript)
