"""Produced speech as bytes: every format an engine may answer in is decoded before it
counts, raw PCM is wrapped so it can be kept and played, and bytes that are not audio are
the sample's error, never a silent clip."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
import soundfile as sf

from audiogate.engines.speech_audio import PCM_RATE, decode, produced, wav_bytes
from audiogate.errors import EngineError

RATE = 22_050


def _tone(seconds: float = 0.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def _encoded(fmt: str) -> bytes:
    buf = io.BytesIO()
    subtype = {"WAV": "PCM_16", "FLAC": "PCM_16", "MP3": "MPEG_LAYER_III"}[fmt]
    sf.write(buf, _tone(), RATE, format=fmt, subtype=subtype)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3"])
def test_encoded_speech_is_kept_as_received(fmt: str) -> None:
    data = _encoded(fmt.upper())
    clip = produced(data, fmt, transcript="a tone")
    assert clip.data == data and clip.format == fmt
    assert clip.sha256 == hashlib.sha256(data).hexdigest()
    assert clip.sample_rate == RATE and abs(clip.seconds - 0.5) < 0.06  # mp3 pads a frame
    assert clip.transcript == "a tone" and clip.path is None


def test_raw_pcm_is_wrapped_in_wav_at_its_rate() -> None:
    pcm = (np.round(_tone(rate=PCM_RATE) * 32768)).astype("<i2").tobytes()
    clip = produced(pcm, "pcm")
    assert clip.format == "wav" and clip.sample_rate == PCM_RATE
    samples, rate = decode(clip.data or b"")
    assert rate == PCM_RATE
    assert np.array_equal(np.round(samples * 32768).astype("<i2").tobytes(), pcm)


def test_wav_bytes_give_back_the_int16_samples() -> None:
    pcm = np.array([-32768, -1, 0, 1, 32767], dtype="<i2")
    samples, rate = decode(wav_bytes(pcm.astype(np.float32) / 32768.0, 16_000))
    assert rate == 16_000 and np.array_equal(np.round(samples * 32768).astype("<i2"), pcm)


@pytest.mark.parametrize(("data", "fmt", "message"), [
    (b"", "wav", "no bytes"),
    (b"<html>rate limited</html>", "wav", r"cannot decode 25 bytes as audio"),
    (b"\x00\x01\x02", "pcm", "odd length"),
    (b"\x00\x00", "ogg", "unsupported audio format 'ogg'"),
])
def test_what_is_not_audio_is_refused_with_the_reason(data: bytes, fmt: str,
                                                     message: str) -> None:
    with pytest.raises(EngineError, match=message):
        produced(data, fmt, what="message.audio")


def test_non_finite_samples_are_refused() -> None:
    buf = io.BytesIO()
    sf.write(buf, np.array([0.1, np.nan, 0.2], dtype=np.float32), RATE, format="WAV",
             subtype="FLOAT")
    with pytest.raises(EngineError, match="non-finite"):
        produced(buf.getvalue(), "wav")
