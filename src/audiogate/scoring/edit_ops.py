"""Word (WER) or character (CER) edit operations of one hypothesis, for showing, not scoring.

The ops come from jiwer's own alignment on the scoring tokens, so what a report marks is
exactly what was counted under a Levenshtein protocol (UltraEval-Audio's, the default):
the numbers of ``sub``/``del``/``ins`` ops equal the record's S/D/I. Tokens are
recomputed from the normalized texts a record (or baseline line) keeps, with the gating
protocol's tokenizer (13a for English and zh, one token per CJK character, for Chinese,
under UltraEval-Audio). A protocol that aligns otherwise (the Open ASR Leaderboard's
compound-aware kaldialign) is shown with jiwer's alignment of the same tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

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
def _tokenizer(language: str, protocol: str | None) -> Callable[[str], list[str]]:
    """The gating protocol's tokenizer for normalized text (default: UltraEval-Audio's, 13a
    for English and zh for Chinese)."""
    from audiogate.registry.load import protocols
    from audiogate.scoring.protocol import TOKENIZERS

    metric = "cer" if language == "zh" else "wer"
    name = "zh" if language == "zh" else "13a"
    spec = protocols().get(protocol or "")
    if spec is not None and metric in spec.profiles:
        name = spec.profiles[metric].tokenizer
    return TOKENIZERS[name]


def tokenizer(language: str, protocol: str | None = None) -> Callable[[str], list[str]]:
    """The tokenizer ``tokens`` uses for this language and gating protocol."""
    return _tokenizer(language, protocol)


def tokens(normalized: str | None, language: str, protocol: str | None = None) -> list[str]:
    """The scoring tokens of an already normalized text (what was aligned)."""
    return _tokenizer(language, protocol)(normalized or "")


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


def text_ops(reference: str | None, hypothesis: str | None, language: str,
             protocol: str | None = None) -> list[EditOp]:
    """``edit_ops`` of two normalized texts in the dataset's language, tokenized as the
    gating protocol tokenizes them."""
    return edit_ops(tokens(reference, language, protocol), tokens(hypothesis, language,
                                                                 protocol))


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
