"""English text as UltraEval-Audio's scorer sees it: Whisper's normalizer, then sacrebleu 13a."""

from __future__ import annotations

from functools import cache

from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from whisper_normalizer.english import EnglishTextNormalizer


@cache
def _normalizer() -> EnglishTextNormalizer:
    return EnglishTextNormalizer()


@cache
def _tokenizer() -> Tokenizer13a:
    return Tokenizer13a()


def normalize_english(text: str) -> str:
    """Lower-case, then Whisper's English normalizer (spellings, numbers, contractions)."""
    return _normalizer()(text.lower())


def english_tokens(text: str) -> list[str]:
    """The word tokens WER is computed on."""
    return _tokenizer()(normalize_english(text)).split()
