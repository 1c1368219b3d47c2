"""Answer extraction: turn a model's raw reply into the text that gets scored.

Both rules reproduce UltraEval-Audio (OpenBMB/UltraEval-Audio), which produced the
reference table: ``after_think`` is ``StepAudioR1._extract_response``
(audio_evals/models/step_audio_r1.py) and ``json_content`` is ``ContentExtract``
(audio_evals/process/base.py, the ``json_content`` post-process of its ASR tasks).
They are generic: any reasoning model, any JSON-wrapped answer.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

THINK_CLOSE = "</think>"

# An opening fence with an optional info string (```json, ```JSON, ```), at the start.
_FENCE_OPEN = re.compile(r"\A```[A-Za-z0-9_+-]*")


def after_think(text: str) -> str:
    """The text after the LAST ``</think>`` (the whole text if none), stripped.

    A reasoning model's chain of thought mentions wrong options and half-transcripts;
    only its final answer may be scored.
    """
    return text.split(THINK_CLOSE)[-1].strip()


def strip_fences(text: str) -> str:
    """``text`` stripped, without a surrounding Markdown code fence (```json ... ```)."""
    body = text.strip()
    opened = _FENCE_OPEN.match(body)
    if opened is None:
        return body
    body = body[opened.end():]
    if body.endswith("```"):
        body = body[:-3]
    return body.strip()


def _parse(body: str) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        pass
    try:  # models sometimes answer with a Python literal: {'content': '...'}
        return ast.literal_eval(body)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def json_content(text: str, field: str = "content") -> str:
    """``field`` of the JSON object in ``text`` (e.g. Step-Audio's ``{"content": "..."}``).

    Fences are removed first. When the text is not a JSON object (or Python dict
    literal) holding ``field``, the fence-stripped text is returned unchanged: a model
    that ignored the format instruction is scored on what it said, as UltraEval-Audio does.
    """
    body = strip_fences(text)
    data = _parse(body)
    if isinstance(data, dict) and field in data:
        value = data[field]
        if value is None:
            return ""
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return body
