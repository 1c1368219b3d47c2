"""English text as the Hugging Face Open ASR Leaderboard scores it.

The leaderboard's ``EnglishTextNormalizer`` (huggingface/open_asr_leaderboard
``normalizer/normalizer.py``) is Whisper's pipeline with longer tables and three extra
stages. No package on PyPI ships it, so this module takes the whisper-normalizer package's
pipeline (the same steps in the same order) and changes only what differs:

- more fillers deleted (``ah``, ``huh``, ``em`` ...) and no informal rewrites
  (``kinda``, ``dunno`` ... stay);
- ``'s`` -> `` is`` only after a listed pronoun (``mason's`` -> ``mason s``);
- compounds joined after symbol removal (``e mail`` -> ``email``), before the numbers;
- its own spelling map (Whisper's plus ``ok`` -> ``okay``, ``flyer`` -> ``flier`` ...), then
  name variants (``stephen`` -> ``steven``) and spaced acronyms (``b b c`` -> ``bbc``);
- NFKD capitals are NOT lower-cased again (``ℍello`` stays ``Hello``).

The tables live in ``open_asr_english.yaml``.
"""

from __future__ import annotations

import re
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from ruamel.yaml import YAML

from audiogate.scoring.english import WhisperPipeline

_INFORMAL = (r"\bkinda\b", r"\bsorta\b", r"\bdunno\b", r"\bcause\b")
_ANY_IS = r"'s\b"


@cache
def rules() -> dict[str, Any]:
    """The leaderboard's tables (fillers, pronouns, spellings, compounds, names)."""
    text = resources.files("audiogate.scoring").joinpath("open_asr_english.yaml").read_text(
        encoding="utf-8")
    data: dict[str, Any] = YAML(typ="safe").load(text)
    return data


def collapse_acronyms(text: str) -> str:
    """Runs of single-character words become one word (``b b c`` -> ``bbc``, ``5 g`` ->
    ``5g``); a run holding ``a`` or ``i`` needs three, so ``a big cat`` is kept."""
    words = text.split()
    out: list[str] = []
    i = 0
    while i < len(words):
        j = i
        while j < len(words) and len(words[j]) == 1 and words[j].isalnum():
            j += 1
        if j == i:
            out.append(words[i])
            i += 1
            continue
        run = words[i:j]
        needed = 3 if any(c in ("a", "i") for c in run) else 2
        out.extend(["".join(run)] if len(run) >= needed else run)
        i = j
    return " ".join(out)


class OpenAsrEnglishNormalizer(WhisperPipeline):
    """The package's pipeline with the leaderboard's tables and stages hooked in."""

    def __init__(self) -> None:
        super().__init__()
        table = rules()
        self.ignore_patterns = r"\b(" + "|".join(table["fillers"]) + r")\b"
        pronoun_is = r"\b(" + "|".join(table["is_after"]) + r")'s\b"
        self.replacers = {
            (pronoun_is if k == _ANY_IS else k): (r"\1 is" if k == _ANY_IS else v)
            for k, v in self.replacers.items() if k not in _INFORMAL
        }
        self._compounds = [(words.split()[-1],
                            re.compile(r"\b" + r"\s+".join(map(re.escape, words.split()))
                                       + r"\b"), joined)
                           for words, joined in table["compounds"]]
        mapping = dict(self.standardize_spellings.mapping)
        for word in table["spellings"]["remove"]:
            del mapping[word]
        mapping.update(table["spellings"]["set"])
        self._spellings = mapping
        self._names = {variant: canonical for canonical, variants in table["names"].items()
                       for variant in variants}
        self._numbers = self.standardize_numbers
        # The package calls these two between its fixed steps; the leaderboard's extra
        # stages run exactly there: compounds before numbers, names and acronyms after
        # spellings.
        self.standardize_numbers = self._compounds_then_numbers
        self.standardize_spellings = self._spellings_names_acronyms
        self.compile()

    def _compounds_then_numbers(self, s: str) -> str:
        for last_word, pattern, joined in self._compounds:
            if last_word in s:
                s = pattern.sub(joined, s)
        return str(self._numbers(s))

    def _spellings_names_acronyms(self, s: str) -> str:
        s = " ".join(self._spellings.get(w, w) for w in s.split())
        s = " ".join(self._names.get(w, w) for w in s.split())
        return collapse_acronyms(s)


@cache
def _normalizer() -> OpenAsrEnglishNormalizer:
    return OpenAsrEnglishNormalizer()


@lru_cache(maxsize=4096)
def normalize_open_asr_english(text: str) -> str:
    """The leaderboard's normalized text (its exact return value; may keep NFKD capitals)."""
    return str(_normalizer()(text))
