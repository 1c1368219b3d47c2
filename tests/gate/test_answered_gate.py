"""`metric: answered`: a model whose text means nothing (random weights) is gated on every
sample getting a non-empty answer, and that gate fails when one does not. End to end
through the plugin with the replay engine (the same scoring and gate any engine gets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiogate.gate.thresholds import default_limit
from audiogate.registry.load import models

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
MODELS = "replay-answered:\n  engine: replay\n  tasks: [asr]\n  languages: [en]\n" \
         "  metric: answered\n"


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.syspath_prepend(str(REPO))
    pytester.makeconftest('pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n')
    pytester.makepyfile(test_gated_asr=(REPO / "benchmarks" / "test_asr.py").read_text())
    (pytester.path / "models.yaml").write_text(MODELS)
    return pytester


def predictions(shared_data: Path, path: Path, empty: int = 0, missing: int = 0) -> None:
    """Nonsense for every test-clean utterance; the first `empty` get "", and the last
    `missing` get no line at all (an errored sample)."""
    ids = [line.split(" ", 1)[0]
           for trans in sorted((shared_data / "LibriSpeech/test-clean").glob("*/*/*.trans.txt"))
           for line in trans.read_text().splitlines()]
    kept = ids[:len(ids) - missing]
    path.write_text("".join(json.dumps({"id": i, "prediction": "" if n < empty else
                                        "asleep yell yell"}) + "\n"
                            for n, i in enumerate(kept)))


def run(project: pytest.Pytester, shared_data: Path, preds: Path) -> pytest.RunResult:
    return project.runpytest("-k", "test-clean", "--model=replay-answered",
                             f"--models-file={project.path / 'models.yaml'}",
                             f"--predictions={preds}", f"--data-root={shared_data}",
                             "--no-store", "-p", "no:cacheprovider")


def test_answered_is_recorded_at_100_and_fails_on_one_empty_answer(
        project: pytest.Pytester, shared_data: Path) -> None:
    preds = project.path / "preds.jsonl"
    predictions(shared_data, preds)
    recorded = run(project, shared_data, preds)
    recorded.assert_outcomes(passed=1)
    row = json.loads((project.path / "reports/audiogate-report.json").read_text())["rows"][0]
    assert row["result"]["metric"] == "answered" and row["result"]["score"]["value"] == 100.0
    (project.path / "thresholds.yaml").write_text(
        "replay-answered:\n  librispeech-test-clean:\n    - metric: answered\n"
        f"      value: 100.0\n      min: {default_limit('answered', 100.0)}\n"
        f"      samples: 6\n      sample_set: {row['result']['sample_set']}\n")
    run(project, shared_data, preds).assert_outcomes(passed=1)
    predictions(shared_data, preds, empty=1)
    failed = run(project, shared_data, preds)
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*regressed: ANSWERED 83.33 < min 100.00*"])
    predictions(shared_data, preds, missing=1)
    errored = run(project, shared_data, preds)
    errored.assert_outcomes(failed=1)
    errored.stdout.fnmatch_lines(["*1 sample(s) errored (allowed 0)*no prediction for id*"])


def test_answered_needs_no_slack_and_applies_to_any_dataset() -> None:
    assert default_limit("answered", 100.0) == 100.0
    assert models()["tiny-qwen2-audio-vllm-served"].options["metric"] == "answered"


def test_mostly_empty_outputs_are_said_in_the_summary_and_the_report(
        project: pytest.Pytester, shared_data: Path) -> None:
    preds = project.path / "preds.jsonl"
    predictions(shared_data, preds, empty=4)
    result = project.runpytest("-k", "test-clean", "--model=replay", f"--predictions={preds}",
                               f"--data-root={shared_data}", "--no-store", "-p",
                               "no:cacheprovider")
    result.stdout.fnmatch_lines(["*note: 4 of 6 outputs are empty"])
    report = (project.path / "reports/audiogate-report.md").read_text()
    assert "  - 4 of 6 outputs are empty\n" in report
    predictions(shared_data, preds, empty=3)  # half: not "mostly"
    quiet = project.runpytest("-k", "test-clean", "--model=replay", f"--predictions={preds}",
                              f"--data-root={shared_data}", "--no-store", "-p",
                              "no:cacheprovider")
    assert "outputs are empty" not in quiet.stdout.str()
