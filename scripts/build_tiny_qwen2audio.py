"""Build a tiny RANDOM-WEIGHT Qwen2-Audio (Qwen2AudioForConditionalGeneration) for vLLM tests.

No hub access: the tokenizer is a byte-level BPE (Qwen2-style, ~2k tokens) trained here on
LibriSpeech transcripts, with Qwen2-Audio's special tokens; chat template = Qwen2-Audio's.
usage: python build_tiny_qwen2audio.py DATA_ROOT OUT_DIR
"""
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
                          GenerationConfig,
                          Qwen2AudioConfig,
                          Qwen2AudioEncoderConfig,
                          Qwen2AudioForConditionalGeneration,
                          Qwen2AudioProcessor,
                          Qwen2Config,
                          Qwen2TokenizerFast,
                          WhisperFeatureExtractor,
)

data, out = Path(sys.argv[1]), Path(sys.argv[2])
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|audio_bos|>", "<|AUDIO|>",
           "<|audio_eos|>"]
texts = [line.split(" ", 1)[1].lower() for f in data.rglob("*.trans.txt")
         for line in f.read_text().splitlines() if " " in line]
bpe = Tokenizer(models.BPE())
bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
bpe.decoder = decoders.ByteLevel()
bpe.train_from_iterator(texts * 3, trainers.BpeTrainer(
    vocab_size=2000, special_tokens=SPECIAL,
    initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
tok = Qwen2TokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>",
                         pad_token="<|endoftext|>", unk_token=None, bos_token=None)

CHAT = (
    "{% set audio_count = namespace(value=0) %}{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}<|im_start|>system\n"
    "You are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if 'audio' in content or 'audio_url' in content or content['type'] == 'audio' %}"
    "{% set audio_count.value = audio_count.value + 1 %}Audio {{ audio_count.value }}: "
    "<|audio_bos|><|AUDIO|><|audio_eos|>\n{% elif 'text' in content %}{{ content['text'] }}"
    "{% endif %}{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
tok.chat_template = CHAT
fe = WhisperFeatureExtractor(feature_size=128, sampling_rate=16000, hop_length=160,
                             chunk_length=30, n_fft=400, return_attention_mask=True)
proc = Qwen2AudioProcessor(feature_extractor=fe, tokenizer=tok, chat_template=CHAT)
proc.save_pretrained(out)
fe.save_pretrained(out)

audio_id = tok.convert_tokens_to_ids("<|AUDIO|>")
eos = tok.convert_tokens_to_ids("<|im_end|>")
pad = tok.convert_tokens_to_ids("<|endoftext|>")
cfg = Qwen2AudioConfig(
    audio_config=Qwen2AudioEncoderConfig(num_mel_bins=128, encoder_layers=1,
                                         encoder_attention_heads=2, encoder_ffn_dim=256,
                                         d_model=128, max_source_positions=1500).to_dict(),
    text_config=Qwen2Config(vocab_size=len(tok), hidden_size=128, intermediate_size=256,
                            num_hidden_layers=1, num_attention_heads=2,
                            num_key_value_heads=1, max_position_embeddings=4096,
                            eos_token_id=eos, pad_token_id=pad,
                            tie_word_embeddings=False).to_dict(),
    audio_token_index=audio_id, torch_dtype="float32",
)
model = Qwen2AudioForConditionalGeneration(cfg).eval()
model.save_pretrained(out, safe_serialization=True)
# transformers 5.19 writes the text model as language_model.model.model.* (one "model." too
# many for vLLM's Qwen2AudioForConditionalGeneration loader): rewrite the keys.

st = load_file(out / "model.safetensors")
st = {k.replace("language_model.model.model.", "language_model.model."): v
      for k, v in st.items()}
save_file(st, out / "model.safetensors", metadata={"format": "pt"})
GenerationConfig(eos_token_id=eos, pad_token_id=pad).save_pretrained(out)
print("saved", out, sum(p.numel() for p in model.parameters()), "params; vocab", len(tok),
      "audio", audio_id, "eos", eos)
print(tok.apply_chat_template([{"role": "user", "content": [{"type": "audio"},
      {"type": "text", "text": "hi"}]}], tokenize=False, add_generation_prompt=True))
print(sorted(p.name for p in out.iterdir()))
