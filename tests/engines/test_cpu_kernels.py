"""The embedded engine's CPU kernels are pinned: an outside kernel choice cannot change its
transcripts, and anything that does change them changes the engine identity.

Each case runs in a fresh interpreter: CTranslate2 reads its settings once, when it loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HOSTILE = {"CT2_FORCE_CPU_ISA": "GENERIC", "CT2_USE_MKL": "1", "ONEDNN_MAX_CPU_ISA": "SSE41"}
SPLITS = ("librispeech-test-clean", "librispeech-dev-clean", "librispeech-test-other")

IDENTITY = """
import json, os, sys
{before}
from audiogate.engines import EngineContext, make_engine
from audiogate.registry.load import models
engine = make_engine(models()["whisper-tiny.en"], EngineContext())
print(json.dumps({{"kernels": engine.identity()["kernels"],
                  "env": {{k: os.environ.get(k) for k in {keys!r}}}}}))
"""

PER_SAMPLE_ERRORS = """
import json, sys
from pathlib import Path
from audiogate.engines import EngineContext, make_engine
from audiogate.registry.load import datasets, models
from audiogate.runner import PairRun
engine = make_engine(models()["whisper-tiny.en"], EngineContext())
out = {}
for name in sys.argv[2:]:
    _, records = PairRun(models()["whisper-tiny.en"], datasets()[name], engine,
                         Path(sys.argv[1])).run()
    out[name] = {r.id: r.substitutions + r.deletions + r.insertions for r in records}
print(json.dumps(out))
"""


def _python(code: str, env: dict[str, str], *args: str) -> str:
    full = {k: v for k, v in os.environ.items() if k not in (*HOSTILE, "AUDIOGATE_CPU_KERNELS")}
    full.update(env)
    done = subprocess.run([sys.executable, "-c", code, *args], env=full, capture_output=True,
                          text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _identity(env: dict[str, str], before: str = "") -> dict[str, dict[str, str]]:
    code = IDENTITY.format(before=before, keys=tuple(HOSTILE))
    result: dict[str, dict[str, str]] = json.loads(_python(code, env))
    return result


def test_an_outside_kernel_choice_is_overridden_and_the_identity_says_what_ran() -> None:
    default = _identity({})
    hostile = _identity(HOSTILE)
    assert default["kernels"]["pinned"] is True
    assert hostile == default  # same kernels in force, same identity
    if default["kernels"].get("CT2_FORCE_CPU_ISA") == "AVX2":
        assert hostile["env"] == {"CT2_FORCE_CPU_ISA": "AVX2", "CT2_USE_MKL": "0",
                                  "ONEDNN_MAX_CPU_ISA": "AVX2"}


def test_unpinned_kernels_change_the_identity() -> None:
    default = _identity({})
    unpinned = _identity({**HOSTILE, "AUDIOGATE_CPU_KERNELS": "unpinned"})
    assert unpinned["kernels"] != default["kernels"]
    assert unpinned["kernels"]["pinned"] is False
    assert unpinned["kernels"]["environment"] == HOSTILE  # what the library was left with


def test_kernels_loaded_before_the_pin_are_reported_as_unpinned() -> None:
    late = _identity(HOSTILE, before="import ctranslate2")
    assert late["kernels"]["pinned"] is False
    assert "loaded before audiogate could pin" in late["kernels"]["reason"]


def test_the_pin_reaches_onednn() -> None:
    """oneDNN itself reports the instruction set it compiled for: the pinned one."""
    code = ("import numpy as np\nfrom audiogate.engines import EngineContext, make_engine\n"
            "from audiogate.registry.load import models\n"
            "e = make_engine(models()['whisper-tiny.en'], EngineContext())\n"
            "e.transcribe(np.zeros(16000, dtype='float32'), 'en')\nprint('done')\n")
    env = {**os.environ, **HOSTILE, "ONEDNN_VERBOSE": "1"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    isa = [line for line in (done.stdout + done.stderr).splitlines() if ",isa:" in line]
    assert isa, "oneDNN printed no ISA line"
    if _identity({})["kernels"].get("ONEDNN_MAX_CPU_ISA") == "AVX2":
        assert "isa:Intel AVX2" in isa[0] and "SSE4.1" not in isa[0], isa[0]


@pytest.mark.slow
def test_forced_kernels_do_not_change_the_83_slice_transcripts(shared_data: Path) -> None:
    """Under an outside GENERIC/MKL/SSE4.1 choice, every clip of the three CI slices has the
    same per-utterance errors as the committed baselines (recorded with the pinned kernels)."""
    errors = json.loads(_python(PER_SAMPLE_ERRORS, HOSTILE, str(shared_data), *SPLITS))
    for name in SPLITS:
        baseline = REPO / "baselines" / "whisper-tiny.en" / f"{name}.jsonl"
        recorded = {row["id"]: row["errors"] for row in map(
            json.loads, baseline.read_text(encoding="utf-8").splitlines())}
        assert errors[name] == recorded, name
    assert sum(len(v) for v in errors.values()) == 83
