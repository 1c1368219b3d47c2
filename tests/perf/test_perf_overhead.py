"""Benchmark: what audiogate's path costs on top of a bare faster-whisper loop.

All 83 shared LibriSpeech clips (test-clean 6, dev-clean 35, test-other 42) go through
(a) a bare loop — soundfile reads each FLAC, faster-whisper transcribes it with the engine's
settings (int8, beam 1, temperature 0, condition_on_previous_text False, language en) — and
(b) audiogate's own path — PairRun per split (loader, audio loading, engine, answer
extraction, scoring), the store disabled — with the SAME engine instance, so the weights are
loaded once and that load is counted once in each total. The two paths alternate split by
split so a busy machine slows both alike.

Reports bare seconds, audiogate seconds, their ratio (goal <= 1.05) and the RTFx of both
(Σ audio seconds / Σ seconds). It asserts only that both paths transcribed the same clips
to the same text — never on time.

Run: .venv/bin/pytest tests/perf/test_perf_overhead.py --run-perf -q
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import soundfile as sf

from audiogate.datasets import load_dataset
from audiogate.engines import EngineContext, make_engine
from audiogate.registry import load as registry
from audiogate.runner import PairRun

MODEL = "whisper-tiny.en"
SPLITS = ("librispeech-test-clean", "librispeech-dev-clean", "librispeech-test-other")
N_CLIPS = 83
GOAL = 1.05
CHUNK = 7  # clips per alternation step


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def bare_loop(whisper: Any, paths: list[Any], settings: dict[str, Any]
              ) -> tuple[dict[str, str], float]:
    """The loop anyone would write: read, transcribe, join the segments."""
    texts: dict[str, str] = {}
    audio_seconds = 0.0
    for path in paths:
        audio, rate = sf.read(str(path), dtype="float32")
        assert rate == 16_000, f"{path}: {rate} Hz"  # LibriSpeech: no resampling in (a)
        audio_seconds += len(audio) / rate
        segments, _ = whisper.transcribe(
            audio, language="en", vad_filter=False, beam_size=settings["beam_size"],
            temperature=settings["temperature"],
            condition_on_previous_text=settings["condition_on_previous_text"])
        texts[path.stem] = "".join(s.text for s in segments).strip()
    return texts, audio_seconds


def test_audiogate_overhead_vs_bare_faster_whisper(shared_data: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    models, datasets = registry.models(), registry.datasets()
    started, cpu_started = time.perf_counter(), time.process_time()
    engine = make_engine(models[MODEL], EngineContext())
    load_s, load_cpu = time.perf_counter() - started, time.process_time() - cpu_started
    whisper = engine._model  # type: ignore[attr-defined]  # the instance both paths use
    settings = engine.settings  # type: ignore[attr-defined]
    assert settings["compute_type"] == "int8" and settings["beam_size"] == 1
    assert settings["temperature"] == 0.0 and settings["condition_on_previous_text"] is False

    # Audiogate's path starts from the registry: listing each split is part of its cost.
    t0, c0 = time.perf_counter(), time.process_time()
    samples = {name: load_dataset(datasets[name], shared_data) for name in SPLITS}
    ours_s, ours_cpu = time.perf_counter() - t0, time.process_time() - c0
    assert sum(map(len, samples.values())) == N_CLIPS, {k: len(v) for k, v in samples.items()}
    # One clip through the model first, outside both timings (first-call allocations).
    first = samples[SPLITS[0]][0].audio_path
    assert first is not None
    bare_loop(whisper, [first], settings)

    bare_s = bare_cpu = audio_bare = audio_ours = infer_ours = 0.0
    bare_texts: dict[str, str] = {}
    our_texts: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    # The machine is shared: alternate the two paths chunk by chunk (and which goes first),
    # so load from elsewhere falls on both alike. Each chunk is one PairRun (the same
    # per-pair work audiogate does: audio loading, engine, answer extraction, scoring).
    chunks = [(name, part) for name in SPLITS
              for part in _chunks(samples[name], CHUNK)]
    for i, (name, part) in enumerate(chunks):
        for step in ("bare", "ours") if i % 2 == 0 else ("ours", "bare"):
            t0, c0 = time.perf_counter(), time.process_time()
            if step == "bare":
                texts, audio_s = bare_loop(whisper, [s.audio_path for s in part], settings)
                bare_s += time.perf_counter() - t0
                bare_cpu += time.process_time() - c0
                audio_bare += audio_s
                bare_texts.update(texts)
            else:
                result, records = PairRun(models[MODEL], datasets[name], engine, shared_data,
                                          store=None).run(part)
                ours_s += time.perf_counter() - t0
                ours_cpu += time.process_time() - c0
                audio_ours += result.audio_seconds
                infer_ours += result.inference_seconds
                errors.extend(result.error_samples)
                our_texts.update({r.id: r.raw_output or "" for r in records})
    engine.close()

    bare_total, ours_total = load_s + bare_s, load_s + ours_s
    bare_cpu, ours_cpu = load_cpu + bare_cpu, load_cpu + ours_cpu
    ratio = ours_total / bare_total
    lines = [
        f"{N_CLIPS} LibriSpeech clips, {audio_bare:.1f} s of audio, {MODEL} "
        f"(int8, beam 1, temperature 0), model load {load_s:.2f} s counted once in each:",
        f"  bare faster-whisper loop: {bare_total:7.2f} s wall  {bare_cpu:7.2f} s CPU  "
        f"RTFx {audio_bare / bare_total:.1f}",
        f"  audiogate PairRun path:   {ours_total:7.2f} s wall  {ours_cpu:7.2f} s CPU  "
        f"RTFx {audio_ours / ours_total:.1f} (audiogate's own RTFx, engine time only: "
        f"{audio_ours / infer_ours:.1f})",
        f"  ratio audiogate / bare:   {ratio:.3f} wall, {ours_cpu / bare_cpu:.3f} CPU "
        f"(goal <= {GOAL}) — {'within' if ratio <= GOAL else 'ABOVE'} goal",
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    # Correctness only (no timing assertion): the same clips, the same settings, same text.
    assert not errors, errors
    assert len(our_texts) == N_CLIPS
    assert audio_ours == pytest.approx(audio_bare, rel=1e-6)
    assert our_texts == bare_texts
