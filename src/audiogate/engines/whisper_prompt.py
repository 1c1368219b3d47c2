"""Whisper's decoder prompt: multilingual vs English-only, decided by the vocabulary.

Why one place: the in-process vLLM engine builds this prompt itself, and the vLLM plugin
fixes the one the server builds; both must agree with OpenAI's rule (``is_multilingual =
vocab_size >= 51865``), which reads the model's config rather than trusting its name.
"""

from __future__ import annotations

MULTILINGUAL_VOCAB = 51865


def is_multilingual(vocab_size: int) -> bool:
    return vocab_size >= MULTILINGUAL_VOCAB


def decoder_prompt(language: str, vocab_size: int, task: str = "transcribe") -> str:
    """``<|startoftranscript|><|en|><|transcribe|><|notimestamps|>`` for a multilingual
    model; ``<|startoftranscript|><|notimestamps|>`` for an English-only one (it was
    trained without language and task tokens)."""
    if not is_multilingual(vocab_size):
        return "<|startoftranscript|><|notimestamps|>"
    return f"<|startoftranscript|><|{language}|><|{task}|><|notimestamps|>"
