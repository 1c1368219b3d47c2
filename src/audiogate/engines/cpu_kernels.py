"""Pin the CPU kernels (CTranslate2's and numpy's), so the embedded model gives the same text
everywhere.

CTranslate2 picks its kernels when it is first loaded: Intel MKL for GEMM on Intel CPUs and
oneDNN elsewhere, its own kernels for the widest instruction set found, and oneDNN in turn
JIT-compiles for the widest set it finds. Each choice changes greedy Whisper transcripts
(measured on the shared LibriSpeech slices: test-other moved between 13.93, 14.85 and 15.37
WER with the choice alone). So before the library loads, audiogate sets its documented
settings to the most portable choice that keeps speed on any x86-64 CPU of the last decade:
oneDNN GEMM everywhere (``CT2_USE_MKL=0``), AVX2 kernels (``CT2_FORCE_CPU_ISA=AVX2``) and
oneDNN capped at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``). The values in force are part of the
engine identity, so stored outputs of other kernels are never mixed in.

numpy computes the log-Mel features, and it too picks kernels by CPU: its own SIMD loops
(``log10``, complex ``abs``) for the widest set it finds (AVX-512 on a newer EPYC), and its
OpenBLAS the GEMM kernels of the CPU it detects. An AVX-512 machine moved test-other from
14.85 to 15.37 WER under the CTranslate2 pins alone; capped at AVX2 (numpy's
``NPY_ENABLE_CPU_FEATURES``, OpenBLAS's ``OPENBLAS_CORETYPE=Haswell``, the GEMM kernels an
AVX2 EPYC runs) it gives the AVX2 machine's 83 transcripts exactly. numpy reads these once,
when it loads, so ``import audiogate`` sets them, loads numpy, and puts the environment
back (a process it starts, such as a vLLM server with its own numpy, chooses for itself);
a process that loaded numpy before audiogate keeps its choice, and the identity says so.
An ``OPENBLAS_CORETYPE`` set outside is kept: machines set it where an OpenBLAS build
miscomputes on their CPU.

``AUDIOGATE_CPU_KERNELS=unpinned`` leaves the library (and the environment) to choose; the
identity then records that, and what the environment said.
"""

from __future__ import annotations

import functools
import importlib
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

