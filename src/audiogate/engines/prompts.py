"""Prompts as registry data: named templates for the user turn sent to chat engines.

Wording lives in ``registry/prompts.yaml`` (verbatim from its source, credited there),
not in code, so a model entry selects a prompt by name and a prompt change is a data
diff. ``render`` fills a template from one Sample and returns ``Request.prompt``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiogate.errors import DataError, RegistryError
from audiogate.registry.load import lookup, registered
from audiogate.registry.schema import PROMPT_KEYS, Where, check_keys, plain
from audiogate.samples import Sample

Parts = tuple[tuple[str, str], ...]
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FIELDS = {"question", "options"}


@dataclass(frozen=True)
class PromptSpec:
    """One registered prompt: ordered ("text", template) / ("audio", "") parts."""

    name: str
    parts: Parts
    option: str = "{letter}. {choice}\n"
    task: str | None = None
    source: str | None = None


def _check_fields(name: str, template: str, origin: Where, allowed: set[str]) -> None:
    unknown = set(_PLACEHOLDER.findall(template)) - allowed
    if unknown:
        raise RegistryError(
            f"{origin}: prompt {name!r} uses unknown placeholder(s) {sorted(unknown)}; "
            f"known: {sorted(allowed)}"
        )


def _prompt(name: str, raw: Any, origin: Where) -> PromptSpec:
    if not isinstance(raw, dict) or not isinstance(raw.get("turn"), list) or not raw["turn"]:
        raise RegistryError(f"{origin}: prompt {name!r} must be a mapping with a non-empty 'turn'")
    check_keys(raw, PROMPT_KEYS, origin, f"prompt {name!r}")
    raw = plain(raw)
    parts: list[tuple[str, str]] = []
    for i, part in enumerate(raw["turn"]):
        if part == "audio":
            parts.append(("audio", ""))
        elif isinstance(part, dict) and set(part) == {"text"} and isinstance(part["text"], str):
            _check_fields(name, part["text"], origin, _FIELDS)
            parts.append(("text", part["text"]))
        else:
            raise RegistryError(
                f"{origin}: prompt {name!r} part {i} must be `audio` or `text: \"...\"`, "
                f"got {part!r}"
            )
    option = str(raw.get("option", "{letter}. {choice}\n"))
    _check_fields(name, option, origin, {"letter", "choice"})
    return PromptSpec(name=name, parts=tuple(parts), option=option,
                      task=raw.get("task"), source=raw.get("source"))



def prompts(extra: Path | None = None) -> dict[str, PromptSpec]:
    """All registered prompts (plus a user file's)."""
    return registered("prompts.yaml", _prompt, extra)


def prompt(name: str, extra: Path | None = None) -> PromptSpec:
    """The prompt called ``name``; RegistryError listing the known names otherwise."""
    return lookup("prompt", name, prompts(extra))


def _options(spec: PromptSpec, sample: Sample) -> str:
    choices = sample.meta.get("choices")
    if not choices:
        raise DataError(f"prompt {spec.name!r}: sample {sample.id} has no choices")
    if len(choices) > len(LETTERS):
        raise DataError(f"prompt {spec.name!r}: sample {sample.id} has {len(choices)} choices")
    return "".join(
        _fill(spec.option, {"letter": LETTERS[i], "choice": str(c)}) for i, c in enumerate(choices)
    )


def _fill(template: str, values: dict[str, str]) -> str:
    # One pass, so text inside a value (a question with "{options}" in it) stays literal.
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def render(name: str, sample: Sample, extra: Path | None = None) -> Parts:
    """The user turn of prompt ``name`` for ``sample``, as ``Request.prompt`` parts."""
    spec = prompt(name, extra)
    values: dict[str, str] = {}
    for kind, template in spec.parts:
        if kind != "text":
            continue
        needed = set(_PLACEHOLDER.findall(template))
        if "question" in needed and "question" not in values:
            question = sample.meta.get("question")
            if not isinstance(question, str):
                raise DataError(f"prompt {name!r}: sample {sample.id} has no question")
            values["question"] = question
        if "options" in needed and "options" not in values:
            values["options"] = _options(spec, sample)
    return tuple((kind, _fill(t, values) if kind == "text" else "") for kind, t in spec.parts)
