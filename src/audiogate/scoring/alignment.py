"""Word-level alignments (jiwer's Levenshtein; kaldialign's with compounds) and the corpus
error rate."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import jiwer
import kaldialign


@dataclass(frozen=True)
class Alignment:
    """Edit counts of one hypothesis against one reference, on scoring tokens."""

    hits: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def ref_len(self) -> int:
        return self.hits + self.substitutions + self.deletions

    @property
    def percent(self) -> float:
        """Per-sample error rate in percent (can exceed 100 with insertions)."""
        return self.errors / self.ref_len * 100


def align(ref_tokens: list[str], hyp_tokens: list[str]) -> Alignment:
    """Align token lists; the reference must not be empty (that sample is an error)."""
    if not ref_tokens:
        raise ValueError("empty reference after normalization")
    if not hyp_tokens:
        return Alignment(0, 0, len(ref_tokens), 0)
    out = jiwer.process_words(" ".join(ref_tokens), " ".join(hyp_tokens))
    return Alignment(out.hits, out.substitutions, out.deletions, out.insertions)


def align_shown(ref_tokens: list[str], hyp_tokens: list[str], sep: str
                ) -> tuple[Alignment, list[Any]]:
    """``align`` and, from the same jiwer alignment, the edits as a report shows them: a
    string per run of equal tokens (joined by ``sep``), ``["s", ref, hyp]``, ``["d", ref]``
    and ``["i", hyp]`` for the edits (what ``results.html`` would make again from the
    normalized texts, without tokenizing or aligning them again)."""
    if not ref_tokens:
        raise ValueError("empty reference after normalization")
    if not hyp_tokens:
        return Alignment(0, 0, len(ref_tokens), 0), [["d", t] for t in ref_tokens]
    out = jiwer.process_words(" ".join(ref_tokens), " ".join(hyp_tokens))
    shown: list[Any] = []
    run: list[str] = []
    for chunk in out.alignments[0]:
        ref = ref_tokens[chunk.ref_start_idx:chunk.ref_end_idx]
        hyp = hyp_tokens[chunk.hyp_start_idx:chunk.hyp_end_idx]
        if chunk.type == "equal":
            run.extend(ref)
            continue
        if run:
            shown.append(sep.join(run))
            run = []
        if chunk.type == "substitute":
            shown.extend(["s", a, b] for a, b in zip(ref, hyp, strict=True))
        elif chunk.type == "delete":
            shown.extend(["d", a] for a in ref)
        else:
            shown.extend(["i", b] for b in hyp)
    if run:
        shown.append(sep.join(run))
    return Alignment(out.hits, out.substitutions, out.deletions, out.insertions), shown


def align_compounds(ref_tokens: list[str], hyp_tokens: list[str]) -> Alignment:
    """kaldialign's edit distance with ``merge_compounds=True`` (the Open ASR Leaderboard's
    ``batch_error_rate``, one pair): adjacent words on either side that spell a word of the
    other (``white paper`` / ``whitepaper``) match at no cost. The reference length is its
    word count before any merge. An empty reference aligns as insertions only."""
    if not ref_tokens:
        return Alignment(0, 0, 0, len(hyp_tokens))
    out = kaldialign.edit_distance(ref_tokens, hyp_tokens, merge_compounds=True)
    sub, dele, ins = int(out["sub"]), int(out["del"]), int(out["ins"])
    return Alignment(len(ref_tokens) - sub - dele, sub, dele, ins)


def corpus_percent(alignments: Iterable[Alignment]) -> float:
    """Σ edit distance / Σ reference tokens × 100 — not a mean of per-sample rates."""
    errors = ref = 0
    for a in alignments:
        errors += a.errors
        ref += a.ref_len
    if ref == 0:
        raise ValueError("no reference tokens to score")
    return errors / ref * 100
