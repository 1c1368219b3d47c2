"""Honest gates: no pair passes, and no run exits 0, on a measurement that did not happen.

Each case runs the real plugin (pytester, or a real subprocess) over a copy of the real
LibriSpeech test-clean slice. Most use the replay engine (predictions given, so a run takes
a second); the sample-set case and the served case run the real CPU model.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from decoded_slices import DecodedSlices

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
CONFTEST = 'pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n'
DATASET = "librispeech-test-clean"
SLICE = Path("LibriSpeech") / "test-clean"


def fingerprint(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted(ids)).encode("utf-8")).hexdigest()[:16]


class Project:
    """A throwaway project: benchmarks/, a copy of the slice, thresholds, predictions."""

    def __init__(self, pytester: pytest.Pytester, shared_data: Path) -> None:
        self.pytester = pytester
        self.path = pytester.path
        pytester.makeconftest(CONFTEST)
        (self.path / "benchmarks").mkdir()
        for name in ("asr", "mmau"):  # renamed: tests/datasets/test_mmau.py is loaded already
            shutil.copyfile(REPO / "benchmarks" / f"test_{name}.py",
                            self.path / "benchmarks" / f"test_gate_{name}.py")
        self.data = self.path / "data"
        shutil.copytree(shared_data / SLICE, self.data / SLICE)
        self.references = {}
        for trans in sorted((self.data / SLICE).glob("*/*/*.trans.txt")):
            for line in trans.read_text(encoding="utf-8").splitlines():
                utt, _, text = line.partition(" ")
                self.references[utt] = text
        self.ids = sorted(self.references)
        self.thresholds = self.path / "thresholds.yaml"
        self.predictions = self.path / "preds.jsonl"
        self.predict({})

    def predict(self, changed: dict[str, str | None]) -> None:
        """Predictions = the references, except ``changed`` (None: no prediction at all)."""
        lines = []
        for utt, text in self.references.items():
            value = changed.get(utt, text)
            if value is not None:
                lines.append(json.dumps({"id": utt, "prediction": value}))
        self.predictions.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def record(self, model: str, value: float, limit: float, *, ids: list[str] | None = None,
               extra: str = "") -> None:
        """An entry for ``model`` on the slice, with a baseline that lists its ids."""
        ids = ids or self.ids
        baseline = Path("baselines") / model / f"{DATASET}.jsonl"
        (self.path / baseline).parent.mkdir(parents=True, exist_ok=True)
        (self.path / baseline).write_text("".join(
            json.dumps({"id": i, "errors": 0, "ref_tokens": 5}) + "\n" for i in ids))
        self.thresholds.write_text(
            f"{model}:\n  {DATASET}:\n    - metric: wer\n      value: {value}\n"
            f"      max: {limit}\n      samples: {len(ids)}\n"
            f"      sample_set: {fingerprint(ids)}\n      baseline: {baseline}\n{extra}",
            encoding="utf-8")

    def args(self, model: str = "replay", *extra: str) -> list[str]:
        args = ["benchmarks", "-k", DATASET, f"--model={model}", f"--data-root={self.data}",
                f"--thresholds={self.thresholds}", "-p", "no:cacheprovider",
                f"--store={self.path / 'store.sqlite'}", *extra]
        if model == "replay":
            args.append(f"--predictions={self.predictions}")
        return args

    def run(self, model: str = "replay", *extra: str) -> pytest.RunResult:
        return self.pytester.runpytest(*self.args(model, *extra))

    def report(self, folder: str = "reports") -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.path / folder / "audiogate-report.json").read_text(encoding="utf-8"))
        return data


def replay_project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                   shared_data: Path) -> Project:
    """A Project whose runs (in this process or a subprocess) import this checkout."""
    monkeypatch.syspath_prepend(str(REPO))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p))
    monkeypatch.delenv("AUDIOGATE_DATA_ROOT", raising=False)
    return Project(pytester, shared_data)


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
            shared_data: Path) -> Project:
    return replay_project(pytester, monkeypatch, shared_data)


# -- 1. a gate that exists is never silently skipped ------------------------------------------

def _add_transcript_line(project: Project) -> str:
    trans = next((project.data / SLICE).glob("1089/134686/*.trans.txt"))
    with trans.open("a", encoding="utf-8") as f:
        f.write("1089-134686-0099 A LINE WHOSE AUDIO IS MISSING\n")
    return "1089-134686-0099"


def _add_audio_without_line(project: Project) -> str:
    folder = project.data / SLICE / "1089" / "134686"
    shutil.copyfile(folder / "1089-134686-0001.flac", folder / "1089-134686-0098.flac")
    return "1089-134686-0098"


def _duplicate_a_line(project: Project) -> str:
    trans = next((project.data / SLICE).glob("1089/134686/*.trans.txt"))
    first = trans.read_text(encoding="utf-8").splitlines()[0]
    with trans.open("a", encoding="utf-8") as f:
        f.write(first + "\n")
    return first.split()[0] + "#2"


@pytest.mark.parametrize("change", [_add_transcript_line, _add_audio_without_line,
                                    _duplicate_a_line],
                         ids=["transcript-line-without-audio", "audio-without-transcript",
                              "duplicated-id"])
def test_a_changed_sample_set_fails_and_says_what_changed(project: Project, change: Any
                                                          ) -> None:
    project.record("replay", 0.0, 1.0)
    project.run().assert_outcomes(passed=1)
    added = change(project)
    result = project.run()
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    pair = f"replay/{DATASET}"
    assert f"{pair}: thresholds.yaml gates this pair, but on another sample set" in out
    assert "1 id(s) added, 0 missing" in out and f"added: {added}" in out
    command = (f"`pytest benchmarks -k {pair} --model replay --data-root {project.data} "
               f"--thresholds {project.thresholds} --predictions {project.predictions} "
               "--update-thresholds`")
    assert command in out
    assert project.report()["verdict"] == "fail"


@pytest.mark.slow
def test_the_cpu_model_with_an_extra_transcript_line_fails(
        project: Project, decoded_slices: DecodedSlices) -> None:
    """The case as a user meets it: the embedded model, a slice grown by one line (its
    clips' outputs from the session's shared decode of the slices)."""
    decoded_slices.copy_store(project.path / "store.sqlite")
    project.record("whisper-tiny.en", 3.0, 50.0)
    added = _add_transcript_line(project)
    result = project.run("whisper-tiny.en")
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert "another sample set" in out and f"added: {added}" in out
    assert "NOT GATED" not in out


def test_no_gate_measures_without_gating_and_says_so(project: Project) -> None:
    project.record("replay", 0.0, 1.0, ids=project.ids[:3])  # another sample set
    result = project.run("replay", "--no-gate")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str()
    assert "--no-gate: nothing was gated this run (1 pair(s) measured only)" in out
    assert f"  MEASURED   {DATASET}  WER" in out
    report = project.report()
    assert report["rows"][0]["reason"] == "--no-gate: measured, not gated"
    assert report["verdict"] == "not gated" and report["meta"]["gated"] is False
    assert report["rows"][0]["status"] == "measured"
    md = (project.path / "reports" / "audiogate-report.md").read_text(encoding="utf-8")
    assert "--no-gate: nothing was gated in this run" in md


# -- 2. errors are never a pass ----------------------------------------------------------------

MISNAMED = """\
tiny-misnamed:
  engine: openai
  endpoint: transcriptions
  tasks: [asr]
  languages: [en]
  served_model_name: no-such-model
  launch: audiogate serve --model whisper-tiny.en --host {host} --port {port}
  launch_timeout: 300
  retry: {attempts: 0}
