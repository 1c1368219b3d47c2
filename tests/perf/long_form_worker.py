"""One long recording through one engine, in its own process, for the long-form benchmarks.

usage: python long_form_worker.py CLIP MODEL WINDOW MODE
  MODEL: a registry entry; WINDOW: 0, or a number of seconds to set as the entry's
  ``max_audio_seconds`` (audiogate's VAD windows); MODE: ``full`` decodes the whole clip,
  ``start`` only its first 90 s (after planning the windows of all of it).

The engine first answers 5 s of the clip, so the model is loaded (or the server started)
before anything is measured. Memory is read from /proc for this process and every
process under it (a launched server, vLLM's engine-core process): the resident set after
that warm-up (``loaded_mb``), the peak over the whole life (``peak_mb``), and, after the
peaks are reset (``/proc/PID/clear_refs``), what the recording itself added on top of the
loaded engine (``added_mb``). Prints one JSON line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

from audiogate.datasets.audio import load_audio, to_wav_bytes
from audiogate.engines import EngineContext, make_engine
from audiogate.engines.windowing import plan
from audiogate.registry.load import dataset, models
from audiogate.results.store import audio_hash
from audiogate.runner import prompt_for
from audiogate.samples import Request, Sample

RATE = 16_000


def tree(root: int) -> list[int]:
    """``root`` and every live process under it."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def status_mb(pid: int, key: str) -> float:
    """VmRSS / VmHWM of one process in MB (0 if it is gone)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return 0.0
    return next((int(line.split()[1]) / 1024 for line in lines if line.startswith(key)), 0.0)


def memory(key: str, pid: int) -> dict[str, float]:
    """``key`` for this process and for everything under it (summed: an upper bound of
    what the processes held at once)."""
    pids = tree(pid)
    return {"self": status_mb(pid, key), "children": sum(status_mb(p, key) for p in pids[1:])}


def reset_peaks(pid: int) -> None:
    for p in tree(pid):
        with contextlib.suppress(OSError):  # a process that has just ended
            Path(f"/proc/{p}/clear_refs").write_text("5")  # 5: reset the peak RSS (VmHWM)


def main(clip: Path, name: str, window: float, mode: str) -> None:
    spec = models()[name]
    if window:
        spec = dataclasses.replace(spec, options={**spec.options, "max_audio_seconds": window})
    engine = make_engine(spec, EngineContext(timeout=7200.0, concurrency=8))
    audio = load_audio(clip)
    sample = Sample("x", "", clip)
    prompt = prompt_for(spec, dataset("librispeech-chapters-dev-clean"), None, sample)
    [warm] = list(engine.run([Request(sample, audio[: 5 * RATE], "asr", "en", prompt)]))
    assert warm.error is None, warm.error
    me = os.getpid()
    loaded, load_peak = memory("VmRSS", me), memory("VmHWM", me)
    reset_peaks(me)
    audio_hash(audio)
    started = time.perf_counter()
    extra: dict[str, float | int] = {}
    if window:
        spans = plan(audio, engine.settings)  # type: ignore[attr-defined]
        extra["vad_seconds"] = time.perf_counter() - started
        extra["windows"] = len(spans)
        for a, b in spans:  # what an HTTP engine builds for every window
            to_wav_bytes(audio[a:b])
    if mode == "start":  # the first windows of the hour only
        audio = audio[: 90 * RATE]
        started = time.perf_counter()
    [out] = list(engine.run([Request(sample, audio, "asr", "en", prompt)]))
    seconds = time.perf_counter() - started
    run_peak = memory("VmHWM", me)
    engine.close()
    total = {k: sum(v.values()) for k, v in (("loaded", loaded), ("load_peak", load_peak),
                                              ("run_peak", run_peak))}
    print(json.dumps({
        "seconds": seconds, "audio": len(audio) / RATE, "text": out.text, "error": out.error,
        "n_windows": len(out.windows or []),
        "loaded_mb": total["loaded"], "peak_mb": max(total["load_peak"], total["run_peak"]),
        "added_mb": total["run_peak"] - total["loaded"],
        "self_peak_mb": max(load_peak["self"], run_peak["self"]),
        "children_peak_mb": max(load_peak["children"], run_peak["children"]), **extra}))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4])
