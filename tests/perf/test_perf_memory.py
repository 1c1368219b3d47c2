"""Benchmark: peak memory of a one-hour 16 kHz clip through the embedded engine.

The clip is real speech (the shared test-other slice, repeated to one hour) written as FLAC.
Each measurement is a fresh interpreter that reads the clip the way a pair does (audiogate's
decoder, the store's audio hash), then starts faster-whisper's transcription: the features of
the whole hour are computed before the first window is decoded, and decoding is sequential,
so the peak is reached once the first windows are out. Two measurements in the same run:
faster-whisper's own feature extractor (before) and audiogate's blocked one (after).
Reported, never asserted on time; the bound checked is the memory one (1.5 GB).

Decoding the whole hour takes minutes on two cores; AUDIOGATE_PERF_FULL_HOUR=1 decodes all of
it (the peak then also covers every window).

Run: .venv/bin/pytest tests/perf/test_perf_memory.py --run-perf -q -s
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

HOUR = 3600
BOUND_MB = 1536.0

MEASURE = """
import json, resource, sys, time
from pathlib import Path
from audiogate.datasets.audio import load_audio
from audiogate.engines import EngineContext, make_engine
from audiogate.registry.load import models
from audiogate.results.store import audio_hash
engine = make_engine(models()["whisper-tiny.en"], EngineContext())
if sys.argv[2] == "before":  # faster-whisper's own extractor: the whole hour at once
    engine._model.feature_extractor = engine._model.feature_extractor._extractor
audio = load_audio(Path(sys.argv[1]))
audio_hash(audio)
started = time.perf_counter()
if sys.argv[3] == "full":
    text = engine.transcribe(audio, "en")
    windows = -1
else:
    segments, _ = engine._model.transcribe(audio, language="en", beam_size=1,
                                           temperature=0.0, condition_on_previous_text=False)
    windows = sum(1 for _, _ in zip(range(3), segments))
print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "seconds": time.perf_counter() - started, "segments": windows}))
"""


@pytest.fixture(scope="module")
def hour_clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    speech = [sf.read(str(p), dtype="int16")[0] for p in
              sorted((shared_data / "LibriSpeech" / "test-other").glob("*/*/*.flac"))]
    one = np.concatenate(speech)
    clip = np.resize(one, HOUR * 16_000)  # repeated real speech, exactly one hour
    path = tmp_path_factory.mktemp("hour") / "speech-1h.flac"
    sf.write(str(path), clip, 16_000, subtype="PCM_16")
    return path


def _measure(clip: Path, which: str, mode: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", MEASURE, str(clip), which, mode],
                          capture_output=True, text=True, timeout=3600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_peak_rss_of_a_one_hour_clip(hour_clip: Path, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    mode = "full" if os.environ.get("AUDIOGATE_PERF_FULL_HOUR") == "1" else "start"
    before = _measure(hour_clip, "before", "start")
    after = _measure(hour_clip, "after", mode)
    verdict = "within" if after["peak_mb"] <= BOUND_MB else "ABOVE"
    lines = ["one hour of 16 kHz speech through whisper-tiny.en (embedded engine):",
             f"  faster-whisper's own features: peak RSS {before['peak_mb']:7.0f} MB",
             f"  audiogate's blocked features:  peak RSS {after['peak_mb']:7.0f} MB "
             f"({'whole hour decoded in' if mode == 'full' else 'first windows out after'} "
             f"{after['seconds']:.0f} s)",
             f"  bound: {BOUND_MB:.0f} MB — {verdict}"]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert after["peak_mb"] <= BOUND_MB
