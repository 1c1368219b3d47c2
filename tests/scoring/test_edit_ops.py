"""Edit operations for display: what a report marks must be exactly what was scored."""

from __future__ import annotations

from pathlib import Path

import pytest

from audiogate.datasets import load_dataset
from audiogate.registry import load as registry
from audiogate.scoring.alignment import align
from audiogate.scoring.chinese import chinese_tokens, normalize_chinese
from audiogate.scoring.edit_ops import (
    DEL,
    EQUAL,
    INS,
    SUB,
    EditOp,
    counts,
    render,
    text_ops,
)
from audiogate.scoring.english import english_tokens, normalize_english

EDITS = [
    lambda w: [*w[:2], "zebra", *w[3:]],  # substitution
    lambda w: w[:1] + w[2:],  # deletion
    lambda w: [*w[:3], "very", "very", *w[3:]],  # insertions
    lambda w: list(reversed(w)),  # everything moves
    lambda w: [x.upper() + "," for x in w],  # only case and punctuation: no edit
    lambda w: [],  # nothing recognised
]


@pytest.mark.parametrize("split", ["librispeech-test-clean", "librispeech-test-other"])
def test_english_ops_count_what_scoring_counts(split: str, shared_data: Path) -> None:
    samples = [s for s in load_dataset(registry.dataset(split), shared_data) if s.error is None]
    for sample in samples:
        for make in EDITS:
            hyp = " ".join(make(sample.reference.split()))
            scored = align(english_tokens(sample.reference), english_tokens(hyp))
            ops = text_ops(normalize_english(sample.reference), normalize_english(hyp), "en")
            assert counts(ops) == (scored.substitutions, scored.deletions, scored.insertions)
            assert [o.ref for o in ops if o.op != INS] == english_tokens(sample.reference)
            assert [o.hyp for o in ops if o.op != DEL] == english_tokens(hyp)


def test_chinese_ops_are_characters_and_count_what_scoring_counts(shared_data: Path) -> None:
    samples = [s for s in load_dataset(registry.dataset("aishell-1"), shared_data)
               if s.error is None]
    assert samples
    for sample in samples:
        ref = sample.reference
        for hyp in (ref.replace(" ", "")[:-2] + "好吗", "我" + ref, ref[3:], "2024年" + ref):
            scored = align(chinese_tokens(ref), chinese_tokens(hyp))
            ops = text_ops(normalize_chinese(ref), normalize_chinese(hyp), "zh")
            assert counts(ops) == (scored.substitutions, scored.deletions, scored.insertions)
            assert all(len(o.ref) <= 1 and len(o.hyp) <= 1 for o in ops)  # one character each


def test_ops_are_one_token_each_in_reading_order() -> None:
    ops = text_ops("the cat sat on the mat", "the hat sat the mat very", "en")
    assert ops == [EditOp(EQUAL, "the", "the"), EditOp(SUB, "cat", "hat"),
                   EditOp(EQUAL, "sat", "sat"), EditOp(DEL, "on", ""),
                   EditOp(EQUAL, "the", "the"), EditOp(EQUAL, "mat", "mat"),
                   EditOp(INS, "", "very")]
    assert text_ops("a b", "", "en") == [EditOp(DEL, "a", ""), EditOp(DEL, "b", "")]
    assert text_ops(None, "x", "en") == [EditOp(INS, "", "x")]


def test_render_plain_colour_and_context() -> None:
    ops = text_ops("one two three four five six seven eight nine ten",
                   "one two tree four five six seven eight ten", "en")
    assert render(ops) == "one two [sub: three→tree] four five six seven eight [del: nine] ten"
    assert render(ops, context=1) == "… two [sub: three→tree] four … eight [del: nine] ten"
    colour = render(ops, color=True)
    assert "\x1b[33mthree→tree\x1b[0m" in colour and "\x1b[31;9mnine\x1b[0m" in colour
    assert "[" not in colour.replace("\x1b[", "")  # no plain markers once coloured
    zh = text_ops("我们是好人", "我们四好人啊", "zh")
    assert render(zh, "") == "我们[sub: 是→四]好人[ins: 啊]"
