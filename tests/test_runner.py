"""PairRun's own bookkeeping: every sample of the pair ends with an outcome."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from audiogate.registry.load import dataset, model
from audiogate.results.store import Store
from audiogate.runner import PairRun, RunOptions
from audiogate.samples import Output, Request
from audiogate.scoring import protocol
from audiogate.scoring.pair import normalizer_versions


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


class Edits:
    """Answers every sample with its reference lower-cased, its second word dropped."""

    needs_audio = False

    def identity(self) -> dict[str, Any]:
        return {"engine": "edits"}

    def run(self, requests: Iterable[Request]) -> Iterator[Output]:
        for request in requests:
            words = request.sample.reference.lower().split()
            yield Output(request.sample.id, " ".join(words[:1] + words[2:]), 0.0)

    def close(self) -> None:
        pass


def test_a_text_is_normalized_once_until_its_normalizer_changes(
        shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store keeps each text's normalized form under its normalizer's version: a rerun
    normalizes nothing and scores the same records; a changed normalizer (its code or a
    library it calls) has a new version, so nothing cached before is used."""
    calls: list[str] = []
    for name, build in list(protocol.NORMALIZERS.items()):
        def counted(spec: Any, build: Any = build) -> Any:
            normalize = build(spec)
            return lambda text: (calls.append(text), normalize(text))[1]
        monkeypatch.setitem(protocol.NORMALIZERS, name, counted)
    spec, split = model("whisper-tiny.en"), dataset("librispeech-test-other")
    store = Store.open(tmp_path / "store.sqlite")
    first, records = PairRun(spec, split, Edits(), shared_data, store=store).run()
    assert calls and first.score.value is not None and first.score.value > 0
    versions = normalizer_versions(split)
    assert len(versions) >= 2  # UltraEval-Audio's and the Open ASR Leaderboard's
    references = {r.reference for r in records}
    assert {t for (_, t) in store.normalized(versions, references)} == references

    calls.clear()
    again, same = PairRun(spec, split, Edits(), shared_data, store=store,
                          options=RunOptions(rerun=True)).run()
    assert calls == []  # every text's form came from the store
    assert [r.to_json() for r in same] == [r.to_json() for r in records]
    assert again.score == first.score

    # a cached form is used as it is: a changed one shows (only a new version avoids it)
    target = records[0]
    conn = sqlite3.connect(tmp_path / "store.sqlite")
    with conn:
        conn.execute("UPDATE normalized SET normalized = 'changed words' WHERE text = ?",
                     (target.reference,))
    conn.close()
    _, cached = PairRun(spec, split, Edits(), shared_data, store=store).run()
    assert cached[0].normalized_reference == "changed words"

    real = protocol.metadata.version
    monkeypatch.setattr(protocol.metadata, "version", lambda name: "99" if name ==
                        "whisper-normalizer" else real(name))
    protocol._code_version.cache_clear()
    try:
        assert not versions & normalizer_versions(split)
        calls.clear()
        _, fresh = PairRun(spec, split, Edits(), shared_data, store=store).run()
    finally:
        monkeypatch.undo()
        protocol._code_version.cache_clear()
    store.close()
    assert len(calls) >= 2 * len(records)  # everything normalized again
    assert [r.to_json() for r in fresh] == [r.to_json() for r in records]
