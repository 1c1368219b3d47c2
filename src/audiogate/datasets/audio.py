"""Read any sample's audio as 16 kHz mono float32 (soundfile + soxr)."""

from __future__ import annotations

import io
import math
import wave
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audiogate.datasets._paths import not_a_file
from audiogate.errors import AudioError
from audiogate.samples import Sample

TARGET_RATE = 16_000


# Decoded, downmixed and resampled this many seconds at a time: an hour-long MP3 at
# 44.1 kHz would otherwise sit in memory whole at its own rate (~1.2 GB as float32) before
# resampling. soxr's stream gives the same samples as its one-shot call (tested), so
# every clip decodes to the same array whatever its length.
BLOCK_SECONDS = 60


def load_audio(path: Path, start: float | None = None, end: float | None = None) -> np.ndarray:
    """Decode ``path`` (optionally the [start, end) seconds of it) to 16 kHz mono float32.

    Raises AudioError naming the file for anything unreadable: missing, no regular file
    (a directory, a named pipe), empty, corrupt, compressed SPHERE, or a segment that lies
    beyond the end of the audio.
    """
    if not path.exists():
        raise AudioError(f"{path}: audio file not found")
    if (kind := not_a_file(path)) is not None:
        raise AudioError(f"{path}: {kind}, not an audio file")
    if path.stat().st_size == 0:
        raise AudioError(f"{path}: audio file is empty (0 bytes)")
    try:
        _refuse_compressed_sphere(path)
    except OSError as exc:  # unreadable: permissions, an I/O error
        raise AudioError(f"{path}: cannot read audio ({exc.strerror or exc})") from exc
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
            mono, read, bad = _decode_blocks(f, wanted, rate)
            if read < wanted:  # the header promised more: never score part of a clip
                raise AudioError(f"{path}: truncated audio: read {read} of the {wanted} "
                                 "frames its header declares")
    except AudioError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(f"{path}: cannot decode audio ({exc})") from exc
    if bad:  # float WAV/FLAC can hold them; a model answers "!!!!"
        raise AudioError(f"non-finite samples in {path} ({bad} NaN or Inf values)")
    return mono


def _decode_blocks(f: sf.SoundFile, wanted: int, rate: int) -> tuple[np.ndarray, int, int]:
    """(16 kHz mono float32, frames read, non-finite values) of the next ``wanted`` frames,
    decoded BLOCK_SECONDS at a time into one preallocated array."""
    resampler = None if rate == TARGET_RATE else soxr.ResampleStream(
        rate, TARGET_RATE, 1, dtype="float32", quality="HQ")
    size = wanted if resampler is None else math.ceil(wanted * TARGET_RATE / rate) + 16
    out = np.empty(size, dtype=np.float32)
    filled = read = bad = 0
    block = max(1, BLOCK_SECONDS * rate)
    while read < wanted:
        data = f.read(min(block, wanted - read), dtype="float32", always_2d=True)
        if len(data) == 0:
            break
        read += len(data)
        mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
        bad += int(np.count_nonzero(~np.isfinite(mono)))
        if resampler is not None:
            mono = resampler.resample_chunk(mono, last=read >= wanted)
        out[filled:filled + len(mono)] = mono
        filled += len(mono)
    return out[:filled], read, bad


def load_sample_audio(sample: Sample) -> np.ndarray:
    """A sample's audio: its file (or segment of it), or its parts decoded and joined in
    order (a recording built from several files)."""
    if sample.parts:
        return np.concatenate([load_audio(part) for part in sample.parts])
    if sample.audio_path is None:
        raise AudioError(f"sample {sample.id} has no audio path")
    return load_audio(sample.audio_path, sample.start, sample.end)


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
    in-process ones). Converted a block at a time: float64 copies of an hour would take GBs.
    """
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        for first in range(0, len(audio), _PCM_BLOCK):
            chunk = np.asarray(audio[first:first + _PCM_BLOCK], dtype=np.float64)
            pcm = np.clip(np.round(chunk * 32768.0), -32768, 32767)
            w.writeframes(pcm.astype("<i2").tobytes())
    return buf.getvalue()


_PCM_BLOCK = 1 << 20  # samples converted at once (~65 s at 16 kHz)


def duration_seconds(audio: np.ndarray, rate: int = TARGET_RATE) -> float:
    return float(len(audio)) / rate
