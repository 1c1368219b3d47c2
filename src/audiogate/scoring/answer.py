"""Turn a model's raw output into the answer that is scored (registry `answer:` rules)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from audiogate.scoring.extract import after_think, json_content


def extract_answer(raw: str, rules: Mapping[str, Any] | None) -> str:
    """Apply the model entry's rules: text after the last </think>, then a JSON field."""
    text = raw
    rules = rules or {}
    if rules.get("after_think"):
        text = after_think(text)
    if rules.get("json_field"):
        text = json_content(text, field=str(rules["json_field"]))
    return text.strip()
