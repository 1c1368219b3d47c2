"""Turn a model's raw output into the answer that is scored (registry `answer:` rules).

A model entry's rules are read here (``answer_rules``), beside the function that applies
them, so a live run and a merge's re-scoring take each answer by the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audiogate.registry.load import ModelSpec
from audiogate.scoring.extract import after_think, json_content


def answer_rules(model: ModelSpec, task: str) -> dict[str, Any]:
    """`answer:` in a model entry, either flat or per task."""
    rules = dict(model.options.get("answer") or {})
    if task in rules and isinstance(rules[task], dict):
        return dict(rules[task])
    return rules


def extract_answer(raw: str, rules: Mapping[str, Any] | None) -> str:
    """Apply the model entry's rules: text after the last </think>, then a JSON field."""
    text = raw
    rules = rules or {}
    if rules.get("after_think"):
        text = after_think(text)
    if rules.get("json_field"):
        text = json_content(text, field=str(rules["json_field"]))
    return text.strip()
