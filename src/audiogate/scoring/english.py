"""English text as UltraEval-Audio's scorer sees it: its copy of Whisper's normalizer, then
sacrebleu 13a tokens, lower-cased.

UltraEval-Audio (``audio_evals/lib/text_normalization/en.py``) ships its own copy of Whisper's
English normalizer instead of calling the ``whisper-normalizer`` package. The package supplies
everything the two share (its rewrite tables, number and spelling normalizers, symbol
removal; ``WhisperPipeline`` runs them in the package's order, faster, and a test holds the
two equal); this module writes only the three ways the copy differs:

1. no informal rewrites: ``kinda``, ``sorta``, ``dunno`` and ``cause`` stay as they are;
2. Latin text inside full-width parentheses (``（Applause）``) is deleted, right after the
   ASCII bracket and parenthesis removal and before the filler removal;
3. the tokens are lower-cased after tokenizing (``EvaluationTokenizer(lowercase=True)``), so
   capitals that Unicode normalization produces (``ℍ`` -> ``H``, ``™`` -> ``TM``) match.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from typing import Any

from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
from whisper_normalizer.basic import remove_symbols_and_diacritics
from whisper_normalizer.english import EnglishNumberNormalizer, EnglishTextNormalizer

# The package's rewrites that UltraEval-Audio's copy does not have.
_PACKAGE_ONLY_REPLACERS = (r"\bkinda\b", r"\bsorta\b", r"\bdunno\b", r"\bcause\b")

_BRACKETS = re.compile(r"[<\[][^>\]]*[>\]]")
_PARENTHESES = re.compile(r"\(([^)]+?)\)")
_FULL_WIDTH_LATIN = re.compile(r"（([a-z A-Z]+?)）")
_SPACE_APOSTROPHE = re.compile(r"\s+'")
_DIGIT_COMMA = re.compile(r"(\d),(\d)")
_PERIOD = re.compile(r"\.([^0-9]|$)")
_LONE_PREFIX = re.compile(r"[.$¢€£]([^0-9])")
_LONE_PERCENT = re.compile(r"([^0-9])%")
_SPACES = re.compile(r"\s+")
_METACHARACTERS = re.compile(r"[\\()\[\]|.*+?{}^$]")


def required_text(pattern: str) -> str:
    """A substring every match of ``pattern`` contains ("" when none is known): a rule whose
    text is absent cannot change the string, so its regex need not run."""
    body = pattern.replace(r"\b", "")
    if not _METACHARACTERS.search(body):
        return body
    return "'" if "'" in body else ""


@cache
def _number_normalizer() -> EnglishNumberNormalizer:
    return EnglishNumberNormalizer()


@lru_cache(maxsize=4096)
def without_symbols(s: str) -> str:
    """The package's symbol and diacritic removal (keeping numeric symbols), memoized: every
    protocol built on Whisper's pipeline reaches this step with the same text for almost
    every sample, so the second protocol gets it for free."""
    return str(remove_symbols_and_diacritics(s, keep=".%$¢€£"))


@lru_cache(maxsize=4096)
def standard_numbers(s: str) -> str:
    """The package's number normalizer, memoized for the same reason."""
    return str(_number_normalizer()(s))


def clear_caches() -> None:
    """Forget every memoized English normalization (for benchmarks that measure cold)."""
    for cached in (without_symbols, standard_numbers, normalize_english):
        cached.cache_clear()


class WhisperPipeline(EnglishTextNormalizer):  # type: ignore[misc]
    """The package's ``EnglishTextNormalizer``: its tables, number and spelling normalizers
    and symbol removal, run in its order with every pattern compiled once (the package hands
    about sixty pattern strings to ``re.sub`` per call, and resolving them is most of its
    time) and a rewrite skipped when the text it needs is absent. A test holds it equal to
    the package's own ``__call__``. ``delete_after_brackets`` is a pattern deleted right after
    the bracket and parenthesis removal."""

    delete_after_brackets: re.Pattern[str] | None = None
    # set by the package's __init__ (untyped there)
    replacers: dict[str, str]
    ignore_patterns: str
    standardize_numbers: Any
    standardize_spellings: Any

    def compile(self) -> None:
        """Compile the tables; call again after changing ``replacers`` or ``ignore_patterns``."""
        self._ignore = re.compile(self.ignore_patterns)
        self._replacers = [(required_text(k), re.compile(k), v)
                           for k, v in self.replacers.items()]

    def __init__(self) -> None:
        super().__init__()
        self.standardize_numbers = standard_numbers
        self.compile()

    def __call__(self, s: str) -> str:
        s = _PARENTHESES.sub("", _BRACKETS.sub("", s.lower()))
        if self.delete_after_brackets is not None:
            s = self.delete_after_brackets.sub("", s)
        s = _SPACE_APOSTROPHE.sub("'", self._ignore.sub("", s))
        for needed, pattern, replacement in self._replacers:
            if needed in s:
                s = pattern.sub(replacement, s)
        s = _PERIOD.sub(r" \1", _DIGIT_COMMA.sub(r"\1\2", s))
        s = without_symbols(s)
        s = self.standardize_spellings(self.standardize_numbers(s))
        s = _LONE_PERCENT.sub(r"\1 ", _LONE_PREFIX.sub(r" \1", s))
        return _SPACES.sub(" ", s)


class UltraEvalEnglishNormalizer(WhisperPipeline):
    """UltraEval-Audio's English normalizer: the package's, less four rewrites, plus the
    full-width parenthesis removal."""

    delete_after_brackets = _FULL_WIDTH_LATIN

    def __init__(self) -> None:
        super().__init__()
        for pattern in _PACKAGE_ONLY_REPLACERS:
            del self.replacers[pattern]
        self.compile()


@cache
def _normalizer() -> UltraEvalEnglishNormalizer:
    return UltraEvalEnglishNormalizer()


@cache
def _tokenizer() -> Tokenizer13a:
    return Tokenizer13a()


@lru_cache(maxsize=4096)
def normalize_english(text: str) -> str:
    """UltraEval-Audio's English normalization (cached: a text comes back within a pair, and
    the number normalizer is the slowest step of scoring). The caches here are small
    windows: a scoring worker keeps its own, and the texts of earlier runs come from the
    store's normalization cache."""
    return _normalizer()(text)


def tokens_of_normalized(normalized: str) -> list[str]:
    """13a tokens of already normalized text, lower-cased after tokenizing."""
    return str(_tokenizer()(normalized)).lower().split()


def english_tokens(text: str) -> list[str]:
    """The word tokens WER is computed on."""
    return tokens_of_normalized(normalize_english(text))
