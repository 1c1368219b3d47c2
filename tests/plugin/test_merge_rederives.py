"""`audiogate report merge` believes only what it can re-derive.

Each case runs the real plugin over a copy of the real LibriSpeech test-clean slice with
replayed predictions (one utterance wrong, so the pair fails its recorded max), edits what a
tamperer would edit in the report folder, and merges it with the real command: the merge
re-scores every sample from its texts, re-derives every verdict with the gate's own code,
names what disagrees, and never takes an unfinished run's folder for a result.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pair_reports import META
from test_honest_gates import CONFTEST, DATASET, Project, replay_project

from audiogate.datasets import ignore_missing_audio, load_dataset
from audiogate.gate.paired import interval, per_sample
from audiogate.registry import load as registry
from audiogate.results.report import Row, samples_path, write_samples
from audiogate.results.writers import write_reports
from audiogate.samples import sample_set_fingerprint, shard_of
from audiogate.scoring.pair import Outcome, score
from audiogate.scoring.pair_result import PairResult

pytest_plugins = ["pytester"]

BAD = "1089-134686-0000"  # in shard 1 of 2
WRONG = "entirely different words said here instead"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
            shared_data: Path) -> Project:
    """The replay project of the honest-gate tests (a copy of the test-clean slice)."""
    return replay_project(pytester, monkeypatch, shared_data)


def merge(project: Project, *folders: str, output: str = "merged",
          extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audiogate.cli", "report", "merge",
                           *[str(project.path / f) for f in folders],
                           "-o", str(project.path / output),
                           f"--thresholds={project.thresholds}", *extra],
                          capture_output=True, text=True, check=False)


def failing_run(project: Project, *extra: str, folder: str = "run") -> None:
    """A gated pair (max 1.0) whose replay gets one utterance wrong: it FAILS."""
    project.record("replay", 0.0, 1.0)
    project.predict({BAD: WRONG})
    project.run("replay", f"--report-dir={folder}", *extra)


def edit_json(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def edit_sample(path: Path, sample_id: str, change: Callable[[dict[str, Any]], None]) -> None:
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for line in lines:
        if line["id"] == sample_id:
            change(line)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def samples_file(project: Project, folder: str) -> Path:
    return project.path / folder / "samples" / f"replay__{DATASET}.jsonl"


# -- a report edited to pass --------------------------------------------------------------------

def test_a_failing_report_edited_to_pass_fails_the_merge(project: Project) -> None:
    failing_run(project)
    report = project.path / "run" / "audiogate-report.json"
    (row,) = json.loads(report.read_text(encoding="utf-8"))["rows"]
    assert row["status"] == "fail" and "regressed: WER" in row["reason"]

    def to_pass(data: dict[str, Any]) -> None:
        data["rows"][0]["status"] = "pass"
        data["verdict"] = "pass"
    edit_json(report, to_pass)
    done = merge(project, "run")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{report}: pair replay/{DATASET}: stored status PASS, re-derived FAIL" in \
        done.stdout
    assert done.stdout.splitlines()[-1].startswith("verdict: FAIL")
    merged = json.loads((project.path / "merged" / "audiogate-report.json").read_text())
    assert merged["verdict"] == "fail" and merged["rows"][0]["status"] == "fail"


# -- counts zeroed in a shard's per-sample file -------------------------------------------------

def test_zeroed_counts_in_a_shards_records_fail_the_merge(project: Project) -> None:
    assert shard_of(BAD, 2) == 1
    failing_run(project, "--shard=1/2", folder="s1")
    project.run("replay", "--shard=2/2", "--report-dir=s2")
    honest = merge(project, "s1", "s2")
    assert honest.returncode == 1 and "regressed: WER" in honest.stdout
    records = samples_file(project, "s1")
    errors = next(int(r["substitutions"]) + int(r["deletions"]) + int(r["insertions"])
                  for r in map(json.loads, records.read_text(encoding="utf-8").splitlines())
                  if r["id"] == BAD)
    assert errors > 0

    def zero(line: dict[str, Any]) -> None:
        line["substitutions"] = line["insertions"] = line["deletions"] = 0
    edit_sample(records, BAD, zero)
    done = merge(project, "s1", "s2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{records}: sample {BAD}: stored 0 errors, re-scored {errors}" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("verdict: FAIL")


# -- whatever else a tamperer could edit --------------------------------------------------------

def _report_status(data: dict[str, Any]) -> None:
    row = data["rows"][0]
    row["status"], row["threshold"], row["limit"] = "pass", "max 99.00", 99.0


def _report_value(data: dict[str, Any]) -> None:
    row = data["rows"][0]
    row["status"] = "pass"
    row["result"]["score"]["value"] = 0.0
    row["result"]["score"]["protocols"]["ultraeval-audio"]["value"] = 0.0


def _report_sample_set(data: dict[str, Any]) -> None:
    data["rows"][0]["result"]["sample_set"] = "0123456789abcdef"


def _report_protocol(data: dict[str, Any]) -> None:
    data["rows"][0]["result"]["score"]["protocol"] = "open-asr"


def _report_metric(data: dict[str, Any]) -> None:
    row = data["rows"][0]
    row["result"]["metric"] = row["result"]["score"]["metric"] = "answered"
    row["status"] = "ungated"


def _report_errors(data: dict[str, Any]) -> None:
    row = data["rows"][0]
    row["result"]["score"]["errors"] = 0
    row["result"]["error_samples"] = []


def _report_resamples(data: dict[str, Any]) -> None:
    data["rows"][0]["result"]["interval"]["n_resamples"] = 1  # the paired gate's resamples


def _report_not_gated(data: dict[str, Any]) -> None:
    data["meta"]["gated"] = False
    data["rows"][0]["status"] = "measured"


def _texts_agree(line: dict[str, Any]) -> None:
    line["normalized_hypothesis"] = line["normalized_reference"]
    line["substitutions"] = line["insertions"] = line["deletions"] = 0
    line["score"] = 0.0


def _excluded(line: dict[str, Any]) -> None:
    line["excluded"] = True


def _answer(line: dict[str, Any]) -> None:
    line["answer"] = line["reference"]


REPORT_EDITS = {
    "status-and-threshold": (_report_status, "stored status PASS, re-derived FAIL"),
    "value": (_report_value, "stored WER 0.00, re-scored 26.42"),
    "sample-set": (_report_sample_set, "stored sample set 0123456789abcdef, re-derived "),
    "protocol": (_report_protocol, "stored protocol 'open-asr', re-scored under "
                                   "'ultraeval-audio'"),
    "metric": (_report_metric, "stored metric 'answered', re-derived 'wer'"),
    "errors": (_report_errors, "stored errors 0, re-scored 1"),
    "not-gated": (_report_not_gated, "regressed: WER"),
    "resamples": (_report_resamples, "stored 95 % interval [0.00, 68.29] (1 resamples), "
                                     "re-derived ["),
}
SAMPLE_EDITS = {
    "normalized-texts": (_texts_agree, f"sample {BAD}: stored normalized hypothesis"),
    "excluded": (_excluded, f"sample {BAD}: stored excluded, re-scored not excluded"),
    "answer": (_answer, f"sample {BAD}: stored answer "),
}


@pytest.mark.parametrize("name", sorted(REPORT_EDITS))
def test_an_edited_report_field_cannot_make_a_pass(project: Project, name: str) -> None:
    change, says = REPORT_EDITS[name]
    failing_run(project)
    if name == "errors":  # a run with an errored sample, allowed by its entry
        project.record("replay", 0.0, 50.0, extra="      max_errors: 1\n")
        project.predict({BAD: WRONG, project.ids[3]: None})
        project.run("replay", "--report-dir=run")
    edit_json(project.path / "run" / "audiogate-report.json", change)
    done = merge(project, "run")
    assert done.returncode == 1, done.stdout + done.stderr
    assert says in done.stdout, done.stdout
    assert done.stdout.splitlines()[-1].startswith("verdict: FAIL")


@pytest.mark.parametrize("name", sorted(SAMPLE_EDITS))
def test_an_edited_record_cannot_make_a_pass(project: Project, name: str) -> None:
    change, says = SAMPLE_EDITS[name]
    failing_run(project)
    records = samples_file(project, "run")
    edit_sample(records, BAD, change)
    done = merge(project, "run")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{records}: {says}" in done.stdout, done.stdout
    assert done.stdout.splitlines()[-1].startswith("verdict: FAIL")


def test_an_untouched_run_merges_to_its_own_verdict(project: Project) -> None:
    project.record("replay", 0.0, 1.0)
    project.run("replay", "--report-dir=run").assert_outcomes(passed=1)
    done = merge(project, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("verdict: PASS")
    merged = project.path / "merged" / "samples" / f"replay__{DATASET}.jsonl"
    assert merged.read_bytes() == samples_file(project, "run").read_bytes()


# -- a run that did not finish leaves nothing a merge takes -------------------------------------

STOP = """

