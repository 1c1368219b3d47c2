"""The engine interface every backend implements."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from audiogate.samples import Output, Request


class Engine(Protocol):
    """One engine instance serves a whole run (shared by all pairs of a model).

    ``needs_audio`` is False for engines that never look at audio (replay).
    ``identity()`` returns everything that determines the output for a given request
    (model name and weights, engine settings, sampling parameters); the store keys
    finished samples on it, so a change there invalidates exactly the affected entries.
    ``run`` may yield outputs in any order (concurrent engines), one per request.
    """

    needs_audio: bool

    def identity(self) -> dict[str, Any]: ...

    def run(self, requests: Iterable[Request]) -> Iterator[Output]: ...

    def close(self) -> None: ...
