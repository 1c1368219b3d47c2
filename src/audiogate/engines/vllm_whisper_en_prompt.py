"""A vLLM plugin: the English-only Whisper prompt on vLLM's transcription endpoint.

Why: vLLM (0.32) builds ``<|startoftranscript|><|{lang}|><|{task}|><|notimestamps|>`` for
every Whisper checkpoint, but an English-only one (``*.en``: a vocabulary smaller than the
multilingual 51865, OpenAI's own test) was trained on ``<|startoftranscript|><|notimestamps|>``
and, given the multilingual prompt, ends most clips at once (empty text). No request field
or server flag changes that prompt, so this patches the one method that builds it.

Opt-in: vLLM loads every installed general plugin, so ``register`` does nothing unless the
server's environment has ``AUDIOGATE_VLLM_WHISPER_EN_PROMPT=1`` (the registry entries that
need it set it in ``launch_env``, and their engine identity records it). Multilingual
checkpoints are never touched. The checkpoint itself stays the converted one, byte for byte.
"""

from __future__ import annotations

import os
from typing import Any

from audiogate.engines.whisper_prompt import is_multilingual

ENV = "AUDIOGATE_VLLM_WHISPER_EN_PROMPT"
PATCH_NAME = "whisper-en-prompt"  # how an engine identity names this server-side change


def english_only_prompt(prompt: Any, vocab_size: int, language: str, task: str) -> Any:
    """``prompt`` (vLLM's encoder/decoder prompt dict) with the decoder prompt's language
    and task tokens removed when the vocabulary is English-only."""
    if is_multilingual(vocab_size):
        return prompt
    decoder = prompt["decoder_prompt"]
    decoder["prompt"] = decoder["prompt"].replace(f"<|{language}|><|{task}|>", "")
    return prompt


def register() -> None:
    """vLLM's general-plugin hook (runs in every vLLM process; idempotent)."""
    if os.environ.get(ENV) != "1":
        return
    from vllm.model_executor.models import whisper

    cls = whisper.WhisperForConditionalGeneration
    if getattr(cls, "_audiogate_en_prompt", False):
        return
    original = cls.get_generation_prompt.__func__

    def get_generation_prompt(klass: Any, stt_params: Any) -> Any:
        prompt = original(klass, stt_params)
        vocab = int(stt_params.model_config.hf_config.vocab_size)
        return english_only_prompt(prompt, vocab, str(stt_params.language),
                                   str(stt_params.task_type))

    cls.get_generation_prompt = classmethod(get_generation_prompt)
    cls._audiogate_en_prompt = True
