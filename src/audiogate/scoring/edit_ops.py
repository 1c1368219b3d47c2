"""Word (WER) or character (CER) edit operations of one hypothesis, for showing, not scoring.

The ops come from jiwer's own alignment on the scoring tokens, so what a report marks is
exactly what was counted: the numbers of ``sub``/``del``/``ins`` ops equal the record's
S/D/I. Tokens are recomputed from the normalized texts a record (or baseline line)
keeps, with the same tokenizer scoring used (sacrebleu 13a for English; sacrebleu zh,
one token per CJK character, for Chinese).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

import jiwer

EQUAL, SUB, DEL, INS = "equal", "sub", "del", "ins"
_JIWER = {"equal": EQUAL, "substitute": SUB, "delete": DEL, "insert": INS}


@dataclass(frozen=True)
class EditOp:
    """One token's fate: equal, substituted, deleted or inserted (``ref`` / ``hyp`` empty
    when absent)."""

    op: str
    ref: str
    hyp: str


@cache
def _tokenizer(language: str) -> Any:
    if language == "zh":
        from sacrebleu.tokenizers.tokenizer_zh import TokenizerZh

        return TokenizerZh()
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

    return Tokenizer13a()


def tokens(normalized: str | None, language: str) -> list[str]:
    """The scoring tokens of an already normalized text (what jiwer aligned)."""
    return _tokenizer(language)(normalized or "").split()


def separator(language: str) -> str:
    """How tokens are joined for reading: characters run together in Chinese."""
    return "" if language == "zh" else " "


def edit_ops(ref: list[str], hyp: list[str]) -> list[EditOp]:
    """One op per token, in reading order (jiwer's chunks split token by token)."""
    if not ref and not hyp:
        return []
    if not hyp:
        return [EditOp(DEL, t, "") for t in ref]
    if not ref:
        return [EditOp(INS, "", t) for t in hyp]
    out: list[EditOp] = []
    for chunk in jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0]:
        op = _JIWER[chunk.type]
        r = ref[chunk.ref_start_idx:chunk.ref_end_idx]
        h = hyp[chunk.hyp_start_idx:chunk.hyp_end_idx]
        if op == EQUAL:
            out.extend(EditOp(EQUAL, a, a) for a in r)
        elif op == SUB:
            out.extend(EditOp(SUB, a, b) for a, b in zip(r, h, strict=True))
        elif op == DEL:
            out.extend(EditOp(DEL, a, "") for a in r)
        else:
            out.extend(EditOp(INS, "", b) for b in h)
    return out


def text_ops(reference: str | None, hypothesis: str | None, language: str) -> list[EditOp]:
    """``edit_ops`` of two normalized texts in the dataset's language."""
    return edit_ops(tokens(reference, language), tokens(hypothesis, language))


def counts(ops: list[EditOp]) -> tuple[int, int, int]:
    """(substitutions, deletions, insertions): equal to jiwer's, by construction."""
    return (sum(o.op == SUB for o in ops), sum(o.op == DEL for o in ops),
            sum(o.op == INS for o in ops))


_ANSI = {SUB: "\x1b[33m", DEL: "\x1b[31;9m", INS: "\x1b[32m"}
_RESET = "\x1b[0m"


def render(ops: list[EditOp], sep: str = " ", *, color: bool = False,
           context: int | None = None) -> str:
    """One line: plain markers ``[sub: a→b] [del: a] [ins: b]``, or ANSI colour (yellow
    substitution ``a→b``, red struck-through deletion, green insertion). With ``context``,
    equal tokens farther than that from an edit become ``…`` (short enough for a CI log)."""
    keep = _near_edits(ops, context)
    parts: list[str] = []
    for index, o in enumerate(ops):
        if not keep[index]:
            if not parts or parts[-1] != "…":
                parts.append("…")
            continue
        if o.op == EQUAL:
            parts.append(o.ref)
        elif color:
            text = f"{o.ref}→{o.hyp}" if o.op == SUB else o.ref or o.hyp
            parts.append(f"{_ANSI[o.op]}{text}{_RESET}")
        elif o.op == SUB:
            parts.append(f"[sub: {o.ref}→{o.hyp}]")
        else:
            parts.append(f"[{o.op}: {o.ref or o.hyp}]")
    return sep.join(parts)


def _near_edits(ops: list[EditOp], context: int | None) -> list[bool]:
    if context is None:
        return [True] * len(ops)
    edits = [i for i, o in enumerate(ops) if o.op != EQUAL]
    keep = [False] * len(ops)
    for i in edits:
        for j in range(max(0, i - context), min(len(ops), i + context + 1)):
            keep[j] = True
    return keep
