"""In-process Whisper through ``vllm.LLM``, prepared exactly as vLLM's transcription server
prepares it, so served and in-process runs of the same weights give the same text.

What the server does (vLLM 0.32, ``entrypoints/speech_to_text``) and this reuses from vLLM
itself rather than copying: a clip longer than the model's ``max_audio_clip_s`` (30 s) is cut
by ``vllm.multimodal.audio.split_audio`` at the quietest 100 ms window of each chunk's last
second; every chunk is one request; the chunk texts go through the model's
``post_process_output`` and are joined with ``asr_inter_chunk_separator`` (a space, nothing
for Chinese and Japanese). What it does not do is use the English-only prompt for an
English-only checkpoint; here the prompt follows the model's vocabulary (whisper_prompt.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from audiogate.datasets.audio import TARGET_RATE
from audiogate.engines.whisper_prompt import decoder_prompt, is_multilingual
from audiogate.samples import Request


class VllmWhisper:
    """Chunking, prompts and joining for one loaded Whisper ``vllm.LLM``."""

    def __init__(self, llm: Any) -> None:
        from vllm.entrypoints.speech_to_text.base.serving import asr_inter_chunk_separator
        from vllm.model_executor.model_loader import get_model_cls
        from vllm.multimodal.audio import split_audio

        model_config = llm.model_config
        self._model_cls = get_model_cls(model_config)
        self._split_audio = split_audio
        self._separator = asr_inter_chunk_separator
        self.config = self._model_cls.get_speech_to_text_config(model_config, "transcribe")
        self.vocab_size = int(model_config.hf_config.vocab_size)

    def identity(self) -> dict[str, Any]:
        """The settings that decide the text: prompt kind and the long-audio split."""
        c = self.config
        return {"decoder_prompt": "multilingual" if is_multilingual(self.vocab_size)
                else "english-only", "vocab_size": self.vocab_size,
                "long_audio": {"max_clip_s": c.max_audio_clip_s,
                               "overlap_s": c.overlap_chunk_second,
                               "window": c.min_energy_split_window_size,
                               "split": "vllm.multimodal.audio.split_audio"}}

    def chunks(self, audio: np.ndarray) -> list[np.ndarray]:
        """The server's rule: split only what is longer than max_audio_clip_s."""
        c = self.config
        duration = len(audio) / TARGET_RATE
        if not c.allow_audio_chunking or c.max_audio_clip_s is None or \
                duration <= c.max_audio_clip_s:
            return [audio]
        return list(self._split_audio(audio, TARGET_RATE, c.max_audio_clip_s,
                                      c.overlap_chunk_second, c.min_energy_split_window_size))

    def prompt(self, chunk: np.ndarray, language: str) -> dict[str, Any]:
        return {"encoder_prompt": {"prompt": "", "multi_modal_data": {
                    "audio": (chunk, TARGET_RATE)}},
                "decoder_prompt": decoder_prompt(language, self.vocab_size)}

    def prompts(self, request: Request) -> list[dict[str, Any]]:
        """One encoder/decoder prompt per chunk of the request's audio."""
        return [self.prompt(c, request.language) for c in self.chunks(request.audio)]

    def join(self, texts: list[str], language: str) -> str:
        parts = [self._model_cls.post_process_output(t) for t in texts]
        return str(self._separator(language, self._model_cls.no_space_languages).join(parts))
