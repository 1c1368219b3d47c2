"""DNSMOS: a reference-free estimate of speech quality (P.835 SIG/BAK/OVRL and P.808).

The ONNX models are the ones inside the ``speechmos`` wheel (Microsoft's DNS-Challenge
DNSMOS models: ``sig_bak_ovr.onnx``, its personalized variant, and P.808's
``model_v8.onnx``); the polynomial calibration is speechmos's.

Scored the way UltraEval-Audio's CV3-Eval scores a clip (``audio_evals/lib/DNSMOS/main.py``,
the DNSMOS its ``dnsmos`` evaluator runs), which is not Microsoft's ``dnsmos_local.py``
(nor speechmos's ``run``): the clip, resampled to 16 kHz, is zero-padded to 9.01 s and only
its FIRST 9.01 s are scored, once (no repeat-padding, no 1 s hops averaged). P.808 reads a
120-band log-mel spectrogram computed as librosa 0.8.1 (the harness's pin) computed it:
reflect padding (librosa 0.10 pads with zeros by default) and 0.8.1's FFT-bin grid in the
mel filterbank (see ``_mel_basis``).
Other rates are resampled as that librosa did by default, with resampy's ``kaiser_best``
(soxr's HQ filter, librosa 0.10's default, moves DNSMOS of 22.05 kHz speech by up to 0.09).

UltraEval-Audio's CV3-Eval tables report ``P808_MOS`` (the mean over clips); its general
speech-quality tables add P.835 ``OVRL`` (not personalized). Every field is kept per clip.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np

from audiogate.errors import AudiogateError

RATE = 16_000
INPUT_SECONDS = 9.01
INPUT_SAMPLES = int(INPUT_SECONDS * RATE)
REPORTED = "P808_MOS"  # what UltraEval-Audio's CV3-Eval tables report


MEL_FFT, MEL_HOP, MEL_BANDS = 321, 160, 120


def _mel_basis(librosa: Any) -> np.ndarray:
    """librosa 0.8.1's Slaney mel filterbank for P.808's odd FFT size.

    librosa 0.8.1 placed the FFT bins at ``linspace(0, sr/2, 1 + n_fft//2)``; 0.10 fixed
    that to ``rfftfreq(n_fft, 1/sr)``, which differs for an odd ``n_fft`` (321 here) and
    moves P.808 by up to 0.16 on LibriSpeech. The model was trained, and the harness runs,
    on the old grid, so it is rebuilt here (the rest is librosa's own code).
    """
    fft_freqs = np.linspace(0, RATE / 2, 1 + MEL_FFT // 2, endpoint=True)
    mel_f = librosa.mel_frequencies(MEL_BANDS + 2, fmin=0.0, fmax=RATE / 2, htk=False)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fft_freqs)
    weights = np.zeros((MEL_BANDS, fft_freqs.size), dtype=np.float32)
    for i in range(MEL_BANDS):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2:MEL_BANDS + 2] - mel_f[:MEL_BANDS]))[:, np.newaxis]
    return weights


class DnsmosError(AudiogateError):
    """A clip could not be scored (not audio, no samples, non-finite values)."""


@dataclass(frozen=True)
class DnsmosScore:
    """One clip's DNSMOS fields, named as UltraEval-Audio names them."""

    OVRL: float  # P.835 overall, not personalized
    SIG: float
    BAK: float
    P808_MOS: float
    P_SIG: float  # P.835, personalized model (penalizes an interfering talker)
    P_BAK: float
    P_OVRL: float
    seconds: float  # the clip's length; only its first 9.01 s are scored

    def to_json(self) -> dict[str, float]:
        return asdict(self)


class Dnsmos:
    """The three DNSMOS models in onnxruntime sessions, loaded once."""

    def __init__(self) -> None:
        try:
            import librosa
            import onnxruntime as ort
            import speechmos.dnsmos as models
        except ImportError as exc:
            raise DnsmosError("DNSMOS needs speechmos, librosa and onnxruntime: "
                              "pip install -e '.[speech]'") from exc
        folder = Path(models.__file__).parent
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # one clip at a time; the same result every run
        self._librosa = librosa
        self._calibrate = models.DNSMOS.get_polyfit_val
        self._p835 = ort.InferenceSession(str(folder / "dnsmos_models" / "sig_bak_ovr.onnx"),
                                          options, providers=["CPUExecutionProvider"])
        self._p835_personal = ort.InferenceSession(
            str(folder / "pdnsmos_models" / "sig_bak_ovr.onnx"), options,
            providers=["CPUExecutionProvider"])
        self._p808 = ort.InferenceSession(str(folder / "dnsmos_models" / "model_v8.onnx"),
                                          options, providers=["CPUExecutionProvider"])
        self._identity = {"metric": "dnsmos", "speechmos": version("speechmos"),
                          "onnxruntime": version("onnxruntime"), "librosa": version("librosa"),
                          "resampy": version("resampy"),
                          "procedure": "UltraEval-Audio lib/DNSMOS/main.py: first 9.01 s, "
                                       "zero-padded", "resampler": "resampy kaiser_best"}
        self._lock = threading.Lock()

    def identity(self) -> dict[str, Any]:
        return dict(self._identity)

    def _melspec(self, audio: np.ndarray) -> np.ndarray:
        """P.808's input: ``audio_melspec`` as librosa 0.8.1 computed it (see _mel_basis)."""
        spectrum = self._librosa.stft(audio, n_fft=MEL_FFT, hop_length=MEL_HOP,
                                      pad_mode="reflect", dtype=np.complex64)
        mel = _mel_basis(self._librosa) @ (np.abs(spectrum) ** 2)
        return ((self._librosa.power_to_db(mel, ref=np.max) + 40) / 40).T

    def score(self, audio: np.ndarray, rate: int, what: str = "clip") -> DnsmosScore:
        """One mono (or multi-channel, averaged) clip at any sampling rate."""
        samples = np.asarray(audio, dtype=np.float64)
        if samples.ndim == 2:
            samples = samples.mean(axis=1)
        if samples.ndim != 1 or samples.size == 0:
            raise DnsmosError(f"{what}: expected audio samples, got shape {np.shape(audio)}")
        if not np.isfinite(samples).all():
            raise DnsmosError(f"{what}: non-finite samples")
        seconds = samples.size / rate
        if rate != RATE:  # librosa 0.8.1's default: resampy's kaiser_best
            samples = self._librosa.resample(samples, orig_sr=rate, target_sr=RATE,
                                             res_type="kaiser_best")
        if samples.size < INPUT_SAMPLES:
            samples = np.pad(samples, (0, INPUT_SAMPLES - samples.size), "constant")
        segment = samples[:INPUT_SAMPLES]
        waveform = {"input_1": segment.astype(np.float32)[np.newaxis, :]}
        mel = {"input_1": self._melspec(segment[:-160]).astype(np.float32)[np.newaxis, :, :]}
        with self._lock:
            sig, bak, ovr = self._p835.run(None, waveform)[0][0]
            p_sig, p_bak, p_ovr = self._p835_personal.run(None, waveform)[0][0]
            p808 = self._p808.run(None, mel)[0][0][0]
        sig, bak, ovr = self._calibrate(None, sig, bak, ovr, False)
        p_sig, p_bak, p_ovr = self._calibrate(None, p_sig, p_bak, p_ovr, True)
        return DnsmosScore(OVRL=float(ovr), SIG=float(sig), BAK=float(bak),
                           P808_MOS=float(p808), P_SIG=float(p_sig), P_BAK=float(p_bak),
                           P_OVRL=float(p_ovr), seconds=seconds)


@cache
def models() -> Dnsmos:
    """The process's one set of DNSMOS sessions."""
    return Dnsmos()


def dnsmos(audio: np.ndarray, rate: int) -> DnsmosScore:
    """DNSMOS of one clip, scored as UltraEval-Audio's CV3-Eval scores it."""
    return models().score(audio, rate)
