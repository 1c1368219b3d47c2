"""The embedded CPU text-to-speech engine: eSpeak NG, driven through its C API.

The library and its voice data come from the ``espeakng-loader`` wheel (the ``speech``
extra), so nothing is installed outside pip and nothing is downloaded at run time.
eSpeak NG is a formant synthesizer: real, intelligible speech in one fixed voice per
language, which is what a default engine and its tests need.

Each text is spoken in a fresh child process (the Python interpreter running only
``ctypes``). The library carries state from one synthesis into the next that no call
resets (the pitch "flutter" position is a function-local static of its wave generator),
so the same text spoken twice in one process gives different samples; a fresh process
gives the same samples every time, and a crash in the library is one failed sample, not
a crashed run. The child costs tens of milliseconds.

eSpeak NG is GPL-3.0-or-later. audiogate does not ship it: the optional extra installs the
wheel, and the child process loads the shared library at run time.
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from audiogate.errors import AudiogateError

DEFAULT_VOICE = "en-us"
DEFAULT_RATE = 175  # words per minute (espeak-ng's default)
MIN_RATE, MAX_RATE = 80, 450  # the range espeak-ng accepts
TIMEOUT_S = 120.0  # one text; eSpeak NG speaks a page in about a second

# The child: loads the library, speaks stdin's UTF-8 text, writes the sample rate, the
# library's version and the 16-bit samples to stdout. Exit 2 with a message on failure.
# AUDIO_OUTPUT_SYNCHRONOUS (2): samples go to the callback, espeak_Synth returns when done.
# espeakINITIALIZE_DONT_EXIT (0x8000). Synth flags espeakCHARS_UTF8 (1) | espeakENDPAUSE
# (0x1000): plain UTF-8 text, never SSML or [[phonemes]]. POS_CHARACTER (1).
# Parameters: rate (1), volume (2) = 100, pitch (3) = 50, range (4) = 50, wordgap (7) = 0,
# espeak-ng's defaults, set explicitly.
_CHILD = r"""
import ctypes, struct, sys
lib_path, data_dir, voice, rate = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
text = sys.stdin.buffer.read()
def fail(message):
    sys.stderr.write(message)
    sys.exit(2)
lib = ctypes.CDLL(lib_path)
lib.espeak_Initialize.restype = ctypes.c_int
lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
lib.espeak_Info.restype = ctypes.c_char_p
lib.espeak_Info.argtypes = [ctypes.c_void_p]
lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                             ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
sample_rate = lib.espeak_Initialize(2, 0, data_dir.encode(), 0x8000)
if sample_rate <= 0:
    fail("eSpeak NG failed to initialize with its data in " + data_dir)
chunks = []
CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                            ctypes.c_void_p)
def collect(wav, count, events):
    if wav and count > 0:
        chunks.append(ctypes.string_at(wav, count * 2))
    return 0
callback = CALLBACK(collect)
lib.espeak_SetSynthCallback(callback)
if lib.espeak_SetVoiceByName(voice.encode()) != 0:
    fail("no eSpeak NG voice named %r" % voice)
for parameter, value in ((1, rate), (2, 100), (3, 50), (4, 50), (7, 0)):
    if lib.espeak_SetParameter(parameter, value, 0) != 0:
        fail("eSpeak NG refused parameter %d = %d" % (parameter, value))
buffer = ctypes.create_string_buffer(text)
code = lib.espeak_Synth(buffer, len(text) + 1, 0, 1, 0, 0x1001, None, None)
if code != 0:
    fail("eSpeak NG synthesis failed (code %d)" % code)
