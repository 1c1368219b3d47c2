"""Read any sample's audio as 16 kHz mono float32 (soundfile + soxr)."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audiogate.errors import AudioError

TARGET_RATE = 16_000


def load_audio(path: Path, start: float | None = None, end: float | None = None) -> np.ndarray:
    """Decode ``path`` (optionally the [start, end) seconds of it) to 16 kHz mono float32.

    Raises AudioError naming the file for anything unreadable: missing, empty, corrupt,
    compressed SPHERE, or a segment that lies beyond the end of the audio.
    """
    if not path.exists():
        raise AudioError(f"{path}: audio file not found")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: audio file is empty (0 bytes)")
    _refuse_compressed_sphere(path)
    try:
        with sf.SoundFile(str(path)) as f:
            rate = f.samplerate
            first = 0 if start is None else round(start * rate)
            last = f.frames if end is None else round(end * rate)
            if first >= f.frames or last > f.frames + rate // 100:
                raise AudioError(
                    f"{path}: segment {start}-{end} s lies beyond the end of the audio "
                    f"({f.frames / rate:.2f} s)"
                )
            f.seek(first)
            wanted = max(0, min(last, f.frames) - first)
            data = f.read(wanted, dtype="float32", always_2d=True)
            if len(data) < wanted:  # the header promised more: never score part of a clip
                raise AudioError(f"{path}: truncated audio: read {len(data)} of the {wanted} "
                                 "frames its header declares")
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(f"{path}: cannot decode audio ({exc})") from exc
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.isfinite(mono).all():  # float WAV/FLAC can hold them; a model answers "!!!!"
        bad = int(np.count_nonzero(~np.isfinite(mono)))
        raise AudioError(f"non-finite samples in {path} ({bad} NaN or Inf values)")
    if rate != TARGET_RATE:
        mono = soxr.resample(mono, rate, TARGET_RATE, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _refuse_compressed_sphere(path: Path) -> None:
    """libsndfile cannot read shorten-compressed NIST SPHERE; say how to convert it."""
    with path.open("rb") as f:
        head = f.read(1024)
    if head.startswith(b"NIST_1A") and b"sample_coding" in head:
        coding = head.split(b"sample_coding", 1)[1].split(b"\n", 1)[0]
        if b"shorten" in coding or b"wavpack" in coding or b"shortpack" in coding:
            raise AudioError(
                f"{path}: compressed NIST SPHERE ({coding.decode(errors='replace').strip()}); "
                "convert it first, e.g. `sph2pipe -f wav in.sph out.wav` "
                "or `sox in.sph -t sph -e signed-integer out.sph`"
            )


def to_wav_bytes(audio: np.ndarray, rate: int = TARGET_RATE) -> bytes:
    """16-bit PCM WAV that decodes back to exactly ``audio`` when it came from 16-bit PCM.

    Readers (soundfile, librosa, vLLM) map int16 to float by dividing by 32768, so this
    scales by 32768 and rounds; scaling by 32767 is off by up to one step, enough to change
    greedy Whisper output on some LibriSpeech clips (served scores would then differ from
    in-process ones).
    """
    pcm = np.clip(np.round(np.asarray(audio, dtype=np.float64) * 32768.0), -32768, 32767)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


def duration_seconds(audio: np.ndarray, rate: int = TARGET_RATE) -> float:
    return float(len(audio)) / rate
