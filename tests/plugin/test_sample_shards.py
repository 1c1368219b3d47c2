"""Sample shards end to end with the real embedded model: one serial run of the shared
LibriSpeech slices against 4 `--shard K/N` runs merged by `audiogate report merge`.

The serial run is the session's shared decode of the slices (``decoded_slices``): it
decodes every clip with faster-whisper and fills a store; the shards run on a copy of that
store and reuse its outputs (the engine identity proves the weights), so both sides score
the same outputs and the comparison is about the split and the merge alone. The merged
report must equal the serial one to the last bit, except for what says how the outputs
were obtained (wall time, inferred / reused counts).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from decoded_slices import DecodedSlices

from audiogate.results.report import Row, table

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
CONFTEST = 'pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n'
SLICES = ("librispeech-test-clean", "librispeech-dev-clean", "librispeech-test-other")
N = 4
# How a run got its outputs, not what they are: summed over shards, not compared.
# How the outputs were obtained (and how long they took, where): not one run's in a merge.
PROVENANCE = ("wall_seconds", "inferred", "reused", "reused_from", "speed", "measured_on",
              "load_seconds")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, decoded_slices: DecodedSlices
         ) -> dict[str, Any]:
    """The serial run (the session's shared decode of the slices, its report copied to
    serial/), the 4 shard runs on a copy of its store and their outcomes."""
    root = tmp_path_factory.mktemp("shards")
    shutil.copytree(decoded_slices.report, root / "serial")
    (root / "conftest.py").write_text(CONFTEST)
    (root / "test_gated_asr.py").write_text((REPO / "benchmarks" / "test_asr.py").read_text())
    store = decoded_slices.copy_store(root / "store.sqlite")
    common = ["-k", " or ".join(SLICES), "--model=whisper-tiny.en",
              f"--data-root={decoded_slices.data_root}",
              f"--thresholds={REPO / 'thresholds.yaml'}", f"--store={store}",
              "-p", "no:cacheprovider", "-p", "no:randomly", "-q"]

    def pytest_run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "pytest", *common, *args], cwd=root,
                              capture_output=True, text=True, check=False,
                              env=_env())

    out: dict[str, Any] = {"root": root}
    out["shards"] = [pytest_run(f"--shard={k}/{N}", f"--report-dir=shard-{k}")
                     for k in range(1, N + 1)]
    return out


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(REPO / "src"),
                                         env.get("PYTHONPATH", "")])
    return env


def merge(root: Path, *inputs: str, output: str, thresholds: Path = REPO / "thresholds.yaml"
          ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audiogate.cli", "report", "merge",
                           *[str(root / i) for i in inputs], "-o", str(root / output),
                           f"--thresholds={thresholds}"],
                          capture_output=True, text=True, check=False, env=_env())


def report(folder: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / "audiogate-report.json").read_text())
    return data


def scored_rows(folder: Path) -> dict[str, dict[str, Any]]:
    return {r["result"]["dataset"]: r for r in report(folder)["rows"]
            if r["result"]["dataset"] in SLICES}


@pytest.mark.slow
def test_each_shard_runs_its_part_and_gates_nothing(runs: dict[str, Any]) -> None:
    root = runs["root"]
    serial = scored_rows(root / "serial")
    assert {d: r["status"] for d, r in serial.items()} == dict.fromkeys(SLICES, "pass")
    seen: dict[str, list[str]] = {d: [] for d in SLICES}
    for k, done in enumerate(runs["shards"], start=1):
        assert done.returncode == 0, done.stdout[-3000:]
        assert f"--shard {k}/{N}: a part of each pair's samples, nothing gated" in done.stdout
        data = report(root / f"shard-{k}")
        assert data["verdict"] == "not gated" and data["meta"]["shard"] == f"{k}/{N}"
        assert f"**--shard {k}/{N}: a part of each pair's samples; nothing was gated" in \
            (root / f"shard-{k}" / "audiogate-report.md").read_text()
        for dataset, row in scored_rows(root / f"shard-{k}").items():
            assert row["status"] == "measured"
            assert f"--shard {k}/{N}: {row['result']['score']['total']} sample(s)" in \
                row["reason"]
            shard = row["result"]["shard"]
            assert (shard["index"], shard["count"]) == (k, N)
            assert shard["total"] == serial[dataset]["result"]["score"]["total"]
            lines = (root / f"shard-{k}" / "samples" /
                     f"whisper-tiny.en__{dataset}.jsonl").read_text().splitlines()
            seen[dataset] += [json.loads(line)["id"] for line in lines]
            assert row["result"]["inferred"] == 0  # every output came from the serial run
    for dataset, ids in seen.items():  # disjoint, and together the whole pair
        full = [json.loads(line)["id"] for line in (
            root / "serial" / "samples" / f"whisper-tiny.en__{dataset}.jsonl"
        ).read_text().splitlines()]
        assert sorted(ids) == sorted(full)


@pytest.mark.slow
def test_merged_shards_equal_the_serial_run_to_the_bit(runs: dict[str, Any]) -> None:
    root = runs["root"]
    done = merge(root, *[f"shard-{k}" for k in range(1, N + 1)], output="merged")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("verdict: PASS")
    serial, merged = scored_rows(root / "serial"), scored_rows(root / "merged")
    assert set(merged) == set(SLICES)
    rows = [Row.from_json(serial[d]) for d in SLICES]
    assert table(rows, markdown=True) == table([Row.from_json(merged[d]) for d in SLICES],
                                               markdown=True)
    for dataset in SLICES:
        a, b = serial[dataset], merged[dataset]
        for key in PROVENANCE:
            a["result"].pop(key), b["result"].pop(key)
        assert b["result"]["shard"] is None
        assert a == b, dataset  # score, every protocol, interval, RTFx, status, reason
        name = f"whisper-tiny.en__{dataset}.jsonl"
        merged_lines, serial_lines = (
            [json.loads(line) for line in (root / folder / "samples" / name).read_text(
                encoding="utf-8").splitlines()] for folder in ("merged", "serial"))
        # the shards reused the serial run's stored outputs: their time is not theirs
        assert all(r.pop("timing") is None for r in merged_lines)
        assert all(r.pop("timing")["latency"] > 0 for r in serial_lines)
        assert merged_lines == serial_lines  # every other field, to the bit
    assert "paired test:" in merged["librispeech-test-other"]["reason"]  # the paired gate ran
    assert (root / "merged" / "audiogate-report.html").is_file()


@pytest.mark.slow
def test_a_missing_or_repeated_shard_fails_naming_the_samples(runs: dict[str, Any]) -> None:
    root = runs["root"]
    serial = {d: [json.loads(line)["id"] for line in (
        root / "serial" / "samples" / f"whisper-tiny.en__{d}.jsonl").read_text().splitlines()]
        for d in SLICES}
    in_four = json.loads((root / "shard-4" / "samples" /
                          "whisper-tiny.en__librispeech-test-other.jsonl"
                          ).read_text().splitlines()[0])["id"]
    assert in_four in serial["librispeech-test-other"]
    done = merge(root, "shard-1", "shard-2", "shard-3", output="three")
    assert done.returncode == 1
    assert "sample(s) in no shard:" in done.stdout and in_four in done.stdout
    assert "(shard(s) 4/4 not given)" in done.stdout
    assert report(root / "three")["verdict"] == "fail"
    twice = merge(root, "shard-1", "shard-2", "shard-3", "shard-4", "shard-4", output="twice")
    assert twice.returncode == 1
    assert "sample(s) in more than one shard:" in twice.stdout and in_four in twice.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["--shard=5/4"], "--shard 5/4: expected K/N with 1 <= K <= N"),
    (["--shard=1/2", "--update-thresholds"], "--shard runs a part of each pair, which is "
                                             "never recorded"),
])
def test_a_bad_shard_option_is_a_usage_error(pytester: pytest.Pytester,
                                            monkeypatch: pytest.MonkeyPatch,
                                            args: list[str], message: str) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_gated_asr=(REPO / "benchmarks" / "test_asr.py").read_text())
    result = pytester.runpytest(*args, "--no-store", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{message}*"])


def test_replayed_sample_shards_merge_into_the_serial_run(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, shared_data: Path) -> None:
    """The fast tier's sample-shard case: the replay engine (predictions given, no model) on
    the test-other slice, recorded then gated by a serial run; 3 `--shard K/3` runs merged
    by `audiogate report merge` give the serial run's row, samples and verdict."""
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.delenv("AUDIOGATE_DATA_ROOT", raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_gated_asr=(REPO / "benchmarks" / "test_asr.py").read_text())
    dataset = "librispeech-test-other"
    predictions = []
    for trans in sorted((shared_data / "LibriSpeech" / "test-other").glob("*/*/*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            utt, _, text = line.partition(" ")
            words = text.split()  # every fourth utterance loses its last word
            kept = words[:-1] if len(predictions) % 4 == 0 else words
            predictions.append(json.dumps({"id": utt, "prediction": " ".join(kept)}))
    preds = pytester.path / "preds.jsonl"
    preds.write_text("\n".join(predictions) + "\n", encoding="utf-8")
    common = ["-k", dataset, "--model=replay", f"--predictions={preds}",
              f"--data-root={shared_data}", "--no-store", "-p", "no:cacheprovider",
              "--bootstrap-resamples=1000"]
    pytester.runpytest(*common, "--update-thresholds", "--report-dir=recorded"
                       ).assert_outcomes(passed=1)
    pytester.runpytest(*common, "--report-dir=serial").assert_outcomes(passed=1)
    for k in (1, 2, 3):
        pytester.runpytest(*common, f"--shard={k}/3", f"--report-dir=shard-{k}"
                           ).assert_outcomes(passed=1)
    done = merge(pytester.path, "shard-1", "shard-2", "shard-3", output="merged",
                 thresholds=pytester.path / "thresholds.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("verdict: PASS")
    [serial] = report(pytester.path / "serial")["rows"]
    [merged] = report(pytester.path / "merged")["rows"]
    assert serial["status"] == merged["status"] == "pass"
    assert serial["result"]["score"]["total"] == 42 and serial["result"]["score"]["value"] > 0
    for key in PROVENANCE:
        serial["result"].pop(key), merged["result"].pop(key)
    assert merged["result"]["shard"] is None
    assert merged == serial
    name = f"replay__{dataset}.jsonl"
    assert (pytester.path / "merged" / "samples" / name).read_bytes() == \
        (pytester.path / "serial" / "samples" / name).read_bytes()