out = sys.stdout.buffer
info = lib.espeak_Info(None) or b""
out.write(struct.pack("<iI", sample_rate, len(info)) + info)
out.write(b"".join(chunks))
out.flush()
"""


class EspeakError(AudiogateError):
    """eSpeak NG is not installed, or could not speak the given text."""


@dataclass(frozen=True)
class EspeakIdentity:
    """What decides the samples: the library, its data, the voice and the rate."""

    engine: str
    library: str  # espeak-ng's own version string
    wheel: str  # espeakng-loader's version
    data: str  # sha256 of every file under espeak-ng-data
    voice: str
    rate: int
    sample_rate: int

    def to_json(self) -> dict[str, Any]:
        return {"engine": self.engine, "library": self.library, "wheel": self.wheel,
                "data": self.data, "voice": self.voice, "rate": self.rate,
                "sample_rate": self.sample_rate}


@dataclass(frozen=True)
class _Speech:
    samples: np.ndarray  # int16
    sample_rate: int
    library: str


@cache
def _paths() -> tuple[Path, Path]:
    """The shared library and its espeak-ng-data folder, from the installed wheel."""
    try:
        import espeakng_loader
    except ImportError as exc:
        raise EspeakError("the embedded text-to-speech engine needs eSpeak NG: "
                          "pip install -e '.[speech]'") from exc
    return Path(espeakng_loader.get_library_path()), Path(espeakng_loader.get_data_path())


def _speak(text: str, voice: str, rate: int) -> _Speech:
    library, data = _paths()
    command = [sys.executable, "-I", "-S", "-c", _CHILD, str(library), str(data.parent),
               voice, str(rate)]
    try:
        done = subprocess.run(command, input=text.encode("utf-8"), capture_output=True,
                              timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise EspeakError(f"eSpeak NG took over {TIMEOUT_S:.0f} s for {text[:60]!r}") from exc
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise EspeakError((why[-1] if why else f"eSpeak NG exited with {done.returncode}")
                          + f" (voice {voice!r}, text {text[:60]!r})")
    sample_rate, length = struct.unpack_from("<iI", done.stdout)
    info = done.stdout[8:8 + length].decode("utf-8", "replace")
    samples = np.frombuffer(done.stdout[8 + length:], dtype="<i2")
    return _Speech(samples, sample_rate, info)


def _check_request(text: str, rate: int) -> None:
    if not text.strip():
        raise EspeakError("nothing to speak: the text is empty")
    if "\0" in text:
        raise EspeakError("the text contains a NUL character")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise EspeakError(f"rate {rate} words per minute is outside eSpeak NG's "
                          f"{MIN_RATE}..{MAX_RATE}")


def synthesize(text: str, voice: str = DEFAULT_VOICE, rate: int = DEFAULT_RATE
               ) -> tuple[np.ndarray, int]:
    """``text`` spoken by eSpeak NG: mono float32 samples in [-1, 1) and their rate (Hz).

    ``voice`` is an eSpeak NG voice name (``en-us``, ``en``, ``cmn``...); ``rate`` is in
    words per minute. The same arguments give the same samples, bit for bit.
    """
    _check_request(text, rate)
    speech = _speak(text, voice, rate)
    if speech.samples.size == 0:
        raise EspeakError(f"eSpeak NG produced no audio for {text[:60]!r}")
    return speech.samples.astype(np.float32) / 32768.0, speech.sample_rate


@cache
def _data_fingerprint(data_path: Path) -> str:
    """sha256 over every file under espeak-ng-data (relative path and bytes, sorted)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in data_path.rglob("*") if p.is_file()):
        digest.update(path.relative_to(data_path).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


@cache
def _library_info() -> tuple[str, int]:
    speech = _speak("a", DEFAULT_VOICE, DEFAULT_RATE)
    return speech.library, speech.sample_rate


def identity(voice: str = DEFAULT_VOICE, rate: int = DEFAULT_RATE) -> EspeakIdentity:
    """Everything that decides :func:`synthesize`'s samples for this voice and rate."""
    _, data = _paths()
    library, sample_rate = _library_info()
    try:
        wheel = version("espeakng-loader")
    except PackageNotFoundError:  # pragma: no cover - _paths() imported it
        wheel = "unknown"
    return EspeakIdentity("espeak-ng", library, wheel, _data_fingerprint(data), voice, rate,
                          sample_rate)