def pytest_runtest_{when}({arg}):
    raise {error}
"""


def _bad_thresholds(project: Project) -> list[str]:
    bad = project.path / "bad.yaml"
    bad.write_text("replay: [not, a, mapping\n", encoding="utf-8")
    return [f"--thresholds={bad}"]


def _usage_error(project: Project) -> list[str]:
    return ["--no-gate", "--update-thresholds"]


def _plugin(when: str, error: str, arg: str = "item") -> Callable[[Project], list[str]]:
    def args(project: Project) -> list[str]:
        with (project.path / "conftest.py").open("a", encoding="utf-8") as f:
            f.write(STOP.format(when=when, error=error, arg=arg))
        return []
    return args


ENDINGS = {
    "exit-4-bad-thresholds": (_bad_thresholds, pytest.ExitCode.USAGE_ERROR),
    "exit-4-usage-error": (_usage_error, pytest.ExitCode.USAGE_ERROR),
    "ctrl-c-before-scoring": (_plugin("setup", "KeyboardInterrupt"),
                              pytest.ExitCode.INTERRUPTED),
    "ctrl-c-after-scoring": (_plugin("teardown", "KeyboardInterrupt"),
                             pytest.ExitCode.INTERRUPTED),
    "crash": (_plugin("logreport", "RuntimeError('boom')", "report"),
              pytest.ExitCode.INTERNAL_ERROR),
}


@pytest.mark.parametrize("ending", sorted(ENDINGS))
def test_a_shard_that_did_not_finish_leaves_nothing_to_merge(project: Project,
                                                             ending: str) -> None:
    make_args, code = ENDINGS[ending]
    project.record("replay", 0.0, 1.0)
    for k in (1, 2):
        project.run("replay", f"--shard={k}/2", f"--report-dir=s{k}")
    assert merge(project, "s1", "s2").returncode == 0  # the earlier run passes
    # its own process: a Ctrl-C inside an in-process run would stop this session too
    result = project.pytester.runpytest_subprocess(
        *project.args("replay", "--shard=2/2", "--report-dir=s2", *make_args(project)))
    assert result.ret == code, result.stdout.str() + result.stderr.str()
    done = merge(project, "s1", "s2")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"{project.path / 's2'}: the run that writes this folder did not finish" in \
        done.stderr
    assert done.stdout.splitlines()[-1] == "verdict: FAIL (the inputs could not be merged)"
    # the next run that finishes owns the folder again
    (project.path / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    project.run("replay", "--shard=2/2", "--report-dir=s2")
    assert merge(project, "s1", "s2").returncode == 0


# -- --require-gate covers whole pairs ---------------------------------------------------------

@pytest.mark.parametrize("extra", [(), ("--no-gate",)], ids=["ungated", "measured"])
def test_require_gate_fails_a_whole_pair_that_is_not_gated(project: Project,
                                                           extra: tuple[str, ...]) -> None:
    project.record("whisper-tiny.en", 3.0, 50.0)  # nothing recorded for replay
    project.run("replay", "--report-dir=run", *extra).assert_outcomes(passed=1)
    assert merge(project, "run").returncode == 0
    done = merge(project, "run", extra=("--require-gate",))
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"replay/{DATASET}: FAIL — --require-gate: no recorded threshold" in done.stdout
    assert done.stdout.splitlines()[-1].startswith("verdict: FAIL")


def test_a_skipped_pair_fails_the_merge_where_a_live_run_must_run_it(project: Project
                                                                      ) -> None:
    project.record("replay", 0.0, 1.0)  # gates test-clean only; dev-clean has no data here
    args = [a if a != DATASET else "librispeech-dev-clean"
            for a in project.args("replay", "--report-dir=run")]
    project.pytester.runpytest(*args).assert_outcomes(skipped=1)
    assert merge(project, "run").returncode == 0  # not gated: it may be skipped
    done = merge(project, "run", extra=("--require-gate",))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "replay/librispeech-dev-clean: FAIL — replay/librispeech-dev-clean was skipped (" \
        in done.stdout
    assert "but --require-gate: a gated pair never passes by not running" in done.stdout
    with project.thresholds.open("a", encoding="utf-8") as f:  # now the file gates it
        f.write("  librispeech-dev-clean:\n    - metric: wer\n      value: 5.0\n"
                "      max: 6.0\n      samples: 35\n")
    done = merge(project, "run")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"but {project.thresholds} gates it: a gated pair never passes" in done.stdout


def test_a_lenient_mmau_report_merges_only_under_the_lenient_rule(tmp_path: Path,
                                                                  shared_data: Path) -> None:
    """Bare option letters: right under --mmau-lenient, wrong under the official rule."""
    spec = registry.dataset("mmau-test-mini")
    samples = [s for s in ignore_missing_audio(load_dataset(spec, shared_data))
               if s.reference in s.meta["choices"]][:20]
    outcomes = [Outcome(s.id, s.reference, None, letter, letter, None, meta=dict(s.meta))
                for s in samples
                for letter in ["ABCDEFGH"[s.meta["choices"].index(s.reference)]]]
    summary, records = score(spec, outcomes, lenient=True)
    assert summary.value == 100.0 and summary.breakdown["rule"] == "lenient"
    result = PairResult("replay", spec.name, spec.task, spec.language, spec.metric, summary,
                        sample_set_fingerprint(s.id for s in samples), 0.0, 0.0, 0.0,
                        len(samples), 0, {"engine": "replay"}, answer_rules={},
                        interval=interval(per_sample(records, "acc"), "acc", n_resamples=200))
    folder = tmp_path / "run"
    write_samples(records, samples_path(folder, "replay", spec.name))
    write_reports([Row(result, "measured", "--no-gate: measured, not gated")], folder,
                  {**META, "gated": False})

    def merged(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "audiogate.cli", "report", "merge",
                               str(folder), "-o", str(tmp_path / "merged"), "--no-gate",
                               *extra], capture_output=True, text=True, check=False)
    official = merged()
    assert official.returncode == 1, official.stdout + official.stderr
    assert "scored with the lenient MMAU rule; the merge scores the official rule (pass " \
           "--mmau-lenient to merge a lenient run)" in official.stdout
    assert "stored ACC 100.00, re-scored 0.00" in official.stdout
    lenient = merged("--mmau-lenient")
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert lenient.stdout.splitlines()[-1].startswith("verdict: NOT GATED (1 pairs")
