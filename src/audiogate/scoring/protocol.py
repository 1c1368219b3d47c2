"""A scoring protocol's profile, made runnable for one dataset: normalize, tokenize, align.

Profiles are registry data (``registry/protocols.yaml``); this module maps their part names
to the implementations, so a new profile built from known parts needs no code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from audiogate.errors import RegistryError
from audiogate.registry.load import DatasetSpec, ProfileSpec
from audiogate.scoring.alignment import Alignment, align, align_compounds
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

    def score(self, reference: str, hypothesis: str) -> Scored:
        ref = self.normalize(reference)
        if self.profile.empty_reference == "drop":
            checked = ref if self.drop_normalize is self.normalize \
                else self.drop_normalize(reference)
            kept = checked.strip()
            if not kept or kept in self.profile.drop_references:
                return Scored(ref, "", None, dropped=True)
        hyp = self.normalize(hypothesis)
        ref_text, hyp_text = join_compound_regions(ref, hyp) if self.join_compounds \
            else (ref, hyp)
        ref_tokens = self.tokenize(ref_text)
        if not ref_tokens and self.profile.empty_reference == "error":
            return Scored(ref, hyp, None, empty=True)
        return Scored(ref, hyp, self.align(ref_tokens, self.tokenize(hyp_text)))

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

    def score(self, reference: str, hypothesis: str) -> Scored:
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
        "join_compounds": profile.multilingual_compound_pairs and spec.language != "en"}
    if profile.normalizer == "seed-tts-eval":
        return SeedTtsScorer(**parts, language=spec.language)
    return TextScorer(**parts)
