"""Whisper's log-Mel features computed in blocks of frames, so long audio fits in memory.

faster-whisper computes the features of a whole recording at once: for a one-hour clip its
STFT intermediates (framed, windowed, complex spectra) peak at about 3 GB. The same
computation done 30 s of frames at a time peaks at one block, and gives the same frames:
every frame depends on its own 400 samples only, and the one global step (clamping at the
recording's maximum minus 8) runs once over the finished features. For audio of up to one
block the arithmetic is faster-whisper's own, bit for bit; longer audio can differ in the
last bit of a few values (the Mel matrix product runs on blocks instead of the whole), which
is why the block size is part of the engine identity.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BLOCK_FRAMES = 3000  # 30 s at Whisper's 10 ms hop: one decoding window


class BlockedFeatures:
    """Drop-in for faster-whisper's ``FeatureExtractor`` call, computed block by block."""

    def __init__(self, extractor: Any, block_frames: int = BLOCK_FRAMES) -> None:
        self._extractor = extractor
        self.block_frames = block_frames

    def __getattr__(self, name: str) -> Any:  # n_samples, nb_max_frames, time_per_frame...
        return getattr(self._extractor, name)

    def __call__(self, waveform: np.ndarray, padding: int = 160,
                 chunk_length: int | None = None) -> np.ndarray:
        fe = self._extractor
        if chunk_length is not None:  # as faster-whisper does: the window it decodes
            fe.n_samples = chunk_length * fe.sampling_rate
            fe.nb_max_frames = fe.n_samples // fe.hop_length
        n_fft, hop = fe.n_fft, fe.hop_length
        audio = np.asarray(waveform, dtype=np.float32)
        # faster-whisper pads `padding` zeros, then reflects n_fft/2 samples at each end.
        padded = np.pad(np.pad(audio, (0, padding)) if padding else audio,
                        (n_fft // 2, n_fft // 2), mode="reflect")
        frames = 1 + (len(padded) - n_fft) // hop - 1  # the last frame is dropped
        window = np.hanning(n_fft + 1)[:-1].astype("float32")
        log_spec = np.empty((fe.mel_filters.shape[0], frames), dtype=np.float32)
        for first in range(0, frames, self.block_frames):
            last = min(first + self.block_frames, frames)
            # one frame more than kept, as faster-whisper's STFT has before it drops one
            part = padded[first * hop:last * hop + n_fft]
            stft = fe.stft(part, n_fft, hop, window=window, center=False, return_complex=True)
            magnitudes = np.abs(stft.astype("complex64")[..., :-1]) ** 2
            mel_spec = fe.mel_filters @ magnitudes
            log_spec[:, first:last] = np.log10(np.clip(mel_spec, a_min=1e-10, a_max=None))
        log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
        return (log_spec + 4.0) / 4.0
