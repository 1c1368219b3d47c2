"""MMAU accuracy, scored exactly like the official MMAU evaluation script.

``mmau_correct`` is a port of ``string_match`` from ``evaluation.py`` in the official
MMAU repository (https://github.com/Sakshi113/MMAU, Apache-2.0; S. Sakshi et al.,
"MMAU: A Massive Multi-Task Audio Understanding and Reasoning Benchmark", 2024).
The published MMAU numbers (and UltraEval-Audio's) come from that rule, so any change
here changes what our accuracy means: keep it byte-for-byte in behaviour.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from audiogate.scoring.extract import after_think

_WORD = re.compile(r"\b\w+\b")
# A bare option label and nothing else: "A", "b.", "(C)", "[d]", "A)", "B:".
_BARE_LETTER = re.compile(r"\A\s*[(\[]?\s*([A-Za-z])\s*[)\]]?\s*[.:)]?\s*\Z")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _tokens(text: str) -> set[str]:
    """Official tokenizer: lower-case, the set of ``\\b\\w+\\b`` words."""
    return set(_WORD.findall(text.lower()))


def letter_to_choice(prediction: str, choices: Sequence[str]) -> str:
    """The choice a bare option letter names ("B." -> choices[1]); else ``prediction``."""
    found = _BARE_LETTER.match(prediction)
    if found is None:
        return prediction
    index = LETTERS.index(found.group(1).upper())
    return choices[index] if index < len(choices) else prediction


def mmau_correct(
    prediction: str, answer: str, choices: Sequence[str], *, lenient: bool = False
) -> bool:
    """Official MMAU string match.

    Correct iff every token of ``answer`` is in ``prediction`` and ``prediction`` shares
    no token with the other choices once the answer's own tokens are removed from them.
    A bare letter ("A") is therefore wrong; ``lenient=True`` (NOT the official rule)
    first maps a bare letter to the choice it names.
    """
    if lenient:
        prediction = letter_to_choice(prediction, choices)
    prediction_tokens = _tokens(prediction)
    answer_tokens = _tokens(answer)
    if not prediction_tokens:
        return False
    incorrect_tokens: set[str] = set()
    for choice in choices:
        choice_tokens = _tokens(choice)
        if choice_tokens != answer_tokens:
            incorrect_tokens.update(choice_tokens - answer_tokens)
    return answer_tokens.issubset(prediction_tokens) and prediction_tokens.isdisjoint(
        incorrect_tokens
    )


def score_output(text: str, answer: str, choices: Sequence[str], *, lenient: bool = False) -> bool:
    """Score a raw model reply: keep what follows the last ``</think>``, then match."""
    return mmau_correct(after_think(text), answer, choices, lenient=lenient)


def _cell(correct: int, total: int) -> dict[str, Any]:
    return {
        "correct": correct,
        "total": total,
        "accuracy": 100.0 * correct / total if total else None,
    }


def accuracy_breakdown(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Accuracy % overall, by ``task`` (sound/music/speech), ``difficulty`` and sub-category.

    Each record has ``correct`` (bool; None for a sample that errored), ``task``,
    ``difficulty`` and optionally ``sub-category``. Errored samples are counted under
    ``errors`` and left out of every denominator, as the official script skips items
    without a prediction; the gate reports them separately. ``accuracy`` is None for an
    empty group.
    """
    counts: dict[str, dict[str, list[int]]] = {
        "by_task": {}, "by_difficulty": {}, "by_subcategory": {},
    }
    correct = total = errors = 0
    for record in records:
        if record.get("correct") is None:
            errors += 1
            continue
        hit = int(bool(record["correct"]))
        correct += hit
        total += 1
        for group, key in (("by_task", "task"), ("by_difficulty", "difficulty"),
                           ("by_subcategory", "sub-category")):
            value = record.get(key)
            if value is None:
                continue
            cell = counts[group].setdefault(str(value), [0, 0])
            cell[0] += hit
            cell[1] += 1
    result: dict[str, Any] = {"overall": _cell(correct, total), "errors": errors}
    for group, cells in counts.items():
        result[group] = {name: _cell(c, t) for name, (c, t) in sorted(cells.items())}
    return result
