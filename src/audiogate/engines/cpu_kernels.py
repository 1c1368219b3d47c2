"""Pin CTranslate2's CPU kernels, so the embedded model gives the same text on every machine.

CTranslate2 picks its kernels when it is first loaded: Intel MKL for GEMM on Intel CPUs and
oneDNN elsewhere, its own kernels for the widest instruction set found, and oneDNN in turn
JIT-compiles for the widest set it finds. Each choice changes greedy Whisper transcripts
(measured on the shared LibriSpeech slices: test-other moved between 13.93, 14.85 and 15.37
WER with the choice alone). So before the library loads, audiogate sets its documented
settings to the most portable choice that keeps speed on any x86-64 CPU of the last decade:
oneDNN GEMM everywhere (``CT2_USE_MKL=0``), AVX2 kernels (``CT2_FORCE_CPU_ISA=AVX2``) and
oneDNN capped at AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``). The values in force are part of the
engine identity, so stored outputs of other kernels are never mixed in.

``AUDIOGATE_CPU_KERNELS=unpinned`` leaves the library (and the environment) to choose; the
identity then records that, and what the environment said.
"""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

PINS_AVX2 = {"CT2_USE_MKL": "0", "CT2_FORCE_CPU_ISA": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
# Without AVX2 (old or non-x86 CPUs) only the GEMM backend is pinned; the identity says so.
PINS_OTHER = {"CT2_USE_MKL": "0"}
SETTINGS = ("CT2_USE_MKL", "CT2_FORCE_CPU_ISA", "ONEDNN_MAX_CPU_ISA")
SWITCH = "AUDIOGATE_CPU_KERNELS"


def _has_avx2() -> bool:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return any(line.startswith("flags") and " avx2" in line for line in text.splitlines())


def pins() -> dict[str, str]:
    """The settings audiogate pins on this machine."""
    if platform.machine().lower() in {"x86_64", "amd64"} and _has_avx2():
        return dict(PINS_AVX2)
    return dict(PINS_OTHER)


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
        return {"pinned": False, "reason": f"{SWITCH}=unpinned",
                "environment": {k: os.environ.get(k) for k in SETTINGS}}
    if "ctranslate2" in sys.modules:
        return {"pinned": False, "reason": "ctranslate2 was loaded before audiogate could pin "
                                           "its kernels",
                "environment": {k: os.environ.get(k) for k in SETTINGS}}
    wanted = pins()
    for key in SETTINGS:
        if key in wanted:
            os.environ[key] = wanted[key]  # the pin wins over an outside choice
        else:
            os.environ.pop(key, None)
    return {"pinned": True, **wanted}
