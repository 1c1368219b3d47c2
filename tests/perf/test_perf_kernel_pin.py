"""Benchmark: the RTFx cost of pinning CTranslate2's CPU kernels.

The same 42 test-other clips go through whisper-tiny.en in two processes: one with
audiogate's pin (oneDNN GEMM, AVX2, oneDNN capped at AVX2), one with the library's own
choice (``AUDIOGATE_CPU_KERNELS=unpinned``). Each process loads its model once (not
timed); the two are sent the same chunks in turn, alternating which goes first, so load
from elsewhere on this shared machine falls on both alike. Reports wall and CPU seconds,
RTFx and the ratio, and how many clips the two kernel choices transcribe differently.
Never asserts on time.

Run: .venv/bin/pytest tests/perf/test_perf_kernel_pin.py --run-perf -q
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from audiogate.datasets import load_dataset
from audiogate.registry import load as registry

HERE = Path(__file__).resolve().parent
SPLIT = "librispeech-test-other"
CHUNK = 6


class Worker:
    def __init__(self, pinned: bool) -> None:
        env = {k: v for k, v in os.environ.items() if k != "AUDIOGATE_CPU_KERNELS"}
        if not pinned:
            env["AUDIOGATE_CPU_KERNELS"] = "unpinned"
        self.proc = subprocess.Popen([sys.executable, str(HERE / "kernel_worker.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
                                     text=True)
        self.kernels = self._reply()["kernels"]
        self.wall = self.cpu = self.audio = 0.0
        self.texts: dict[str, str] = {}

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"kernel worker exited with {self.proc.wait()}"
        reply: dict[str, Any] = json.loads(line)
        return reply

    def run(self, paths: list[str]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(paths) + "\n")
        self.proc.stdin.flush()
        reply = self._reply()
        self.wall += reply["wall"]
        self.cpu += reply["cpu"]
        self.audio += reply["audio"]
        self.texts.update(reply["texts"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0


def test_kernel_pin_rtfx_cost(shared_data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = load_dataset(registry.datasets()[SPLIT], shared_data)
    paths = [str(s.audio_path) for s in samples]
    pinned, unpinned = Worker(pinned=True), Worker(pinned=False)
    try:
        assert pinned.kernels["pinned"] is True and unpinned.kernels["pinned"] is False
        for worker in (pinned, unpinned):  # first-call allocations, outside the timings
            worker.run(paths[:1])
            worker.wall = worker.cpu = worker.audio = 0.0
        for i in range(0, len(paths), CHUNK):
            order = (pinned, unpinned) if (i // CHUNK) % 2 == 0 else (unpinned, pinned)
            for worker in order:
                worker.run(paths[i:i + CHUNK])
    finally:
        pinned.close()
        unpinned.close()
    differ = sum(pinned.texts[p] != unpinned.texts[p] for p in paths)
    lines = [
        f"{len(paths)} {SPLIT} clips, {pinned.audio:.1f} s of audio, whisper-tiny.en (int8):",
        f"  pinned ({pinned.kernels}): {pinned.wall:6.2f} s wall {pinned.cpu:6.2f} s CPU  "
        f"RTFx {pinned.audio / pinned.wall:.1f}",
        f"  library's choice:            {unpinned.wall:6.2f} s wall {unpinned.cpu:6.2f} s CPU"
        f"  RTFx {unpinned.audio / unpinned.wall:.1f}",
        f"  ratio pinned / library's choice: {pinned.wall / unpinned.wall:.3f} wall, "
        f"{pinned.cpu / unpinned.cpu:.3f} CPU; {differ} of {len(paths)} transcripts differ",
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert pinned.audio == pytest.approx(unpinned.audio)
    assert set(pinned.texts) == set(unpinned.texts) == set(paths)
