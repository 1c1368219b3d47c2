"""engine: python (your own code behind the store, identity and gate) and engine kinds from
other packages (the audiogate.engines entry-point group), on the real test-clean slice.

The factories are real modules written to tmp and imported from there; the plugin is a
real installed distribution (a dist-info folder with entry_points.txt on the path, as pip
writes it), found by importlib.metadata in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from audiogate.engines import EngineContext, make_engine
from audiogate.errors import RegistryError
from audiogate.registry import load as registry
from audiogate.runner import PairRun

FACTORIES = '''
import numpy as np

CALLS = []


def words(audio, sample_rate):
    """A 'model' whose text depends on the audio: one word per started second."""
    return " ".join(["the"] * (1 + len(audio) // sample_rate))


def plain(**kwargs):
    def transcribe(audio, sample_rate):
        CALLS.append(len(audio))
        if len(audio) < 3 * sample_rate:
            raise ValueError(f"clip of {len(audio)} samples is too short for this model")
        return words(audio, sample_rate)
    return transcribe


def batched(**kwargs):
    def transcribe(audios, sample_rate):
        CALLS.append([len(a) for a in audios])
        return [words(a, sample_rate) for a in audios]
    return transcribe


def answering(**kwargs):
    def answer(audio, sample_rate, prompt):
        return prompt.upper()
    return answer


class Model:
    def __init__(self, checkpoint, size):
        self.checkpoint, self.size = checkpoint, size

    def transcribe(self, audio, sample_rate):
        return "x" * self.size

    def identity(self):
        return {"decoder": "greedy"}


def with_identity(checkpoint, size=1):
    return Model(checkpoint, size)


class Broken:
    """A full Engine whose run fails after its first answer."""
    needs_audio = True

    def identity(self):
        return {"engine": "broken"}

    def run(self, requests):
        from audiogate.samples import Output
        for i, request in enumerate(requests):
            if i == 1:
                raise RuntimeError("the GPU fell off")
            yield Output(request.sample.id, "fine", 0.25)  # its own seconds, no timing

    def close(self):
        pass


def engine(**kwargs):
    return Broken()


def fails(**kwargs):
    raise OSError("checkpoint is corrupt")


def returns_none(**kwargs):
    return None
'''


@pytest.fixture(scope="module")
def factories(tmp_path_factory: pytest.TempPathFactory) -> str:
    folder = tmp_path_factory.mktemp("code")
    (folder / "my_factories.py").write_text(FACTORIES, encoding="utf-8")
    sys.path.insert(0, str(folder))
    return "my_factories"


def entry(tmp_path: Path, body: str, name: str = "mine") -> registry.ModelSpec:
    path = tmp_path / f"models-{name}.yaml"
    path.write_text(f"{name}:\n  engine: python\n" + textwrap.indent(body, "  "),
                    encoding="utf-8")
    return registry.models(path)[name]


def run(spec: registry.ModelSpec, shared_data: Path, dataset: str = "librispeech-test-clean"
        ) -> tuple[Any, list[Any], Any]:
    engine = make_engine(spec, EngineContext())
    result, records = PairRun(spec, registry.dataset(dataset), engine, shared_data).run()
    return result, records, engine


def test_a_plain_function_is_gated_and_its_errors_are_per_sample(
        factories: str, tmp_path: Path, shared_data: Path) -> None:
    """The 2.3 s clip makes the function raise: that sample fails with the function's own
    message, the five others are scored."""
    spec = entry(tmp_path, f"factory: {factories}:plain\n")
    result, records, _ = run(spec, shared_data)
    failed = {r.id: r.error for r in records if r.error}
    assert list(failed) == ["1089-134691-0000"]
    assert "ValueError: clip of" in failed["1089-134691-0000"]
    assert "too short for this model" in failed["1089-134691-0000"]
    assert result.score.scored == 5 and result.score.errors == 1
    assert all(r.raw_output.startswith("the") for r in records if not r.error)
    # each call timed as a decode of one sample; the factory's call is the load time
    assert result.load_seconds is not None and result.load_seconds >= 0
    for r in records:
        if r.error:
            assert r.timing is None
        else:
            assert r.timing["method"] == "decode" and r.timing["batch"] == 1
            assert r.timing["latency"] == r.seconds > 0 and r.timing["in_flight"] == 1


def test_batches_are_lists_sorted_by_length_and_answered_in_order(
        factories: str, tmp_path: Path, shared_data: Path) -> None:
    import my_factories  # type: ignore[import-not-found]

    my_factories.CALLS.clear()
    spec = entry(tmp_path, f"factory: {factories}:batched\nbatch_size: 4\n")
    _, records, engine = run(spec, shared_data)
    assert [len(c) for c in my_factories.CALLS] == [4, 2]
    assert all(c == sorted(c, reverse=True) for c in my_factories.CALLS)
    ids = [r.id for r in records]
    assert ids == sorted(ids)  # sample order, not length order
    assert [r.raw_output.count("the") for r in records] == \
        [1 + round(r.audio_seconds * 16000) // 16000 for r in records]
    assert engine.identity()["batch_size"] == 4
    # a batch's time divided by its size, as the Open ASR Leaderboard divides it
    shares = {}
    for r in records:
        assert r.timing["method"] == "batch share" and r.timing["latency"] > 0
        shares.setdefault(r.timing["batch"], set()).add(r.timing["latency"])
    assert sorted(shares) == [2, 4] and all(len(v) == 1 for v in shares.values())


def test_an_answer_function_gets_the_prompt_text(factories: str, tmp_path: Path,
                                                 shared_data: Path) -> None:
    spec = entry(tmp_path, f"factory: {factories}:answering\nprompts: {{asr: step_audio_asr}}\n")
    _, records, _ = run(spec, shared_data)
    assert {r.raw_output for r in records} == \
        {'LISTEN THE AUDIO, OUTPUT THE AUDIO CONTENT WITH FORMAT {"CONTENT": ""}'}


def test_identity_holds_factory_kwargs_user_fields_and_checkpoint_content(
        factories: str, tmp_path: Path) -> None:
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "weights.bin").write_bytes(b"\x01" * 64)
    (checkpoint / "sub").mkdir()
    (checkpoint / "sub" / "head.bin").write_bytes(b"\x02" * 8)
    body = (f"factory: {factories}:with_identity\ncheckpoint: {checkpoint}\n"
            "kwargs: {size: 3}\nidentity: {version: '1.0'}\n")
    first = make_engine(entry(tmp_path, body), EngineContext()).identity()
    assert first["engine"] == "python" and first["engine_api"] == 1
    assert first["factory"] == f"{factories}:with_identity"
    assert first["kwargs"] == {"size": 3} and first["identity"] == {"version": "1.0"}
    assert set(first["checkpoint"]) == {"weights.bin", "sub/head.bin"}
    assert first["inner"] == {"object": {"decoder": "greedy"}}
    (checkpoint / "sub" / "head.bin").write_bytes(b"\x03" * 8)  # retrained: same size
    second = make_engine(entry(tmp_path, body), EngineContext()).identity()
    assert second["checkpoint"]["sub/head.bin"] != first["checkpoint"]["sub/head.bin"]
    assert second["checkpoint"]["weights.bin"] == first["checkpoint"]["weights.bin"]
    bumped = make_engine(entry(tmp_path, body.replace("'1.0'", "'1.1'")),
                         EngineContext()).identity()
    assert bumped["identity"] == {"version": "1.1"}


def test_an_engine_whose_run_raises_fails_the_rest_by_name(factories: str, tmp_path: Path,
                                                           shared_data: Path) -> None:
    spec = entry(tmp_path, f"factory: {factories}:engine\n")
    result, records, engine = run(spec, shared_data)
    assert engine.identity()["inner"] == {"engine": "broken"}
    assert records[0].raw_output == "fine"
    assert records[0].timing == {"latency": 0.25, "method": "reported", "batch": 1,
                                 "windows": 1, "rtfx": records[0].timing["rtfx"]}
    assert records[1].timing is None  # failed: nothing to time
    errors = [r.error for r in records[1:]]
    assert all("RuntimeError: the GPU fell off" in e for e in errors)
    assert result.score.errors == 5


@pytest.mark.parametrize(("body", "message"), [
    ("factory: nowhere_at_all:load\n", "cannot import 'nowhere_at_all'"),
    ("factory: my_factories\n", "factory must be `package.module:function`"),
    ("factory: my_factories:missing\n", "has no callable 'missing'"),
    ("factory: my_factories:fails\n", "factory my_factories:fails failed: OSError: "
                                      "checkpoint is corrupt"),
    ("factory: my_factories:returns_none\n", "neither an Engine nor callable"),
    ("factory: my_factories:plain\nbatchsize: 4\n", "unknown key 'batchsize' (did you mean "
                                                    "'batch_size'?)"),
    ("factory: my_factories:plain\nbatch_size: 0\n", "`batch_size` must be a whole number"),
    ("factory: my_factories:plain\ncheckpoint: /no/such/ckpt\n",
     "checkpoint /no/such/ckpt: no such file or folder"),
])
def test_bad_entries_say_what_is_wrong(factories: str, tmp_path: Path, body: str,
                                       message: str) -> None:
    with pytest.raises(RegistryError) as caught:
        make_engine(entry(tmp_path, body), EngineContext())
    assert message in str(caught.value)


PLUGIN = '''
from audiogate.samples import Output


class Echo:
    needs_audio = True

    def __init__(self, word):
        self.word = word

    def identity(self):
        return {"engine": "echo", "word": self.word}

    def run(self, requests):
        for request in requests:
            yield Output(request.sample.id, self.word, 0.0)

    def close(self):
        pass


def from_spec(spec, ctx):
    return Echo(spec.options["word"])
'''

USE_PLUGIN = """
import json, sys
from pathlib import Path
from audiogate.engines import EngineContext, make_engine
from audiogate.errors import RegistryError
from audiogate.registry.load import dataset, models
from audiogate.runner import PairRun
spec = models(Path(sys.argv[1]))["echoed"]
engine = make_engine(spec, EngineContext())
result, records = PairRun(spec, dataset("librispeech-test-clean"), engine,
                          Path(sys.argv[2])).run()