"""


@pytest.mark.slow
def test_a_served_model_with_a_wrong_name_fails_and_shows_the_servers_answer(
        project: Project) -> None:
    models = project.path / "models.yaml"
    models.write_text(MISNAMED, encoding="utf-8")
    project.record("replay", 0.0, 1.0)  # the file has entries, none for this model
    result = project.run("tiny-misnamed", f"--models-file={models}", "--no-store")
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert f"tiny-misnamed/{DATASET}: all 6 sample(s) errored" in out
    first = project.ids[0]
    assert f"{first}: HTTP 404 from http://127.0.0.1:" in out
    assert "The model `no-such-model` does not exist" in out
    assert f"{first}.flac" in out  # the summary names the file
    md = (project.path / "reports" / "audiogate-report.md").read_text(encoding="utf-8")
    assert md.startswith("# audiogate results — FAIL")


def test_a_not_gated_pair_with_errored_samples_is_an_error(project: Project) -> None:
    project.record("whisper-tiny.en", 3.0, 50.0)  # nothing for replay
    missing = project.ids[2]
    project.predict({missing: None})
    result = project.run()
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    out = result.stdout.str()
    assert f"replay/{DATASET}: ERROR — 1 of 6 sample(s) errored" in out
    assert out.count(f"{missing}: no prediction for id {missing}") == 1  # said once
    assert project.report()["rows"][0]["status"] == "error"
    assert project.report()["verdict"] == "fail"


# -- 3. excluded samples count against the gate -------------------------------------------------

def test_more_excluded_samples_than_recorded_fail_and_are_listed(project: Project) -> None:
    project.record("replay", 0.0, 1.0)  # recorded with no sample excluded
    looping = project.ids[1]
    project.predict({looping: "you " * 400})
    result = project.run()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "1 sample(s) excluded as abnormal (recorded with 0, allowed 0)" in out
    assert f"{looping} (" in out and "'you you you" in out
    row = project.report()["rows"][0]
    assert row["status"] == "fail" and row["result"]["score"]["excluded"] == 1
    assert row["result"]["score"]["value"] == 0.0  # the filtered score alone looked perfect

    project.record("replay", 0.0, 1.0, extra="      excluded: 1\n")  # recorded with one
    project.run().assert_outcomes(passed=1)


# -- 4. thresholds.yaml values are validated ---------------------------------------------------

@pytest.mark.parametrize(("value", "says"), [
    (".nan", "`max` must be a finite number, not nan"),
    (".inf", "`max` must be a finite number, not inf"),
    ("true", "`max` must be a number, not True"),
    ("-1", "`max` must be >= 0 for wer, not -1"),
])
def test_invalid_threshold_values_are_usage_errors(project: Project, value: str,
                                                   says: str) -> None:
    project.record("replay", 0.0, 1.0)
    text = project.thresholds.read_text(encoding="utf-8").replace("max: 1.0", f"max: {value}")
    project.thresholds.write_text(text, encoding="utf-8")
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"{project.thresholds}:5: replay/{DATASET}: {says}" in result.stderr.str()


def test_a_missing_or_empty_thresholds_file_is_a_usage_error(project: Project) -> None:
    result = project.run()  # --thresholds names a file that does not exist
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--thresholds {project.thresholds}: no such file" in result.stderr.str()
    project.thresholds.write_text("# nothing yet\n", encoding="utf-8")
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "the thresholds file has no entries" in result.stderr.str()


# -- 5. --update-thresholds never loosens a gate by accident -----------------------------------

def test_an_update_that_loosens_is_refused_unless_accepted(project: Project) -> None:
    project.record("replay", 0.0, 10.0)
    worse = {i: "entirely different words here" for i in project.ids[:1]}
    project.predict(worse)
    before = project.thresholds.read_text(encoding="utf-8")
    result = project.run("replay", "--update-thresholds")
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # asked to record, and it did not
    out = result.stdout.str()
    assert f"  loosened: replay/{DATASET} wer: 0.00 -> " in out
    assert "(max 10.00 -> " in out and "REFUSED" in out and "--accept-regression" in out
    assert project.thresholds.read_text(encoding="utf-8") == before

    result = project.run("replay", "--update-thresholds", "--accept-regression")
    assert result.ret == pytest.ExitCode.OK
    assert project.thresholds.read_text(encoding="utf-8") != before
    project.predict({})
    result = project.run("replay", "--update-thresholds")
    assert result.ret == pytest.ExitCode.OK
    assert f"  tightened: replay/{DATASET} wer: " in result.stdout.str()


# -- 6. reports and shard merges tell the truth ------------------------------------------------

def _merge(*inputs: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """The merge as a user runs it from the project (judged by its thresholds.yaml)."""
    return subprocess.run([sys.executable, "-m", "audiogate.cli", "report", "merge",
                           *map(str, inputs), "-o", str(output)], cwd=output.parent,
                          capture_output=True, text=True, check=False)


def test_a_pair_that_failed_before_scoring_is_in_the_report_and_fails_the_merge(
        project: Project) -> None:
    project.record("replay", 0.0, 1.0)
    with project.thresholds.open("a", encoding="utf-8") as f:  # dev-clean: gated, no data
        f.write("  librispeech-dev-clean:\n    - metric: wer\n      value: 5.0\n"
                "      max: 6.0\n      samples: 35\n")
    project.run("replay", "--report-dir=good").assert_outcomes(passed=1)
    args = [a if a != DATASET else "librispeech-dev-clean" for a in project.args()]
    result = project.pytester.runpytest(*args, "--report-dir=bad")
    result.assert_outcomes(failed=1)
    (row,) = project.report("bad")["rows"]
    assert row["status"] == "fail" and "gated but its data is missing" in row["reason"]
    merged = _merge(project.path / "good", project.path / "bad", output=project.path / "all")
    assert merged.returncode == 1, merged.stdout
    assert merged.stdout.splitlines()[-1].startswith("verdict: FAIL (2 pairs from 2 reports; "
                                                     "pairs: 1 pass · 1 fail · 0 error")


def test_a_rerun_owns_its_report_folder(project: Project) -> None:
    project.record("replay", 0.0, 1.0)
    project.run().assert_outcomes(passed=1)
    stale = project.path / "reports" / "samples" / "replay__librispeech-dev-clean.jsonl"
    stale.write_text("{}\n", encoding="utf-8")
    project.predict({i: "wrong words entirely" for i in project.ids})
    project.run().assert_outcomes(failed=1)
    assert project.report()["verdict"] == "fail"  # not the earlier PASS
    assert not stale.exists()  # nothing this run did not write is left behind


def test_merge_refuses_missing_foreign_and_duplicated_inputs(project: Project) -> None:
    project.record("replay", 0.0, 1.0)
    project.run().assert_outcomes(passed=1)
    reports = project.path / "reports"
    missing = _merge(reports, project.path / "nowhere", output=project.path / "m1")
    assert missing.returncode == 1 and "no audiogate report there" in missing.stderr
    foreign = project.path / "foreign.json"
    foreign.write_text('{"hello": 1}', encoding="utf-8")
    bad = _merge(reports, foreign, output=project.path / "m2")
    assert bad.returncode == 1 and "not an audiogate report" in bad.stderr
    twice = _merge(reports, reports, output=project.path / "m3")
    assert twice.returncode == 1 and "appears in both" in twice.stderr
    alone = _merge(reports, output=project.path / "m4")
    assert alone.returncode == 0
    assert alone.stdout.splitlines()[-1] == (
        "verdict: PASS (1 pairs from 1 reports; pairs: 1 pass · 0 fail · 0 error · "
        "0 not gated · 0 skipped)")


# -- 7. the "record it" hint is complete -------------------------------------------------------

SERVED = """\
tiny-on-my-server:
  engine: openai
  endpoint: transcriptions
  tasks: [asr]
  languages: [en]
  served_model_name: whisper-tiny.en
