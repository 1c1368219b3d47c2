"""A scoring protocol's profile, made runnable for one dataset: normalize, tokenize, align.

Profiles are registry data (``registry/protocols.yaml``); this module maps their part names
to the implementations, so a new profile built from known parts needs no code.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from functools import cache, partial
from importlib import metadata, resources
from typing import Any

from audiogate.errors import RegistryError
from audiogate.registry.load import DatasetSpec, ProfileSpec
from audiogate.scoring.alignment import Alignment, align, align_compounds, align_shown
from audiogate.scoring.chinese import normalize_chinese, zh_tokens_of_normalized
from audiogate.scoring.english import normalize_english, tokens_of_normalized
from audiogate.scoring.open_asr_english import normalize_open_asr_english
from audiogate.scoring.open_asr_multilingual import (
    join_compound_regions,
    normalize_open_asr_multilingual,
)
from audiogate.scoring.seed_tts import LANGUAGES as SEED_TTS_LANGUAGES
from audiogate.scoring.seed_tts import EmptyReference, score_pair
from audiogate.scoring.seed_tts import normalize as normalize_seed_tts
from audiogate.scoring.seed_tts import words as seed_tts_words

Normalize = Callable[[str], str]
# (normalizer version, text) -> the normalized text: what a sample's texts are known to give
Memo = MutableMapping[tuple[str, str], str]

#: What a normalizer's output depends on besides its rules and its dataset's options: the
#: code of audiogate's normalizers and the libraries they call. Any change to one of them
#: changes every normalizer version, so no cached normalized text outlives it.
NORMALIZER_SOURCES = ("protocol.py", "english.py", "open_asr_english.py",
                      "open_asr_english.yaml", "open_asr_multilingual.py", "chinese.py")
NORMALIZER_LIBRARIES = ("whisper-normalizer", "sacrebleu", "num2words", "regex",
                        "opencc-python-reimplemented")


def _ultraeval_chinese(spec: DatasetSpec) -> Normalize:
    return partial(normalize_chinese,
                   to_simplified=bool(spec.options.get("to_simplified", False)))


def _open_asr(spec: DatasetSpec) -> Normalize:
    if spec.language == "en":
        return normalize_open_asr_english
    return partial(normalize_open_asr_multilingual, lang=spec.language)


def _seed_tts(spec: DatasetSpec) -> Normalize:
    if spec.language not in SEED_TTS_LANGUAGES:
        raise RegistryError(f"dataset {spec.name!r}: Seed-TTS-Eval's normalization is for "
                            f"{' and '.join(SEED_TTS_LANGUAGES)}, not {spec.language!r}")
    return partial(normalize_seed_tts, lang=spec.language)


def _fixed(normalize: Normalize) -> Callable[[DatasetSpec], Normalize]:
    """A normalizer that is the same for every dataset."""
    def build(spec: DatasetSpec) -> Normalize:
        return normalize
    return build


NORMALIZERS: dict[str, Callable[[DatasetSpec], Normalize]] = {
    "ultraeval-english": _fixed(normalize_english),
    "ultraeval-chinese": _ultraeval_chinese,
    "open-asr": _open_asr,
    "open-asr-english": _fixed(normalize_open_asr_english),
    "seed-tts-eval": _seed_tts,  # with tokenizer jiwer: scored by SeedTtsScorer
}
TOKENIZERS: dict[str, Callable[[str], list[str]]] = {
    "13a": tokens_of_normalized,
    "zh": zh_tokens_of_normalized,
    "whitespace": str.split,
    "jiwer": seed_tts_words,  # jiwer's default word split (Seed-TTS-Eval)
}
ALIGNMENTS: dict[str, Callable[[list[str], list[str]], Alignment]] = {
    "levenshtein": align,
    "kaldialign-compounds": align_compounds,
}


@dataclass(frozen=True)
class Scored:
    """One pair under one protocol: its texts, and an alignment unless it was dropped or
    its reference is empty where the protocol makes that an error."""

    reference: str
    hypothesis: str
    alignment: Alignment | None
    dropped: bool = False
    empty: bool = False  # empty reference under a protocol that treats it as an error
    shown: list[Any] | None = None  # the alignment as a report shows it (align_shown)


@cache
def _code_version() -> str:
    """sha256 of the normalizers' source files and the versions of their libraries."""
    digest = hashlib.sha256()
    package = resources.files("audiogate.scoring")
    for name in NORMALIZER_SOURCES:
        digest.update(name.encode() + b"\0" + package.joinpath(name).read_bytes() + b"\0")
    for library in NORMALIZER_LIBRARIES:
        try:
            found = metadata.version(library)
        except metadata.PackageNotFoundError:
            found = "absent"
        digest.update(f"{library}=={found}\0".encode())
    return digest.hexdigest()


def normalizer_version(normalizer: str, spec: DatasetSpec) -> str:
    """The version of one normalizer as it runs for one dataset: its name, the dataset's
    options it reads (language, ``to_simplified``) and the code and libraries it runs.
    Two equal versions give the same normalized text for the same text."""
    payload = json.dumps([normalizer, spec.language,
                          bool(spec.options.get("to_simplified", False)), _code_version()])
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


