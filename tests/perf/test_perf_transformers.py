"""The transformers engine's speed: against a bare transformers loop, and by batch size.

One process, one model object, the same clips (16 real test-other utterances, 2.8-15 s):
- overhead: audiogate's engine (``run``: pooling, length sort, per-sample outputs) against
  the loop a user would write (feature extractor, ``generate``, ``batch_decode``) over the
  same batches of 8, alternated A B B A so the shared machine's load falls on both;
- batching: the engine at batch sizes 1, 4, 8 and 16, and 8 without the length sort.
Numbers are printed and written to $AUDIOGATE_TRANSFORMERS_TABLE (if set); nothing is
asserted on time (the machine is shared). The texts must be equal everywhere.
Run: pytest tests/perf/test_perf_transformers.py --run-perf -s
"""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audiogate.datasets import load_dataset
from audiogate.datasets.audio import TARGET_RATE, load_sample_audio
from audiogate.engines import EngineContext, make_engine
from audiogate.engines.batching import plan_batches
from audiogate.registry import load as registry
from audiogate.registry.load import ModelSpec
from audiogate.samples import Request

if importlib.util.find_spec("torch") is None:
    pytest.skip("pip install -e '.[transformers]'", allow_module_level=True)

CLIPS = 16


def spec(batch: int, sort: bool = True) -> ModelSpec:
    return ModelSpec(f"tiny.en-b{batch}", "transformers", ("asr",), ("en",), {
        "weights": "hf:whisper-tiny.en",
        "transformers": {"batch_size": batch, "sort_by_length": sort},
        "generation": {"num_beams": 1, "do_sample": False}})


def test_engine_against_a_bare_loop_and_by_batch_size(shared_data: Path) -> None:
    samples = load_dataset(registry.dataset("librispeech-test-other"), shared_data)[:CLIPS]
    requests = [Request(s, load_sample_audio(s), "asr", "en") for s in samples]
    audio_s = sum(len(r.audio) for r in requests) / TARGET_RATE
    engine = make_engine(spec(8), EngineContext())
    head = engine._head  # the same model and processor objects for the bare loop
    torch = engine._torch

    def audiogate_run() -> list[str]:
        return [o.text or "" for o in engine.run(requests)]

    def bare_loop() -> list[str]:
        texts: dict[int, str] = {}
        with torch.inference_mode():
            for indices in plan_batches(requests, 8):  # the same length-sorted batches
                audios = [np.asarray(requests[i].audio, dtype=np.float32) for i in indices]
                features = head.processor.feature_extractor(
                    audios, sampling_rate=TARGET_RATE, return_tensors="pt").input_features
                ids = head.model.generate(features, num_beams=1, do_sample=False)
                decoded = head.processor.batch_decode(ids, skip_special_tokens=True)
                texts.update(zip(indices, (t.strip() for t in decoded), strict=True))
        return [texts[i] for i in range(len(requests))]

    def timed(run: Any) -> tuple[float, list[str]]:
        started = time.perf_counter()
        texts = run()
        return time.perf_counter() - started, texts

    bare_loop()  # warm-up: first calls allocate
    walls: dict[str, list[float]] = {"audiogate": [], "bare": []}
    texts: dict[str, list[str]] = {}
    for name in ("audiogate", "bare", "bare", "audiogate"):
        wall, texts[name] = timed(audiogate_run if name == "audiogate" else bare_loop)
        walls[name].append(wall)
    assert texts["audiogate"] == texts["bare"]
    ratio = sum(walls["bare"]) / sum(walls["audiogate"])  # throughput ratio
    rows = [f"| audiogate engine, batch 8 | {sum(walls['audiogate']) / 2:.1f} | "
            f"{audio_s * 2 / sum(walls['audiogate']):.2f} |",
            f"| bare transformers loop, batch 8 | {sum(walls['bare']) / 2:.1f} | "
            f"{audio_s * 2 / sum(walls['bare']):.2f} |"]
    by_batch: dict[str, float] = {}
    for batch, sort in ((1, True), (4, True), (8, True), (16, True), (8, False)):
        other = engine if (batch, sort) == (8, True) else make_engine(spec(batch, sort),
                                                                      EngineContext())
        wall, found = timed(lambda e=other: [o.text or "" for o in e.run(requests)])
        assert found == texts["bare"], f"batch {batch} changed a transcript"
        label = f"batch {batch}" + ("" if sort else ", unsorted")
        by_batch[label] = wall
    rows += [f"| engine, {label} | {wall:.1f} | {audio_s / wall:.2f} |"
             for label, wall in by_batch.items()]
    table = "\n".join([
        f"Whisper tiny.en fp32, {CLIPS} test-other clips ({audio_s:.0f} s), CPU, "
        f"{engine.identity()['threads']} thread(s), {os.cpu_count()} cores",
        "", "| run | wall s | audio s per s |", "|---|---|---|", *rows, "",
        f"throughput ratio audiogate / bare: {ratio:.3f}",
        f"batching speed-up, 8 over 1: {by_batch['batch 1'] / by_batch['batch 8']:.2f}x"])
    print("\n" + table)
    out = os.environ.get("AUDIOGATE_TRANSFORMERS_TABLE")
    if out:
        Path(out).write_text(table + "\n", encoding="utf-8")
