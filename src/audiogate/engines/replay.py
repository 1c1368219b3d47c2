"""The ``replay`` engine: serve recorded predictions instead of running a model.

It lets a run made elsewhere (a GPU box, UltraEval-Audio, a colleague's JSONL) be
re-scored and gated with exactly this project's scoring, and lets the gate itself be
tested without a model. Input (``--predictions``): JSON Lines, one object per line,
``{"id": "<sample id>", "prediction": "<raw model reply>"}`` (or ``"error": "..."``
instead of ``prediction`` to replay a failed request). Problems with the file never
stop the run: they are collected and reported by ``problems()``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audiogate.engines import EngineContext
from audiogate.errors import DataError, EngineError
from audiogate.registry.load import ModelSpec
from audiogate.samples import Output, Request

ALIASES = ("pred", "text", "output", "response", "model_prediction", "model_output")
SHOW = 5  # how many ids / lines a problem message lists


@dataclass
class _Entry:
    lines: list[int] = field(default_factory=list)
    values: list[tuple[str | None, str | None]] = field(default_factory=list)  # (text, error)


def _entry_value(obj: dict[str, Any]) -> tuple[str | None, str | None] | str:
    """(text, error) from one JSON object, or a message saying what is wrong with it."""
    if "prediction" in obj:
        if not isinstance(obj["prediction"], str):
            return f"'prediction' must be a string, got {type(obj['prediction']).__name__}"
        return obj["prediction"], None
    if isinstance(obj.get("error"), str):
        return None, obj["error"]
    aliases = [k for k in ALIASES if k in obj]
    if aliases:
        return f"no 'prediction' field (found {aliases[0]!r}: rename it to 'prediction')"
    return "no 'prediction' field"


class ReplayEngine:
    """Replays ``path``; see the module docstring for the file format."""

    needs_audio = False

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DataError(f"replay predictions {path}: cannot read ({exc})") from exc
        self._sha256 = hashlib.sha256(raw).hexdigest()
        self._entries: dict[str, _Entry] = {}
        self._bad: list[str] = []
        self._requested: set[str] = set()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"replay predictions {path}: not UTF-8 text ({exc})") from exc
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                self._add(number, line)

    def _add(self, number: int, line: str) -> None:
        where = f"{self.path}:{number}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            self._bad.append(f"{where}: not valid JSON ({exc.msg}, column {exc.colno})")
            return
        if not isinstance(obj, dict):
            self._bad.append(f"{where}: expected a JSON object, got {type(obj).__name__}")
            return
        if not isinstance(obj.get("id"), str | int) or isinstance(obj.get("id"), bool):
            self._bad.append(f"{where}: no string 'id'")
            return
        value = _entry_value(obj)
        if isinstance(value, str):
            self._bad.append(f"{where}: {value}")
            return
        entry = self._entries.setdefault(str(obj["id"]), _Entry())
        entry.lines.append(number)
        entry.values.append(value)

    def identity(self) -> dict[str, Any]:
        """The file's content hash: replaying another file invalidates stored results."""
        return {"engine": "replay", "predictions": self._sha256}

    def _output(self, sample_id: str) -> Output:
        entry = self._entries.get(sample_id)
        if entry is None:
            return Output(sample_id=sample_id, text=None, seconds=0.0,
                          error=f"no prediction for id {sample_id} in {self.path}")
        if len(set(entry.values)) > 1:
            lines = ", ".join(map(str, entry.lines))
            return Output(sample_id=sample_id, text=None, seconds=0.0,
                          error=f"conflicting predictions for id {sample_id} in {self.path} "
                                f"(lines {lines})")
        text, error = entry.values[0]
        return Output(sample_id=sample_id, text=text, seconds=0.0, error=error)

    def run(self, requests: Iterable[Request]) -> Iterator[Output]:
        """One Output per request: the recorded prediction, or an error naming what is missing."""
        for request in requests:
            self._requested.add(request.sample.id)
            yield self._output(request.sample.id)

    def problems(self, requested: Iterable[str] | None = None) -> list[str]:
        """Everything wrong with the file: bad lines, duplicate ids, ids never requested.

        Unknown ids are relative to ``requested`` (default: the requests this engine saw;
        a run whose pairs ran in several processes or came from the store passes the ids of
        every pair that ran).
        """
        asked = self._requested if requested is None else set(requested)
        found = list(self._bad)
        for sample_id, entry in self._entries.items():
            if len(entry.lines) > 1:
                same = "same" if len(set(entry.values)) == 1 else "conflicting"
                lines = ", ".join(map(str, entry.lines))
                found.append(f"{self.path}: duplicate id {sample_id} at lines {lines} "
                             f"({same} predictions)")
        unknown = [i for i in self._entries if i not in asked]
        if unknown:
            shown = ", ".join(unknown[:SHOW]) + (" ..." if len(unknown) > SHOW else "")
            found.append(f"{self.path}: {len(unknown)} prediction id(s) match no requested "
                         f"sample: {shown}")
        return found

    def close(self) -> None:
        """Nothing to release."""


def from_spec(spec: ModelSpec, ctx: EngineContext) -> ReplayEngine:
    """The replay engine over ``ctx.predictions``."""
    if ctx.predictions is None:
        raise EngineError(
            f"model {spec.name!r} (engine replay) needs a predictions file: pass "
            "--predictions FILE.jsonl (one {\"id\": ..., \"prediction\": ...} per line)"
        )
    return ReplayEngine(Path(ctx.predictions))
