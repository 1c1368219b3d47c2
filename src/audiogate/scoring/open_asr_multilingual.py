"""Text of the Open ASR Leaderboard's multilingual sets, as it scores them.

The leaderboard's ``ml_normalizer`` (``normalizer/data_utils.py``: ``MultilingualNormalizer``
over ``BasicMultilingualTextNormalizer(remove_diacritics=False)``) is Whisper's basic
normalizer (the whisper-normalizer package's, used here) followed by: every character that is
neither a word character nor a space deleted, spaces collapsed and stripped, ``10 000``-style
thousand groups joined, and digits spelled out in the sample's language by num2words
(diacritics are kept: ``köln`` and ``koeln`` differ). Compound regions are joined per pair
before alignment (``join_compound_regions``).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher
from functools import cache, lru_cache, partial

from num2words import num2words  # type: ignore[import-untyped]
from whisper_normalizer.basic import BasicTextNormalizer

_NOT_WORD = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")
_THOUSANDS = re.compile(r"(\d)\s+(\d{3})\b")
_DIGITS = re.compile(r"\d+")


@cache
def _basic() -> BasicTextNormalizer:
    return BasicTextNormalizer(remove_diacritics=False)


def _spell(match: re.Match[str], *, lang: str) -> str:
    try:
        return str(num2words(int(match.group()), lang=lang))
    except Exception:  # the leaderboard keeps the digits whatever num2words raises
        return match.group()


@lru_cache(maxsize=4096)
def normalize_open_asr_multilingual(text: str, lang: str) -> str:
    """The leaderboard's multilingual normalization of ``text`` in language ``lang``."""
    s = _SPACES.sub(" ", _NOT_WORD.sub("", str(_basic()(text)))).strip()
    s = _THOUSANDS.sub(r"\1\2", s)
    return _DIGITS.sub(partial(_spell, lang=lang), s)


def join_compound_regions(ref: str, hyp: str) -> tuple[str, str]:
    """Where the word sequences differ but spell the same letters without spaces
    (``bundesregierung`` / ``bundes regierung``), both sides get the joined form; the
    leaderboard's ``normalize_compound_pairs`` for one pair (difflib's default matcher)."""
    ref_words, hyp_words = ref.split(), hyp.split()
    new_ref: list[str] = []
    new_hyp: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, ref_words, hyp_words).get_opcodes():
        left, right = ref_words[i1:i2], hyp_words[j1:j2]
        if tag != "equal" and "".join(left) == "".join(right):
            left = right = ["".join(left)]
        new_ref.extend(left)
        new_hyp.extend(right)
    return " ".join(new_ref), " ".join(new_hyp)