PINS_AVX2 = {"CT2_USE_MKL": "0", "CT2_FORCE_CPU_ISA": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
# Without AVX2 (old or non-x86 CPUs) only the GEMM backend is pinned; the identity says so.
PINS_OTHER = {"CT2_USE_MKL": "0"}
SETTINGS = ("CT2_USE_MKL", "CT2_FORCE_CPU_ISA", "ONEDNN_MAX_CPU_ISA")
# numpy's dispatched targets up to AVX2, in its names: 2.4 grouped them into x86-64 levels.
NUMPY_AVX2 = {(2, 4): "X86_V3", (2, 0): "SSSE3 SSE41 POPCNT SSE42 AVX F16C FMA3 AVX2"}
NUMPY_SETTINGS = ("NPY_ENABLE_CPU_FEATURES", "NPY_DISABLE_CPU_FEATURES")
OPENBLAS_SETTING = "OPENBLAS_CORETYPE"
SWITCH = "AUDIOGATE_CPU_KERNELS"


@functools.cache
def _x86_avx2() -> bool:
    """An x86-64 CPU with AVX2 (read once: both pins ask)."""
    return platform.machine().lower() in {"x86_64", "amd64"} and _has_avx2()


def _has_avx2() -> bool:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return any(line.startswith("flags") and " avx2" in line for line in text.splitlines())


def pins() -> dict[str, str]:
    """The settings audiogate pins on this machine."""
    if _x86_avx2():
        return dict(PINS_AVX2)
    return dict(PINS_OTHER)


def numpy_pins() -> dict[str, str]:
    """The settings that cap numpy (and its OpenBLAS) at AVX2 on this machine, or none
    where AVX2 is missing or this numpy's names for its targets are not known here."""
    if not _x86_avx2():
        return {}
    try:
        major, minor = (int(part) for part in metadata.version("numpy").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return {}
    names = next((names for since, names in NUMPY_AVX2.items()
                  if (major, minor) >= since and major < 3), None)
    if names is None:
        return {}
    return {"NPY_ENABLE_CPU_FEATURES": names,
            OPENBLAS_SETTING: os.environ.get(OPENBLAS_SETTING) or "Haswell"}


def pin() -> dict[str, object]:
    """Set the pins (unless switched off) and return what is in force, for the identity.

    Must run before ``ctranslate2`` is first imported: the library reads these settings
    once. If it was imported earlier (by the user's own code), nothing can be pinned any
    more and the identity says so.
    """
    global _in_force
    if _in_force is not None:  # already decided in this process: the library read it then
        return dict(_in_force)
    _in_force = _decide()
    return dict(_in_force)


_in_force: dict[str, object] | None = None


def _decide() -> dict[str, object]:
    if os.environ.get(SWITCH, "").strip().lower() == "unpinned":
        return {"pinned": False, "reason": f"{SWITCH}=unpinned", "environment": _outside()}
    if "ctranslate2" in sys.modules:
        return {"pinned": False, "reason": "ctranslate2 was loaded before audiogate could pin "
                                           "its kernels",
                "environment": _outside()}
    wanted = pins()
    _set(SETTINGS, wanted)
    return {"pinned": True, **wanted, "numpy": _pin_numpy()}


def _pin_numpy() -> dict[str, object]:
    if "numpy" in sys.modules:
        return {"pinned": False, "reason": "numpy was loaded before audiogate could pin its "
                                           "kernels",
                "environment": _outside()}
    wanted = numpy_pins()
    if not wanted:
        return {"pinned": False, "reason": "no AVX2, or this numpy's CPU feature names are "
                                           "not known to audiogate"}
    keys = (*NUMPY_SETTINGS, OPENBLAS_SETTING)
    outside = {key: os.environ.get(key) for key in keys}
    _set(keys, wanted)
    try:
        importlib.import_module("numpy")  # it reads them now, once
    finally:  # and the processes this one starts (a vLLM server's numpy) make their own
        _set(keys, {key: value for key, value in outside.items() if value is not None})
    return {"pinned": True, **wanted}


def _outside() -> dict[str, str]:
    """What the environment sets of the kernel settings (when audiogate pins none)."""
    keys = (*SETTINGS, *NUMPY_SETTINGS, OPENBLAS_SETTING)
    return {key: os.environ[key] for key in keys if key in os.environ}


def _set(keys: tuple[str, ...], wanted: dict[str, str]) -> None:
    for key in keys:
        if key in wanted:
            os.environ[key] = wanted[key]  # the pin wins over an outside choice
        else:
            os.environ.pop(key, None)


def numpy_in_force() -> list[str]:
    """numpy's dispatched SIMD targets in force in this process (what its loops run)."""
    umath = importlib.import_module("numpy._core._multiarray_umath")
    return [name for name in umath.__cpu_dispatch__ if umath.__cpu_features__.get(name)]


# torch (the transformers engine) chooses its CPU kernels once, when it loads: ATen's
# vectorized kernels for the widest instruction set found (AVX-512 on a newer EPYC), and
# oneDNN (mkldnn: convolutions, some matmuls) JIT-compiles for the widest set too. Each
# choice moves Whisper's encoder outputs (up to 3e-4 on tiny.en, measured), so both are
# capped at AVX2, as for CTranslate2. MKL (torch's BLAS) gets the AVX2 code path of its
# conditional numerical reproducibility: it already gives bit-identical outputs here
# (AMD), and makes an Intel AVX-512 CPU give the same. See pin_torch.
TORCH_CAPABILITY = "ATEN_CPU_CAPABILITY"
TORCH_PINS_AVX2 = {TORCH_CAPABILITY: "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def pin_torch() -> dict[str, object]:
    """Cap torch's CPU kernels at AVX2 (unless switched off) and return what is in force,
    for the identity. Must run before ``torch`` is first imported (it reads them once); if
    it was imported earlier, the identity says so and records the capability torch chose.
    Unlike numpy's, these stay in the environment: a process this one starts with torch
    (an xdist worker) makes the same choice."""
    if os.environ.get(SWITCH, "").strip().lower() == "unpinned":
        found: dict[str, object] = {"pinned": False, "reason": f"{SWITCH}=unpinned"}
    elif "torch" in sys.modules:
        found = {"pinned": False,
                 "reason": "torch was loaded before audiogate could pin its kernels"}
    elif not _x86_avx2():
        found = {"pinned": False, "reason": "no AVX2 on this CPU: torch's own choice"}
    else:
        os.environ.update(TORCH_PINS_AVX2)  # read once, when torch loads
        found = {"pinned": True, **TORCH_PINS_AVX2}
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return found
    return {**found, "capability": torch.backends.cpu.get_cpu_capability()}
