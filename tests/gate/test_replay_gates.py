"""Gates driven by the replay engine (predictions made elsewhere), end to end through the
plugin: the MMAU accuracy gate on the REAL test-mini JSON, the paired gate catching a
regression, and the merge of two shard reports. No model runs, so these are fast."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
CONFTEST = 'pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n'


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.syspath_prepend(str(REPO))
    pytester.makeconftest(CONFTEST)
    # renamed: tests/datasets/test_mmau.py is already a module of this session
    for name in ("asr", "mmau"):
        source = (REPO / "benchmarks" / f"test_{name}.py").read_text()
        pytester.makepyfile(**{f"test_gated_{name}": source})
    return pytester


def mmau_predictions(shared_data: Path, path: Path, n_right: int) -> list[dict]:
    """The answer for the first n_right items, another choice for the rest."""
    items = json.loads((shared_data / "mmau-test-mini" / "mmau-test-mini.json").read_text())
    lines = []
    for i, item in enumerate(items):
        wrong = next(c for c in item["choices"] if c.strip() != item["answer"].strip())
        pred = item["answer"] if i < n_right else wrong
        lines.append({"id": item["id"], "prediction": f"<think>hmm</think>{pred}"})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return items


def thresholds(path: Path, body: str) -> None:
    path.write_text(body, encoding="utf-8")


def test_mmau_gate_on_the_real_json(project: pytest.Pytester, shared_data: Path) -> None:
    preds = project.path / "preds.jsonl"
    items = mmau_predictions(shared_data, preds, 700)
    # Some official items are scored wrong even with the exact answer (official quirks), so
    # measure first, then gate just below and just above the measured value.
    args = ["-k", "mmau-test-mini", "--model=replay", f"--predictions={preds}",
            f"--data-root={shared_data}", "--no-store", "-p", "no:cacheprovider"]
    result = project.runpytest(*args)
    result.assert_outcomes(passed=1)
    report = json.loads((project.path / "reports" / "audiogate-report.json").read_text())
    row = report["rows"][0]["result"]
    value, total = row["score"]["value"], row["score"]["total"]
    assert total == len(items) == 1000
    assert 68.0 < value < 72.0  # 700 exact answers; quirks of the official rule move a few
    assert row["score"]["breakdown"]["rule"] == "official"
    assert set(row["score"]["breakdown"]["by_task"]) == {"sound", "music", "speech"}
    entry = ("replay:\n  mmau-test-mini:\n    - metric: acc\n      value: {recorded}\n"
             f"      min: {{limit}}\n      samples: 1000\n      sample_set: {row['sample_set']}\n")
    thresholds(project.path / "thresholds.yaml",
               entry.format(recorded=round(value, 2), limit=round(value - 1, 2)))
    project.runpytest(*args).assert_outcomes(passed=1)
    # recorded higher than this run: a min just above the measured value fails
    thresholds(project.path / "thresholds.yaml",
               entry.format(recorded=round(value + 1.5, 2), limit=round(value + 1, 2)))
    failed = project.runpytest(*args)
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*replay/mmau-test-mini*regressed: ACC*<*min*"])


def librispeech_predictions(shared_data: Path, path: Path, damage: int) -> list[str]:
    """References as predictions, with the first `damage` utterances garbled."""
    ids = []
    lines = []
    for trans in sorted((shared_data / "LibriSpeech" / "test-other").glob("*/*/*.trans.txt")):
        for line in trans.read_text().splitlines():
            utt, _, text = line.partition(" ")
            ids.append(utt)
            if len(ids) <= damage:
                text = " ".join(w[::-1] for w in text.split())
            lines.append(json.dumps({"id": utt, "prediction": text}))
    path.write_text("\n".join(lines) + "\n")
    return ids


def test_paired_gate_catches_a_regression(project: pytest.Pytester, shared_data: Path) -> None:
    base = project.path / "base.jsonl"
    librispeech_predictions(shared_data, base, damage=0)
    args = ["-k", "test-other", "--model=replay", f"--data-root={shared_data}",
            "--no-store", "-p", "no:cacheprovider", "--bootstrap-resamples=2000"]
    project.runpytest(*args, f"--predictions={base}", "--update-thresholds"
                      ).assert_outcomes(passed=1)
    text = (project.path / "thresholds.yaml").read_text()
    assert "baseline: baselines/replay/librispeech-test-other.jsonl" in text
    # gate by the paired test only (a loose limit would pass the regression)
    text = text.replace("max: 0.1", "max: 99.0")
    text += "      gate: [paired]\n      margin: 0.5\n"
    (project.path / "thresholds.yaml").write_text(text)
    project.runpytest(*args, f"--predictions={base}").assert_outcomes(passed=1)
    worse = project.path / "worse.jsonl"
    librispeech_predictions(shared_data, worse, damage=12)
    result = project.runpytest(*args, f"--predictions={worse}")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*replay/librispeech-test-other: paired test: +* WER "
                                 "[[]+*, +*[]] vs baseline, worse by > 0.50 at 95 %"])


def test_merge_of_two_shards_equals_one_run(project: pytest.Pytester, shared_data: Path,
                                            tmp_path: Path) -> None:
    preds = project.path / "preds.jsonl"
    lines = []
    for split in ("test-clean", "test-other"):
        for trans in sorted((shared_data / "LibriSpeech" / split).glob("*/*/*.trans.txt")):
            for line in trans.read_text().splitlines():
                utt, _, text = line.partition(" ")
                lines.append(json.dumps({"id": utt, "prediction": text.lower()[:-3]}))
    preds.write_text("\n".join(lines) + "\n")
    base = ["--model=replay", f"--predictions={preds}", f"--data-root={shared_data}",
            "--no-store", "-p", "no:cacheprovider"]
    # the project's gates (the merge judges by them too): none for replay
    (project.path / "thresholds.yaml").write_text(
        "whisper-tiny.en:\n  librispeech-test-clean:\n    - metric: wer\n      value: 5.0\n"
        "      max: 6.0\n      samples: 6\n", encoding="utf-8")
    project.runpytest(*base, "-k", "test-clean or test-other", "--report-dir", "full")
    project.runpytest(*base, "-k", "test-clean", "--report-dir", "shard1")
    project.runpytest(*base, "-k", "test-other", "--report-dir", "shard2")
    merged = tmp_path / "merged"
    done = subprocess.run([sys.executable, "-m", "audiogate.cli", "report", "merge",
                           str(project.path / "shard1"), str(project.path / "shard2"),
                           "-o", str(merged)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    # nothing recorded for replay: the merged verdict says so instead of PASS
    assert done.stdout.splitlines()[-1] == (
        "verdict: NOT GATED (2 pairs from 2 reports; pairs: 0 pass · 0 fail · 0 error · "
        "2 not gated · 0 skipped)")
    full = json.loads((project.path / "full" / "audiogate-report.json").read_text())
    both = json.loads((merged / "audiogate-report.json").read_text())

    def scores(report: dict) -> dict:
        return {r["result"]["dataset"]: (r["result"]["score"], r["status"])
                for r in report["rows"]}

    assert scores(both) == scores(full)
    assert len(scores(full)) == 2


@pytest.mark.slow
def test_progress_lines_show_while_output_is_captured(project: pytest.Pytester,
                                                      shared_data: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    preds = project.path / "preds.jsonl"
    librispeech_predictions(shared_data, preds, damage=0)
    # a subprocess: in-process pytester runs do not capture at the file-descriptor level
    project.makeini("[pytest]\n")
    result = project.runpytest_subprocess(
        "-k", "test-other", "--model=replay", f"--predictions={preds}",
        f"--data-root={shared_data}", "--no-store", "--progress-interval=0",
        "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["replay/librispeech-test-other: 1/42 (2.4%)*",
                                 "replay/librispeech-test-other: 42/42 done: 42 inferred; *in *"])
    # under pytest-xdist each worker prints its own lines (tagged) on the shared stderr;
    # both splits get their predictions (a pair with no predictions would error and fail)
    with preds.open("a") as f:
        for trans in sorted((shared_data / "LibriSpeech" / "test-clean").glob("*/*/*.trans.txt")):
            for line in trans.read_text().splitlines():
                utt, _, text = line.partition(" ")
                f.write(json.dumps({"id": utt, "prediction": text}) + "\n")
    result = project.runpytest_subprocess(
        "-k", "test-other or test-clean", "--model=replay", f"--predictions={preds}",
        f"--data-root={shared_data}", "--no-store", "--progress-interval=0",
        "-p", "no:cacheprovider", "-p", "xdist", "-n", "2")
    result.assert_outcomes(passed=2)
    result.stderr.fnmatch_lines(["[[]gw?[]] replay/librispeech-test-other: 42/42 done*"])


def test_problems_of_a_predictions_file_are_reported_once_for_the_run(
        project: pytest.Pytester, shared_data: Path) -> None:
    preds = project.path / "preds.jsonl"
    ids = librispeech_predictions(shared_data, preds, damage=0)
    with preds.open("a") as f:
        f.write('{"id": "not-a-librispeech-id", "prediction": "hello"}\n')
        f.write("this line is not json\n")
        f.write(json.dumps({"id": ids[0], "prediction": "a conflicting answer"}) + "\n")
    result = project.runpytest("-k", "test-other", "--model=replay", f"--predictions={preds}",
                               f"--data-root={shared_data}", "--no-store",
                               "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)  # not gated, but an errored sample is never a quiet pass
    said = " ".join(result.stdout.str().split())  # the summary wraps at 120 columns
    for problem in (f"predictions: {preds}:44: not valid JSON",
                    f"predictions: {preds}: duplicate id {ids[0]} at lines 1, 45 (conflicting "
                    "predictions)",
                    f"predictions: {preds}: 1 prediction id(s) match no requested sample: "
                    "not-a-librispeech-id"):
        assert said.count(problem) == 1, problem
    report = json.loads((project.path / "reports" / "audiogate-report.json").read_text())
    assert len(report["meta"]["replay_problems"]) == 3
    [row] = report["rows"]
    assert row["result"]["score"]["errors"] == 1  # the conflicting id is an error sample
    assert [i for i, _ in row["result"]["error_samples"]] == [ids[0]]


def test_protocols_end_to_end(project: pytest.Pytester, shared_data: Path) -> None:
    """Both protocols from the same replayed outputs; --update-thresholds records the gating
    protocol; a dataset switched to the other protocol then meets an entry it cannot be
    compared with, and the gate says so."""
    preds = project.path / "preds.jsonl"
    librispeech_predictions(shared_data, preds, damage=3)
    args = ["-k", "test-other", "--model=replay", f"--data-root={shared_data}",
            f"--predictions={preds}", "--no-store", "-p", "no:cacheprovider",
            "--bootstrap-resamples=200"]
    result = project.runpytest(*args, "--update-thresholds")
    result.assert_outcomes(passed=1)
    md = (project.path / "reports" / "audiogate-report.md").read_text()
    assert re.search(r"\| ultraeval-audio +\|.*\| open-asr [0-9.]+ \(dropped 0\) +\|", md)
    text = (project.path / "thresholds.yaml").read_text()
    assert "protocol: ultraeval-audio" in text
    report = json.loads((project.path / "reports" / "audiogate-report.json").read_text())
    score = report["rows"][0]["result"]["score"]
    assert set(score["protocols"]) == {"ultraeval-audio", "open-asr"}
    oasr = score["protocols"]["open-asr"]
    assert oasr["reported"] == round(oasr["value"], 2) and oasr["dropped"] == 0

    switched = project.path / "datasets.yaml"
    registry_text = (REPO / "src" / "audiogate" / "registry" / "datasets.yaml").read_text()
    entry = registry_text.split("librispeech-test-other:\n", 1)[1].split("\n\n", 1)[0]
    switched.write_text("librispeech-test-other:\n" + entry + "\n  protocol: open-asr\n")
    failed = project.runpytest(*args, f"--datasets-file={switched}")
    failed.assert_outcomes(failed=1)
    failed.stdout.fnmatch_lines(["*recorded under protocol 'ultraeval-audio'*scored for the "
                                 "gate under 'open-asr'*not comparable*"])


def test_replayed_reasoning_outputs_score_like_the_bare_answers(project: pytest.Pytester,
                                                                shared_data: Path) -> None:
    """Step-Audio-R1.1 writes its chain of thought, naming every option, before the answer.
    Replayed with that model's answer rules (--predictions-from), the raw outputs score
    exactly what the bare answers score; the errors count agrees everywhere."""
    items = json.loads((shared_data / "mmau-test-mini" / "mmau-test-mini.json").read_text())
    chosen = items[:60]
    bare, wrapped = project.path / "bare.jsonl", project.path / "wrapped.jsonl"
    lines_bare, lines_wrapped = [], []
    for i, item in enumerate(chosen):
        wrong = next(c for c in item["choices"] if c.strip() != item["answer"].strip())
        answer = item["answer"] if i % 2 == 0 else wrong
        thought = ("<think>\nLet me weigh the options: " + "; ".join(item["choices"])
                   + ". The clip decides it.\n</think>\n\n")
        lines_bare.append(json.dumps({"id": item["id"], "prediction": answer}))
        lines_wrapped.append(json.dumps({"id": item["id"], "prediction": thought + answer}))
    bare.write_text("\n".join(lines_bare) + "\n")
    wrapped.write_text("\n".join(lines_wrapped) + "\n")
    base = ["-k", "mmau-test-mini", "--model=replay", f"--data-root={shared_data}",
            "--no-store", "-p", "no:cacheprovider"]

    def run(predictions: Path, *extra: str, folder: str) -> tuple[dict, str, str]:
        result = project.runpytest(*base, f"--predictions={predictions}", *extra,
                                   f"--report-dir={folder}")
        result.assert_outcomes(failed=1)  # 940 items have no prediction: never a pass
        report = json.loads((project.path / folder / "audiogate-report.json").read_text())
        md = (project.path / folder / "audiogate-report.md").read_text()
        return report["rows"][0]["result"]["score"], result.stdout.str(), md

    plain, out, md = run(bare, folder="bare")
    assert plain["total"] == 1000 and plain["errors"] == 940
    assert plain["breakdown"]["errors"] == 940  # the JSON breakdown agrees with the count
    assert "/1000, 940 errored" in out.split("audiogate results", 1)[1]  # terminal table
    assert "| 940 " in md
    assert 40.0 < plain["answered_value"] < 60.0
    # the 940 errored items count as wrong answers in the gated value
    assert plain["value"] == pytest.approx(plain["answered_value"] * 60 / 1000)
    raw, _, _ = run(wrapped, folder="raw")
    # scored with the chain of thought, which names every option
    assert raw["answered_value"] < 5.0
    live, _, _ = run(wrapped, "--predictions-from=step-audio-r1.1", folder="live")
    assert live["value"] == plain["value"]
    assert live["breakdown"]["by_task"] == plain["breakdown"]["by_task"]