try:
    models(Path(sys.argv[3]))
except RegistryError as exc:
    error = str(exc)
print(json.dumps({"identity": engine.identity(), "texts": [r.raw_output for r in records],
                  "error": error, "load_seconds": result.load_seconds}))
"""


def test_a_package_adds_an_engine_kind_through_its_entry_point(tmp_path: Path,
                                                               shared_data: Path) -> None:
    site = tmp_path / "site"
    (site / "echo_engine").mkdir(parents=True)
    (site / "echo_engine" / "__init__.py").write_text(PLUGIN, encoding="utf-8")
    info = site / "echo_engine-2.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: echo-engine\n"
                                   "Version: 2.1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[audiogate.engines]\necho = echo_engine\n",
                                           encoding="utf-8")
    models = tmp_path / "models.yaml"
    models.write_text("echoed:\n  engine: echo\n  word: hello\n", encoding="utf-8")
    typo = tmp_path / "typo.yaml"
    typo.write_text("unknown:\n  engine: ech0\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", USE_PLUGIN, str(models), str(shared_data),
                           str(typo)],
                          env={**_environ(), "PYTHONPATH": str(site)}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["texts"] == ["hello"] * 6
    assert found["load_seconds"] >= 0  # how long from_spec took: the plugin's load time
    assert found["identity"]["word"] == "hello"
    assert found["identity"]["plugin"] == {"kind": "echo", "object": "echo_engine",
                                           "distribution": "echo-engine", "version": "2.1.0"}
    # the registry knows the plugin's kind, so a typo of it is caught when the file loads
    assert found["error"] == (f"{typo}:2: model 'unknown': unknown engine 'ech0' (did you mean "
                              "'echo'?); known: echo, openai, python, replay, transformers, "
                              "tts-cpu, vllm, whisper-cpu")


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)
