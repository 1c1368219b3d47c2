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


def bare_loop(whisper: object, paths: list[Path], settings: dict[str, object]
              ) -> tuple[dict[str, str], float]:
    """The loop anyone would write: read, transcribe, join the segments."""
    texts: dict[str, str] = {}
    audio_seconds = 0.0
    for path in paths:
        audio, rate = sf.read(str(path), dtype="float32")
        assert rate == 16_000, f"{path}: {rate} Hz"  # LibriSpeech: no resampling in (a)
        audio_seconds += len(audio) / rate
        segments, _ = whisper.transcribe(  # type: ignore[attr-defined]
            audio, language="en", vad_filter=False, beam_size=settings["beam_size"],
            temperature=settings["temperature"],
            condition_on_previous_text=settings["condition_on_previous_text"])
        texts[path.stem] = "".join(s.text for s in segments).strip()
    return texts, audio_seconds


def test_audiogate_overhead_vs_bare_faster_whisper(shared_data: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    models, datasets = registry.models(), registry.datasets()
    started = time.perf_counter()
    engine = make_engine(models[MODEL], EngineContext())
    load_s = time.perf_counter() - started
    whisper = engine._model  # type: ignore[attr-defined]  # the instance both paths use
    settings = engine.settings  # type: ignore[attr-defined]
    assert settings["compute_type"] == "int8" and settings["beam_size"] == 1
    assert settings["temperature"] == 0.0 and settings["condition_on_previous_text"] is False

    specs = [datasets[name] for name in SPLITS]
    per_split = {spec.name: sorted(s.audio_path for s in load_dataset(spec, shared_data)
                                   if s.audio_path is not None) for spec in specs}
    assert sum(map(len, per_split.values())) == N_CLIPS, {k: len(v) for k, v in
                                                         per_split.items()}
    # One clip through the model first, outside both timings (first-call allocations).
    bare_loop(whisper, per_split[SPLITS[0]][:1], settings)

    bare_s = ours_s = audio_bare = audio_ours = infer_ours = 0.0
    bare_texts: dict[str, str] = {}
    our_texts: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    for i, spec in enumerate(specs):
        for step in ("bare", "ours") if i % 2 == 0 else ("ours", "bare"):
            t0 = time.perf_counter()
            if step == "bare":
                texts, audio_s = bare_loop(whisper, per_split[spec.name], settings)
                bare_s += time.perf_counter() - t0
                audio_bare += audio_s
                bare_texts.update(texts)
            else:
                result, records = PairRun(models[MODEL], spec, engine, shared_data,
                                          store=None).run()
                ours_s += time.perf_counter() - t0
                audio_ours += result.audio_seconds
                infer_ours += result.inference_seconds
                errors.extend(result.error_samples)
                our_texts.update({r.id: r.raw_output or "" for r in records})
    engine.close()

    bare_total, ours_total = load_s + bare_s, load_s + ours_s
    ratio = ours_total / bare_total
    lines = [
        f"{N_CLIPS} LibriSpeech clips, {audio_bare:.1f} s of audio, {MODEL} "
        f"(int8, beam 1, temperature 0), model load {load_s:.2f} s counted once in each:",
        f"  bare faster-whisper loop: {bare_total:7.2f} s  (loop {bare_s:.2f} s)  "
        f"RTFx {audio_bare / bare_s:.1f}",
        f"  audiogate PairRun path:   {ours_total:7.2f} s  (loop {ours_s:.2f} s)  "
        f"RTFx {audio_ours / ours_s:.1f} (as audiogate reports it, engine time only: "
        f"{audio_ours / infer_ours:.1f})",
        f"  ratio audiogate / bare:   {ratio:.3f}  (goal <= {GOAL}; loops only "
        f"{ours_s / bare_s:.3f}) — {'within' if ratio <= GOAL else 'ABOVE'} goal",
    ]
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    # Correctness only (no timing assertion): the same clips, the same settings, same text.
    assert not errors, errors
    assert len(our_texts) == N_CLIPS
    assert audio_ours == pytest.approx(audio_bare, rel=1e-6)
    assert our_texts == bare_texts
