"""PairRun's own bookkeeping: every sample of the pair ends with an outcome."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from audiogate.registry.load import dataset, model
from audiogate.results.store import Store
from audiogate.runner import PairRun
from audiogate.samples import Output, Request


class StopsTaking:
    """An engine that answers its first ``answered`` requests, then stops drawing more
    (as a broken engine, or one whose server went away, might)."""

    needs_audio = False

    def __init__(self, answered: int) -> None:
        self.answered = answered

    def identity(self) -> dict[str, Any]:
        return {"engine": "stops-taking"}

    def run(self, requests: Iterable[Request]) -> Iterator[Output]:
        for i, request in enumerate(requests):
            if i == self.answered:
                return
            yield Output(request.sample.id, request.sample.reference, 0.0)

    def close(self) -> None:
        pass


def test_samples_an_engine_never_drew_are_not_sent_and_the_rerun_sends_them(
        shared_data: Path, tmp_path: Path) -> None:
    spec, split = model("whisper-tiny.en"), dataset("librispeech-test-other")
    store = Store.open(tmp_path / "store.sqlite")
    first, records = PairRun(spec, split, StopsTaking(10), shared_data, store=store).run()
    assert (first.inferred, first.score.errors, store.count()) == (10, 32, 10)
    errors = [r.error for r in records if r.error is not None]
    assert errors.count("engine returned no output for this sample") == 1  # drawn, dropped
    assert errors.count("the engine stopped taking samples before this one was sent") == 31
    assert "31 sample(s) not sent: the engine stopped taking samples" in "\n".join(first.notes)

    again, _ = PairRun(spec, split, StopsTaking(42), shared_data, store=store).run()
    store.close()
    assert (again.inferred, again.reused, again.score.errors) == (32, 10, 0)
