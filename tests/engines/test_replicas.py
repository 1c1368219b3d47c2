"""Several replicas behind one model: two real `audiogate serve` processes (whisper-tiny.en
on CPU), one of them SIGKILLed mid-pair. The pair still completes, with the same outputs
and the same score as on one replica; the dead replica is dropped with one message."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from audiogate.datasets import load_dataset_with_notes
from audiogate.engines import EngineContext, make_engine
from audiogate.registry import load as registry
from audiogate.runner import PairRun
from audiogate.samples import Sample
from audiogate.scoring.pair_result import PairResult

MODEL = "whisper-tiny.en-served"
DATASET = "librispeech-test-other"
CLIPS = 10  # the first 10 of the shared slice's 42: enough to kill a replica mid-pair
KILL_AFTER = 2  # answers the second replica gives before it is killed


class Served:
    """`audiogate serve --port 0` in its own process group; counts the answers it logs."""

    def __init__(self, served_name: str = "whisper-tiny.en") -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "audiogate.cli", "serve", "--model", "whisper-tiny.en",
             "--served-model-name", served_name, "--port", "0"],
            stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening on" in line, line
        self.url = line.split("listening on ", 1)[1].split()[0]
        self.answers = 0
        self.kill_after: int | None = None
        self.killed = threading.Event()
        threading.Thread(target=self._follow, daemon=True).start()

    def _follow(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if '"POST ' in line:
                self.answers += 1
                if self.kill_after is not None and self.answers >= self.kill_after:
                    self.kill()

    def kill(self) -> None:
        if not self.killed.is_set():
            self.killed.set()
            os.killpg(self.proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)


@pytest.fixture
def two() -> Iterator[tuple[Served, Served]]:
    servers = (Served(), Served())
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def samples(shared_data: Path) -> list[Sample]:
    loaded, _ = load_dataset_with_notes(registry.datasets()[DATASET], shared_data)
    return loaded[:CLIPS]


def run_pair(urls: tuple[str, ...], samples: list[Sample], data: Path
             ) -> tuple[PairResult, dict[str, str | None]]:
    spec = registry.model(MODEL)
    engine = make_engine(spec, EngineContext(engine_url=urls[0], engine_urls=urls,
                                             timeout=120))
    try:
        result, records = PairRun(spec, registry.datasets()[DATASET], engine, data).run(
            samples=list(samples), notes=[])
    finally:
        engine.close()
    return result, {r.id: r.raw_output for r in records}


@pytest.mark.slow
def test_a_replica_killed_mid_pair_is_dropped_and_the_pair_completes_unchanged(
        two: tuple[Served, Served], samples: list[Sample], shared_data: Path,
        capfd: pytest.CaptureFixture[str]) -> None:
    first, second = two
    alone, alone_texts = run_pair((first.url,), samples, shared_data)
    assert alone.score.errors == 0 and alone.dispatch.get("replicas") is None

    second.kill_after = second.answers + KILL_AFTER
    both, both_texts = run_pair((first.url, second.url), samples, shared_data)
    assert second.killed.is_set(), "the second replica was never killed"

    assert both.score.errors == 0 and both.score.value == alone.score.value
    assert both_texts == alone_texts
    shares = {r["url"]: r for r in both.dispatch["replicas"]}
    assert shares[second.url]["down"] and not shares[first.url]["down"]
    assert shares[second.url]["sent"] >= KILL_AFTER
    assert shares[first.url]["sent"] > CLIPS - shares[second.url]["sent"] - 1
    dropped = [n for n in both.notes if n.startswith("replica dropped")]
    assert len(dropped) == 1 and second.url in dropped[0]
    err = capfd.readouterr().err
    assert err.count("dropped,") == 1 and f"server at {second.url} is down" in err


def test_replicas_of_different_models_are_refused() -> None:
    """A replica listing another model (here: the same weights under another name)."""
    from audiogate.engines.dispatch import same_models
    from audiogate.errors import UsageError

    servers = (Served(), Served("another"))
    try:
        urls = tuple(s.url for s in servers)
        with pytest.raises(UsageError, match="do not serve the same model"):
            same_models(urls)
        with pytest.raises(UsageError, match="do not serve the same model"):
            make_engine(registry.model(MODEL), EngineContext(engine_urls=urls))
    finally:
        for server in servers:
            server.stop()
