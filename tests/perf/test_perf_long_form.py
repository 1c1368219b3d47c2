"""Benchmark: long-form RTFx and peak RSS per CPU engine, on the longest chapter of the
shared slices (145 s, 15 utterances) and on one hour of repeated real speech.

Engines (whisper-tiny.en weights everywhere):
- ``sequential``: the embedded engine, faster-whisper's own sequential long-form decoding;
- ``windowed``: the same model behind audiogate's windows (``max_audio_seconds: 30``: cut
  in pauses by faster-whisper's Silero VAD, one request each, stitched), the path of
  vLLM in-process chat models and any engine with a bounded audio length;
- ``served``: ``audiogate serve`` over HTTP (the whole recording in one request; RSS is
  the client's and the server process's own, both reported).

Each run is a fresh interpreter (long_form_worker.py); peak RSS is read from /proc for it
and for the server it launched.
On the hour, the windowed path's own cost is measured whole (read, hash, VAD over the
hour, every window encoded as the WAV an HTTP engine sends) and its first windows are
decoded; the bound (1.5 GB, as for the embedded engine) is asserted on memory only, never
on time. AUDIOGATE_PERF_FULL_HOUR=1 decodes the whole hour on every engine instead.

CI runs the hour's memory bound; the per-engine chapter table costs three decodes, so it
runs with AUDIOGATE_PERF_LONG_FORM=1:

    AUDIOGATE_PERF_LONG_FORM=1 .venv/bin/pytest tests/perf/test_perf_long_form.py --run-perf -q -s
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.perf.long_form import BOUND_MB, HOUR, measure, row, wer

# kind -> (registry entry, window seconds: 0 = the engine's own long-form handling)
CPU_ENGINES = {"sequential": ("whisper-tiny.en", 0.0), "windowed": ("whisper-tiny.en", 30.0),
               "served": ("whisper-tiny.en-served", 0.0)}


@pytest.mark.skipif(os.environ.get("AUDIOGATE_PERF_LONG_FORM") != "1",
                    reason="three decodes of the longest chapter (~2 min on two cores): "
                           "AUDIOGATE_PERF_LONG_FORM=1 runs them")
def test_long_form_rtfx_and_peak_rss_on_the_longest_chapter(
        longest_chapter: tuple[Path, str], capsys: pytest.CaptureFixture[str]) -> None:
    path, reference = longest_chapter
    lines = [f"longest chapter {path.stem} through whisper-tiny.en:"]
    for kind, (entry, window) in CPU_ENGINES.items():
        r = measure(path, entry, window)
        lines.append(row(kind, r, wer(reference, r["text"])))
        assert r["peak_mb"] <= BOUND_MB
    with capsys.disabled():
        print("\n" + "\n".join(lines))


def test_one_hour_recording_stays_within_the_memory_bound(
        hour_of_speech: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mode = "full" if os.environ.get("AUDIOGATE_PERF_FULL_HOUR") == "1" else "start"
    kinds = ("sequential", "windowed", "served") if mode == "full" else ("windowed",)
    what = "all decoded" if mode == "full" else "VAD, every window encoded, first 90 s decoded"
    lines = [f"one hour of repeated real speech ({what}):"]
    for kind in kinds:
        r = measure(hour_of_speech, *CPU_ENGINES[kind], mode)
        extra = (f"; VAD over the hour {r['vad_seconds']:.0f} s, {r['windows']} windows"
                 if "vad_seconds" in r else "")
        lines.append(row(kind, r) + extra)
        assert r["self_peak_mb"] <= BOUND_MB and r["children_peak_mb"] <= BOUND_MB
        if "windows" in r:
            assert r["windows"] >= HOUR // 30
    with capsys.disabled():
        print("\n" + "\n".join(lines))
