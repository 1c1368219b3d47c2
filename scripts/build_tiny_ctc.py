"""Build a tiny RANDOM-WEIGHT wav2vec2 CTC model (Wav2Vec2ForCTC) for the transformers engine.

No hub access: the vocabulary is the 26 letters, the apostrophe and the word delimiter
(LibriSpeech's alphabet), written here; weights are torch's initialization under seed 0,
with the blank's output bias lowered so random frames still spell letters (an all-blank
model would answer nothing, and the `answered` gate could not tell it from a broken path).
Layer-norm feature extractor + attention mask, so padding a batch changes no output.
usage: python scripts/build_tiny_ctc.py OUT_DIR   (needs torch and transformers)
"""
import json
import string
import sys
import tempfile
from pathlib import Path

import torch
from transformers import (
    Wav2Vec2Config,
    Wav2Vec2CTCTokenizer,
    Wav2Vec2FeatureExtractor,
    Wav2Vec2ForCTC,
    Wav2Vec2Processor,
)

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
torch.manual_seed(0)

vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3, "|": 4, "'": 5}
vocab.update({c: 6 + i for i, c in enumerate(string.ascii_uppercase)})
with tempfile.TemporaryDirectory() as tmp:
    vocab_file = Path(tmp) / "vocab.json"
    vocab_file.write_text(json.dumps(vocab), encoding="utf-8")
    tokenizer = Wav2Vec2CTCTokenizer(str(vocab_file), unk_token="<unk>", pad_token="<pad>",
                                     word_delimiter_token="|")
extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0,
                                     do_normalize=True, return_attention_mask=True)
Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(out)

config = Wav2Vec2Config(
    vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
    intermediate_size=64, conv_dim=(16,) * 7, feat_extract_norm="layer",
    do_stable_layer_norm=True, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
    pad_token_id=vocab["<pad>"], ctc_loss_reduction="mean", mask_time_prob=0.0,
)
model = Wav2Vec2ForCTC(config).eval()
with torch.no_grad():
    model.lm_head.bias[vocab["<pad>"]] -= 2.0
model.save_pretrained(out, safe_serialization=True)
print("saved", out, sum(p.numel() for p in model.parameters()), "params;",
      sorted(p.name for p in out.iterdir()))
