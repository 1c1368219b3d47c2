"""The end-of-run summary as a user reads it in a terminal, from real runs of the plugin.

One project gates four pairs of a model with a long, real-looking name (the replay engine
re-scores given predictions of the shipped LibriSpeech test-clean slice, so a run takes
seconds): one passes, one fails its tightened limit (with a paired gate that finds no
regression), one has no threshold, one has no data. The summary must fit 120 columns
(even in a 200-column terminal), say the HTML report first, explain its columns, print
each failure once, give skip reasons, and use one word for a pair without a gate.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
SLICE = Path("LibriSpeech") / "test-clean"
MODEL = "replay-of-the-release-candidate-2026-01-18-int8-greedy"
PASSING = "librispeech-test-clean"
FAILING = "librispeech-test-clean-candidate-with-tightened-gate"
NEW = "librispeech-test-clean-new-split-nothing-recorded-yet"
SKIPPED = "librispeech-dev-other"  # registered; the shipped data has no dev-other
SELECT = "test-clean or dev-other"
WIDTH = 120


@dataclass
class Project:
    path: Path
    data: Path

    def run(self, *args: str, select: str = SELECT,
            thresholds: Path | None = None, on_ci: bool = False
            ) -> subprocess.CompletedProcess[str]:
        """pytest in a subprocess, in a 200-column terminal, as a user runs it (on a CI
        service when ``on_ci``: pytest then prints short summary lines untruncated)."""
        env = {**os.environ, "COLUMNS": "200", "PYTHONPATH": os.pathsep.join(
            p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)}
        for name in ("AUDIOGATE_DATA_ROOT", "CI", "BUILD_NUMBER"):
            env.pop(name, None)
        if on_ci:
            env["CI"] = "true"
        return subprocess.run(
            [sys.executable, "-m", "pytest", "benchmarks", "-p", "no:cacheprovider",
             "-p", "no:randomly", "-k", select, f"--model={MODEL}",
             "--models-file=models.yaml", "--datasets-file=datasets.yaml",
             f"--data-root={self.data}", "--predictions=preds.jsonl", "--store=store.sqlite",
             f"--thresholds={thresholds or self.path / 'thresholds.yaml'}", *args],
            cwd=self.path, env=env, capture_output=True, text=True, timeout=600, check=False)

    def report(self, folder: str = "reports") -> dict[str, Any]:
        data: dict[str, Any] = json.loads(
            (self.path / folder / "audiogate-report.json").read_text(encoding="utf-8"))
        return data

    def row(self, dataset: str, folder: str = "reports") -> dict[str, Any]:
        found = [r for r in self.report(folder)["rows"] if r["result"]["dataset"] == dataset]
        assert len(found) == 1, found
        return found[0]


def section(stdout: str) -> list[str]:
    """The lines of the "audiogate results" section (between its header and the next)."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if re.fullmatch(r"=+ audiogate results =+", line))
    end = next((i for i in range(start + 1, len(lines)) if re.fullmatch(r"=+( .* =+)?",
                                                                         lines[i])), len(lines))
    return lines[start + 1:end]


def flat(lines: list[str]) -> str:
    """The lines as one text, however they were wrapped."""
    return " ".join(" ".join(lines).split())