"""


@pytest.mark.slow
def test_the_record_hint_carries_every_selecting_option_and_records_when_pasted(
        project: Project, tmp_path: Path) -> None:
    manifest = project.path / "manifest.jsonl"
    manifest.write_text("".join(
        json.dumps({"id": p.stem, "audio": str(p),
                    "reference": project.references[p.stem]}) + "\n"
        for p in sorted((project.data / SLICE).glob("*/*/*.flac"))), encoding="utf-8")
    datasets = project.path / "datasets.yaml"
    datasets.write_text(f"my-calls:\n  task: asr\n  language: en\n  loader: manifest\n"
                        f"  path: {manifest}\n  metric: wer\n  abnormal_limit: 1000\n")
    models = project.path / "models.yaml"
    models.write_text(SERVED, encoding="utf-8")
    project.record("replay", 0.0, 1.0)  # entries exist, none for this pair
    server = subprocess.Popen([sys.executable, "-m", "audiogate.cli", "serve", "--model",
                               "whisper-tiny.en", "--port", "0"], stdout=subprocess.PIPE,
                              text=True, start_new_session=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().split()[2]
        args = ["benchmarks", "-k", "my-calls", "--model=tiny-on-my-server",
                f"--models-file={models}", f"--datasets-file={datasets}",
                f"--engine-url={url}", f"--data-root={project.data}",
                f"--thresholds={project.thresholds}", "--no-store", "-p", "no:cacheprovider"]
        result = project.pytester.runpytest_subprocess(*args, timeout=600)
        result.assert_outcomes(passed=1)
        assert "NOT GATED tiny-on-my-server/my-calls: no recorded threshold" in \
            result.stdout.str()
        command = project.report()["rows"][0]["reason"]
        command = command.split("record it with `", 1)[1].split("`", 1)[0]
        for option in (f"--models-file {models}", f"--datasets-file {datasets}",
                       f"--engine-url {url}", f"--data-root {project.data}",
                       f"--thresholds {project.thresholds}"):
            assert option in command
        pasted = subprocess.run([sys.executable, "-m", *command.split()[:1],
                                 *command.split()[1:], "--no-store", "-p", "no:cacheprovider"],
                                cwd=project.path, capture_output=True, text=True, check=False,
                                timeout=600)
        assert pasted.returncode == 0, pasted.stdout[-2000:]
        assert "tiny-on-my-server" in project.thresholds.read_text(encoding="utf-8")
        again = project.pytester.runpytest_subprocess(*args, timeout=600)
        again.assert_outcomes(passed=1)
        assert "  PASS       my-calls  WER" in again.stdout.str()
    finally:
        server.terminate()
        server.wait(timeout=30)
