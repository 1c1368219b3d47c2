"""English text as UltraEval-Audio's scorer sees it: its copy of Whisper's normalizer, then
sacrebleu 13a tokens, lower-cased.

UltraEval-Audio (``audio_evals/lib/text_normalization/en.py``) ships its own copy of Whisper's
English normalizer instead of calling the ``whisper-normalizer`` package. The package is used
for everything the two share (numbers, spellings, symbols, contractions); this module writes
only the three ways the copy differs:

1. no informal rewrites: ``kinda``, ``sorta``, ``dunno`` and ``cause`` stay as they are;
2. Latin text inside full-width parentheses (``（Applause）``) is deleted, right after the
   ASCII bracket and parenthesis removal and before anything else;
3. the tokens are lower-cased after tokenizing (``EvaluationTokenizer(lowercase=True)``), so
   capitals that Unicode normalization produces (``ℍ`` -> ``H``, ``™`` -> ``TM``) match.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from whisper_normalizer.english import EnglishTextNormalizer

# The package's rewrites that UltraEval-Audio's copy does not have.
_PACKAGE_ONLY_REPLACERS = (r"\bkinda\b", r"\bsorta\b", r"\bdunno\b", r"\bcause\b")

# The first steps of Whisper's pipeline, repeated here so the full-width step can sit
# between them and the filler removal exactly where UltraEval-Audio puts it. They are
# idempotent, so the package running them again changes nothing.
_BRACKETS = re.compile(r"[<\[][^>\]]*[>\]]")
_PARENTHESES = re.compile(r"\(([^)]+?)\)")
_FULL_WIDTH_LATIN = re.compile(r"（([a-z A-Z]+?)）")


class UltraEvalEnglishNormalizer(EnglishTextNormalizer):  # type: ignore[misc]
    """UltraEval-Audio's English normalizer: the package's, less four rewrites, plus the
    full-width parenthesis removal."""

    def __init__(self) -> None:
        super().__init__()
        for pattern in _PACKAGE_ONLY_REPLACERS:
            del self.replacers[pattern]

    def __call__(self, s: str) -> str:
        s = _PARENTHESES.sub("", _BRACKETS.sub("", s.lower()))
        return str(super().__call__(_FULL_WIDTH_LATIN.sub("", s)))


@cache
def _normalizer() -> UltraEvalEnglishNormalizer:
    return UltraEvalEnglishNormalizer()


@cache
def _tokenizer() -> Tokenizer13a:
    return Tokenizer13a()


@lru_cache(maxsize=65536)
def normalize_english(text: str) -> str:
    """UltraEval-Audio's English normalization (cached: references repeat across runs and
    protocols, and the number normalizer is the slowest step of scoring)."""
    return _normalizer()(text)


def tokens_of_normalized(normalized: str) -> list[str]:
    """13a tokens of already normalized text, lower-cased after tokenizing."""
    return str(_tokenizer()(normalized)).lower().split()


def english_tokens(text: str) -> list[str]:
    """The word tokens WER is computed on."""
    return tokens_of_normalized(normalize_english(text))