@dataclass(frozen=True)
class TextScorer:
    """One protocol's way of scoring one dataset's (reference, hypothesis) pairs."""

    name: str
    profile: ProfileSpec
    normalize: Normalize
    drop_normalize: Normalize
    tokenize: Callable[[str], list[str]]
    align: Callable[[list[str], list[str]], Alignment]
    join_compounds: bool
    normalize_version: str = ""  # normalizer_version of normalize and drop_normalize
    drop_version: str = ""

    def score(self, reference: str, hypothesis: str, memo: Memo | None = None,
              shown_sep: str | None = None) -> Scored:
        """The pair under this protocol. ``memo`` holds normalized texts already known
        (from an earlier run, or another protocol with the same normalizer): they are
        taken from it, and what is normalized here is added to it. With ``shown_sep``, a
        Levenshtein alignment also gives its edits as a report shows them."""
        ref = self._normalized(self.normalize, self.normalize_version, reference, memo)
        if self.profile.empty_reference == "drop":
            checked = ref if self.drop_normalize is self.normalize \
                else self._normalized(self.drop_normalize, self.drop_version, reference, memo)
            kept = checked.strip()
            if not kept or kept in self.profile.drop_references:
                return Scored(ref, "", None, dropped=True)
        hyp = self._normalized(self.normalize, self.normalize_version, hypothesis, memo)
        ref_text, hyp_text = join_compound_regions(ref, hyp) if self.join_compounds \
            else (ref, hyp)
        ref_tokens = self.tokenize(ref_text)
        if not ref_tokens and self.profile.empty_reference == "error":
            return Scored(ref, hyp, None, empty=True)
        if shown_sep is not None and self.align is align and not self.join_compounds:
            alignment, shown = align_shown(ref_tokens, self.tokenize(hyp_text), shown_sep)
            return Scored(ref, hyp, alignment, shown=shown)
        return Scored(ref, hyp, self.align(ref_tokens, self.tokenize(hyp_text)))

    @staticmethod
    def _normalized(normalize: Normalize, version: str, text: str, memo: Memo | None) -> str:
        if memo is None or not version:
            return normalize(text)
        found = memo.get((version, text))
        if found is None:
            found = memo[(version, text)] = normalize(text)
        return found

    def reported(self, value: float | None) -> float | None:
        """The value as the protocol publishes it (rounded where it rounds)."""
        if value is None or self.profile.round is None:
            return value
        return round(value, self.profile.round)


@dataclass(frozen=True)
class SeedTtsScorer(TextScorer):
    """Seed-TTS-Eval's ``run_wer.py`` per utterance (scoring/seed_tts.py): its text handling
    differs between the two sides (the transcript is converted to Simplified Chinese, the
    target text loses its trailing whitespace), so it is not a normalize-both profile."""

    language: str = "en"

    def score(self, reference: str, hypothesis: str, memo: Memo | None = None,
              shown_sep: str | None = None) -> Scored:
        """Scored as ``run_wer.py`` scores it (``memo`` and ``shown_sep`` are not used: its
        two sides are not one normalizer's output, and it aligns otherwise)."""
        try:
            found = score_pair(reference, hypothesis, self.language)
        except EmptyReference:
            return Scored(self.normalize(reference.rstrip()), self.normalize(hypothesis),
                          None, empty=True)
        return Scored(found.normalized_reference, found.normalized_hypothesis,
                      Alignment(found.hits, found.substitutions, found.deletions,
                                found.insertions))


def _part(kind: str, name: str, known: dict[str, object], protocol: str) -> None:
    if name not in known:
        raise RegistryError(f"protocol {protocol!r}: unknown {kind} {name!r} (known: "
                            f"{', '.join(sorted(known))})")


def text_scorer(name: str, profile: ProfileSpec, spec: DatasetSpec) -> TextScorer:
    """The runnable form of protocol ``name``'s profile for dataset ``spec``."""
    _part("normalizer", profile.normalizer, dict(NORMALIZERS), name)
    _part("tokenizer", profile.tokenizer, dict(TOKENIZERS), name)
    _part("alignment", profile.alignment, dict(ALIGNMENTS), name)
    normalize = NORMALIZERS[profile.normalizer](spec)
    drop = normalize
    if profile.drop_check is not None:
        _part("normalizer", profile.drop_check, dict(NORMALIZERS), name)
        drop = NORMALIZERS[profile.drop_check](spec)
    parts: dict[str, Any] = {
        "name": name, "profile": profile, "normalize": normalize, "drop_normalize": drop,
        "tokenize": TOKENIZERS[profile.tokenizer], "align": ALIGNMENTS[profile.alignment],
        "join_compounds": profile.multilingual_compound_pairs and spec.language != "en",
        "normalize_version": normalizer_version(profile.normalizer, spec),
        "drop_version": normalizer_version(profile.drop_check or profile.normalizer, spec)}
    if profile.normalizer == "seed-tts-eval":
        return SeedTtsScorer(**parts, language=spec.language)
    return TextScorer(**parts)
