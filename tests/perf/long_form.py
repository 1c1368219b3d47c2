"""What the long-form benchmarks share: one engine on one recording in a fresh interpreter
(long_form_worker.py), its WER under the chapters' protocol, and its line in the table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from audiogate.registry import load as registry

HOUR = 3600
BOUND_MB = 1536.0  # the embedded engine's peak-RSS bound on an hour of audio
WORKER = Path(__file__).resolve().parent / "long_form_worker.py"


def measure(clip: Path, entry: str, window: float, mode: str = "full") -> dict:
    """One engine on one recording in a fresh interpreter (long_form_worker.py)."""
    done = subprocess.run([sys.executable, str(WORKER), str(clip), entry, str(window), mode],
                          capture_output=True, text=True, timeout=4 * 3600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"] is None, result["error"]
    return result


def wer(reference: str, hypothesis: str) -> float:
    from audiogate.scoring.pair import Outcome, score

    spec = registry.dataset("librispeech-chapters-dev-clean")
    pair, _ = score(spec, [Outcome("x", reference, None, hypothesis, hypothesis, None)])
    assert pair.value is not None
    return float(pair.value)


def row(name: str, r: dict, score: float | None = None) -> str:
    """One engine's line: WER, RTFx, peak RSS (this process and, when any, the processes
    under it: a server, vLLM's engine core) and what the recording added to the loaded
    engine."""
    under = f" (+{r['children_peak_mb']:.0f} MB under it)" if r["children_peak_mb"] else ""
    w = f"WER {score:6.2f}  " if score is not None else ""
    return (f"  {name:<12} {w}RTFx {r['audio'] / r['seconds']:6.1f}  peak RSS "
            f"{r['self_peak_mb']:5.0f} MB{under}, recording added {r['added_mb']:5.0f} MB  "
            f"({r['n_windows']} windows, {r['seconds']:.0f} s)")
