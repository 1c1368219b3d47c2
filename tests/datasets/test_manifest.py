"""A user's own data as a JSONL manifest: one registry entry (in --datasets-file), no code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiogate.datasets import load_dataset
from audiogate.registry.load import datasets

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]


def clips(shared_data: Path) -> list[tuple[str, Path, str]]:
    """(id, flac, reference) of the real test-clean slice."""
    out = []
    for trans in sorted((shared_data / "LibriSpeech" / "test-clean").glob("*/*/*.trans.txt")):
        for line in trans.read_text().splitlines():
            utt, _, text = line.partition(" ")
            out.append((utt, trans.parent / f"{utt}.flac", text))
    return out


def registry_file(tmp_path: Path, manifest: Path) -> Path:
    path = tmp_path / "my-datasets.yaml"
    path.write_text(f"my-calls:\n  task: asr\n  language: en\n  loader: manifest\n"
                    f"  path: {manifest}\n  metric: wer\n  abnormal_limit: 1000\n")
    return path


def test_manifest_lines_and_their_problems(tmp_path: Path, shared_data: Path) -> None:
    (a, flac_a, ref_a), (b, flac_b, ref_b) = clips(shared_data)[:2]
    manifest = tmp_path / "calls" / "manifest.jsonl"
    manifest.parent.mkdir()
    (manifest.parent / "local.flac").write_bytes(flac_b.read_bytes())  # relative path
    manifest.write_text("\n".join([
        json.dumps({"id": a, "audio": str(flac_a), "reference": ref_a, "speaker": "s1"}),
        json.dumps({"id": b, "audio": "local.flac", "text": ref_b}),
        "{not json",
        json.dumps({"id": "no-audio", "reference": "hello"}),
        json.dumps({"id": "no-ref", "audio": str(flac_a)}),
        json.dumps({"id": a, "audio": str(flac_a), "reference": ref_a}),
    ]) + "\n")
    spec = datasets(registry_file(tmp_path, manifest))["my-calls"]
    samples = {s.id: s for s in load_dataset(spec, tmp_path / "unused-root")}
    assert samples[a].error is None and samples[a].meta == {"speaker": "s1"}
    assert samples[b].audio_path == manifest.parent / "local.flac"
    assert samples[b].reference == ref_b and samples[b].error is None
    errors = sorted(s.error for s in samples.values() if s.error)
    assert errors == sorted([
        f"{manifest}:3: not JSON (Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1))",
        f"{manifest}:4: no 'audio' field",
        f"{manifest}:5: no 'reference' text",
        f"{manifest}:6: duplicate id '{a}' (first at line 1)",
    ])


@pytest.mark.slow
def test_manifest_dataset_is_gated_like_a_registered_one(pytester: pytest.Pytester,
                                                         shared_data: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    manifest = pytester.path / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps({"id": i, "audio": str(p), "reference": r})
                                  for i, p, r in clips(shared_data)) + "\n")
    registry = registry_file(pytester.path, manifest)
    pytester.makeconftest('pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n')
    pytester.makepyfile(test_gated_asr=(REPO / "benchmarks" / "test_asr.py").read_text())
    # the second run gates the outputs the first stored: one decode of the clips
    args = ["-k", "my-calls", f"--datasets-file={registry}",
            f"--store={pytester.path / 'store.sqlite'}", "-p", "no:cacheprovider",
            "--bootstrap-resamples=200"]
    pytester.runpytest(*args, "--update-thresholds").assert_outcomes(passed=1)
    assert "my-calls:" in (pytester.path / "thresholds.yaml").read_text()
    report = json.loads((pytester.path / "reports" / "audiogate-report.json").read_text())
    [row] = report["rows"]
    # the same clips as the registered slice: the same WER as librispeech-test-clean
    assert row["result"]["score"]["total"] == 6
    assert round(row["result"]["score"]["value"], 2) == 2.83
    result = pytester.runpytest(*args, "--require-gate")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["whisper-tiny.en *", "  PASS       my-calls  *"])


def test_an_audio_path_that_is_no_file_errors_that_sample_and_the_others_are_scored(
        tmp_path: Path, shared_data: Path) -> None:
    """A manifest line whose audio is a directory, another whose audio is a named pipe
    (opening it would block): those samples error, named; the rest is transcribed."""
    import os

    from audiogate.engines import EngineContext, make_engine
    from audiogate.registry.load import model
    from audiogate.runner import PairRun

    (a, flac_a, ref_a), (b, flac_b, ref_b) = clips(shared_data)[:2]
    folder = tmp_path / "calls" / "a-folder.flac"
    folder.mkdir(parents=True)
    pipe = tmp_path / "calls" / "b-pipe.flac"
    os.mkfifo(pipe)
    manifest = tmp_path / "calls" / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(row) for row in [
        {"id": a, "audio": str(flac_a), "reference": ref_a},
        {"id": b, "audio": str(flac_b), "reference": ref_b},
        {"id": "a-folder", "audio": "a-folder.flac", "reference": "never read"},
        {"id": "b-pipe", "audio": "b-pipe.flac", "reference": "never read"},
    ]) + "\n")
    spec = datasets(registry_file(tmp_path, manifest))["my-calls"]
    whisper = model("whisper-tiny.en")
    engine = make_engine(whisper, EngineContext())
    try:
        result, records = PairRun(whisper, spec, engine, tmp_path).run()
    finally:
        engine.close()
    by_id = {r.id: r for r in records}
    assert by_id["a-folder"].error == f"{folder}: a directory, not an audio file"
    assert by_id["b-pipe"].error == f"{pipe}: a named pipe, not an audio file"
    assert (by_id[a].error, by_id[b].error) == (None, None)
    assert (result.score.total, result.score.errors, result.inferred) == (4, 2, 2)
    assert dict(result.error_samples) == {"a-folder": by_id["a-folder"].error,
                                          "b-pipe": by_id["b-pipe"].error}


@pytest.mark.parametrize("kind", ["directory", "named pipe"])
def test_a_manifest_that_is_no_file_is_named_never_read(tmp_path: Path, kind: str) -> None:
    """The manifest itself a directory or a named pipe: one DataError naming it, at once
    (reading a pipe would wait for a writer forever)."""
    import os
    import threading

    from audiogate.errors import DataError

    root = tmp_path / "calls"
    root.mkdir()
    manifest = root / "manifest.jsonl"
    if kind == "directory":
        manifest.mkdir()
    else:
        os.mkfifo(manifest)
    spec = datasets(registry_file(tmp_path, root))["my-calls"]
    raised: list[BaseException] = []

    def load() -> None:
        try:
            load_dataset(spec, tmp_path)
        except BaseException as exc:  # the thread reports what it got
            raised.append(exc)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout=60)
    if thread.is_alive():  # a reader blocked on the pipe: let it go before failing
        os.close(os.open(manifest, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail(f"reading a manifest that is a {kind} blocked")
    [error] = raised
    assert isinstance(error, DataError)
    assert str(error) == f"{manifest}: a {kind}, not a text file"


def test_an_unreadable_manifest_fails_its_pair_with_one_line(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    root = pytester.path / "calls"
    (root / "manifest.jsonl").mkdir(parents=True)
    registry = registry_file(pytester.path, root)
    pytester.makeconftest('pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n')
    pytester.makepyfile(test_gated_asr=(REPO / "benchmarks" / "test_asr.py").read_text())
    result = pytester.runpytest("-k", "my-calls", f"--datasets-file={registry}", "--no-store",
                                "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "Traceback" not in out and "raise " not in out, out
    result.stdout.fnmatch_lines([f"whisper-tiny.en/my-calls: {root / 'manifest.jsonl'}: "
                                 "a directory, not a text file"])