def _project(root: Path, shared_data: Path) -> Project:
    (root / "conftest.py").write_text('pytest_plugins = ["audiogate.plugin", '
                                      '"fixtures.gate"]\n', encoding="utf-8")
    (root / "benchmarks").mkdir()
    shutil.copyfile(REPO / "benchmarks" / "test_asr.py", root / "benchmarks" / "test_gate.py")
    data = root / "data"
    shutil.copytree(shared_data / SLICE, data / SLICE)
    (root / "models.yaml").write_text(
        f"{MODEL}:\n  engine: replay\n  tasks: [asr]\n  languages: [en]\n", encoding="utf-8")
    (root / "datasets.yaml").write_text("".join(
        f"{name}:\n  task: asr\n  language: en\n  loader: librispeech\n  path: {SLICE}\n"
        "  metric: wer\n  abnormal_limit: 1000\n  groups: [speaker, chapter]\n"
        for name in (FAILING, NEW)), encoding="utf-8")
    lines = []
    for n, trans in enumerate(sorted((data / SLICE).glob("*/*/*.trans.txt"))):
        for k, line in enumerate(trans.read_text(encoding="utf-8").splitlines()):
            utt, _, text = line.partition(" ")
            if k == 0:  # a real error in a few utterances: a score above zero
                text = text.replace(" ", f" WRONG{n} ", 1)
            lines.append(json.dumps({"id": utt, "prediction": text}))
    (root / "preds.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Project(root, data)


@dataclass
class GateRun:
    project: Project
    result: subprocess.CompletedProcess[str]

    @property
    def out(self) -> str:
        return self.result.stdout

    @property
    def summary(self) -> list[str]:
        return section(self.result.stdout)


@pytest.fixture(scope="module")
def gate_run(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> GateRun:
    project = _project(tmp_path_factory.mktemp("terminal"), shared_data)
    thresholds = project.path / "thresholds.yaml"
    thresholds.write_text("# recorded by the terminal test\n", encoding="utf-8")
    first = project.run("--update-thresholds", "--report-dir=reports/record",
                        select="test-clean and not nothing-recorded")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    yaml = YAML()
    entries = yaml.load(thresholds.read_text(encoding="utf-8"))
    tight = entries[MODEL][FAILING][0]
    assert tight["value"] > 1.0, tight  # the edits made a real score to tighten below
    tight["value"], tight["max"] = 0.5, 1.0
    tight["gate"], tight["margin"] = ["limit", "paired"], 0.5
    with thresholds.open("w", encoding="utf-8") as f:
        yaml.dump(entries, f)
    result = project.run("--junitxml=junit.xml")
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    return GateRun(project, result)


def test_the_outcomes_are_one_pass_one_fail_one_not_gated_one_skip(gate_run: GateRun) -> None:
    assert "2 passed" in gate_run.out and "1 failed" in gate_run.out
    assert "1 skipped" in gate_run.out
    statuses = {r["result"]["dataset"]: r["status"] for r in gate_run.project.report()["rows"]}
    assert statuses == {PASSING: "pass", FAILING: "fail", NEW: "not gated",
                        SKIPPED: "skipped"}


def test_every_summary_line_fits_120_columns_with_long_names(gate_run: GateRun) -> None:
    lines = gate_run.summary
    too_wide = [line for line in lines if len(line) > WIDTH]
    assert not too_wide, "\n".join(too_wide)
    shown = "\n".join(lines)
    for name in (MODEL, PASSING, FAILING, NEW, SKIPPED):  # every name whole, never cut
        assert name in shown


def test_the_html_report_comes_first_and_a_legend_explains_the_columns(gate_run: GateRun
                                                                       ) -> None:
    lines = gate_run.summary
    html = gate_run.project.path / "reports" / "audiogate-report.html"
    assert lines[0] == f"report: {html}"
    legend = [line for line in lines if "95% CI" in line and "Δ" in line
              and "recorded" in line and "score" in line]
    assert len(legend) == 1
    assert "performance" not in "\n".join(lines)  # the wide table is behind -v


def test_each_failure_is_printed_once(gate_run: GateRun) -> None:
    reason = gate_run.project.row(FAILING)["reason"]
    first = reason.splitlines()[0]
    assert first.startswith("regressed: WER")
    assert gate_run.out.count("regressed: WER") == 1, gate_run.out
    assert "FAILURES" in gate_run.out  # pytest's own section carries the detail


@pytest.mark.parametrize("args", [("-q",), ("-vv",)], ids=["quiet", "very-verbose"])
def test_on_a_ci_service_each_failure_is_still_printed_once(gate_run: GateRun,
                                                            args: tuple[str, ...]) -> None:
    folder = f"--report-dir=reports/ci-{args[0].strip('-')}"
    result = gate_run.project.run(*args, folder, on_ci=True)
    assert result.returncode == 1
    assert result.stdout.count("regressed: WER") == 1, result.stdout
    summary = result.stdout.split("short test summary info")[1]
    assert f"{MODEL}/{FAILING}: FAIL, why is in the audiogate results" in summary


def test_the_paired_verdict_cannot_read_as_a_pass(gate_run: GateRun) -> None:
    reason = gate_run.project.row(FAILING)["reason"]
    assert "paired test" in reason and "not worse by > 0.50" in reason
    assert "pass" not in reason.lower()  # the pair FAILS; no part of its reason says pass
    assert "→" not in reason


def test_skipped_pairs_say_why(gate_run: GateRun) -> None:
    text = flat(gate_run.summary)
    assert f"SKIPPED {MODEL}/{SKIPPED}: not gated, and its data is missing" in text
    assert f"{gate_run.project.data / 'LibriSpeech' / 'dev-other'}" in text


def test_one_word_for_a_pair_without_a_gate(gate_run: GateRun) -> None:
    project = gate_run.project
    assert "UNGATED" not in gate_run.out.upper().replace("NOT GATED", "")
    assert any(line.startswith("NOT GATED") and NEW in line for line in gate_run.summary)
    assert project.row(NEW)["status"] == "not gated"
    markdown = (project.path / "reports" / "audiogate-report.md").read_text(encoding="utf-8")
    assert "UNGATED" not in markdown and f"**{MODEL}/{NEW}**: NOT GATED" in markdown
    html = (project.path / "reports" / "audiogate-report.html").read_text(encoding="utf-8")
    assert "ungated" not in html.lower()
    props = {p.get("name"): p.get("value")
             for case in ET.parse(project.path / "junit.xml").iter("testcase")
             if NEW in case.get("name", "") for p in case.iter("property")}
    assert props["audiogate.status"] == "not gated"


def test_no_benchmark_banner_on_a_gate_run(gate_run: GateRun) -> None:
    assert not [line for line in gate_run.out.splitlines() if line.startswith("benchmark:")]


def test_verbose_shows_the_wide_table_with_its_legend(gate_run: GateRun) -> None:
    result = gate_run.project.run("-v", "--report-dir=reports/verbose")
    lines = section(result.stdout)
    head = next(line for line in lines if line.startswith("task "))
    for column in ("performance", "delta", "RTFx", "other protocols"):
        assert column in head
    legend = flat(lines[lines.index(head) + 1:])
    assert "performance: the score" in legend and "RTFx: seconds of audio" in legend
    assert result.stdout.count("regressed: WER") == 1


def test_with_tracebacks_off_the_summary_carries_each_failure(gate_run: GateRun) -> None:
    result = gate_run.project.run("--tb=no", "--report-dir=reports/tb-no")
    assert "FAILURES" not in result.stdout
    lines = section(result.stdout)
    assert flat(lines).count(f"FAIL {MODEL}/{FAILING}: regressed: WER") == 1
    assert not [line for line in result.stdout.splitlines()
                if "regressed" in line and line not in lines]
    assert all(len(line) <= WIDTH for line in lines)


# -- where baselines are found, and every reason of a failure ---------------------------------

def test_a_copied_thresholds_file_without_its_baselines_lists_every_reason(gate_run: GateRun
                                                                          ) -> None:
    project = gate_run.project
    elsewhere = project.path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    copied = elsewhere / "thresholds.yaml"
    shutil.copyfile(project.path / "thresholds.yaml", copied)
    result = project.run("--report-dir=reports/copied", thresholds=copied, select=FAILING)
    assert result.returncode == 1, result.stdout[-3000:]
    reason = project.row(FAILING, "reports/copied")["reason"]
    missing = elsewhere / "baselines" / MODEL / f"{FAILING}.jsonl"
    assert reason.startswith("regressed: WER")  # the limit's verdict is not hidden
    assert f"{missing}: baseline file not found" in reason
    assert "relative to the folder of the thresholds file" in reason  # the rule, said
    assert result.stdout.count("baseline file not found") == 1


def test_an_unreadable_baseline_lists_every_reason(gate_run: GateRun) -> None:
    project = gate_run.project
    damaged = project.path / "damaged"
    (damaged / "baselines" / MODEL).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(project.path / "thresholds.yaml", damaged / "thresholds.yaml")
    (damaged / "baselines" / MODEL / f"{FAILING}.jsonl").write_text("{not json\n",
                                                                    encoding="utf-8")
    result = project.run("--report-dir=reports/damaged", select=FAILING,
                         thresholds=damaged / "thresholds.yaml")
    assert result.returncode == 1, result.stdout[-3000:]
    reason = project.row(FAILING, "reports/damaged")["reason"]
    assert reason.startswith("regressed: WER") and "bad baseline line" in reason


# -- pytest-benchmark's banner where a test uses its fixture ---------------------------------

def test_the_benchmark_banner_stays_where_a_test_uses_the_fixture(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO))
    pytester.makeconftest('pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n')
    pytester.makepyfile(test_speed="def test_sum(benchmark):\n"
                                   "    assert benchmark(sum, range(100)) == 4950\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--benchmark-disable")
    result.assert_outcomes(passed=1)
    assert [line for line in result.outlines if line.startswith("benchmark: ")]
