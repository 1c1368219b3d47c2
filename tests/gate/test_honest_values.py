"""What the gated number stands for, end to end through the plugin with replayed
predictions on the real LibriSpeech test-clean slice (6 utterances, no model runs):

- an errored sample allowed by `max_errors` counts as the worst answer it could have been
  (every reference word deleted), so an error never makes a pair look better; the value
  over the answered samples is reported beside it;
- an entry recorded with `samples` and no `sample_set` matches any set of that size: the
  summary says so, and --update-thresholds pins the set.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from audiogate.samples import sample_set_fingerprint

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
CLEAN = Path("LibriSpeech/test-clean")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.syspath_prepend(str(REPO))
    pytester.makeconftest('pytest_plugins = ["audiogate.plugin", "fixtures.gate"]\n')
    pytester.makepyfile(test_gated_asr=(REPO / "benchmarks" / "test_asr.py").read_text())
    return pytester


def transcripts(root: Path) -> dict[str, str]:
    """id -> reference of the test-clean slice under ``root``."""
    found = {}
    for trans in sorted((root / CLEAN).glob("*/*/*.trans.txt")):
        for line in trans.read_text(encoding="utf-8").splitlines():
            utt, _, text = line.partition(" ")
            found[utt] = text
    return found


def write_predictions(path: Path, predictions: dict[str, str | None]) -> None:
    """One line per id: the text, or (None) a replayed failed request."""
    path.write_text("".join(json.dumps({"id": i, "prediction": t} if t is not None else
                                       {"id": i, "error": "HTTP 500 from the server"}) + "\n"
                            for i, t in predictions.items()), encoding="utf-8")


def report_row(project: pytest.Pytester) -> dict[str, Any]:
    report = json.loads((project.path / "reports" / "audiogate-report.json").read_text())
    (row,) = report["rows"]
    return dict(row)


ARGS = ["-k", "test-clean", "--model=replay", "--no-store", "-p", "no:cacheprovider"]


def said(result: pytest.RunResult) -> str:
    """The run's output with the summary's 120-column wrapping undone."""
    return " ".join(line.strip() for line in result.outlines)


# --- count-only matches -------------------------------------------------------------------

def test_count_only_match_is_named_and_pinned_by_update(project: pytest.Pytester,
                                                        shared_data: Path) -> None:
    """An entry with `samples: 6` and no `sample_set` passes a run whose ids changed but
    whose count did not: the summary says "matched on count only"; --update-thresholds adds
    the fingerprint, after which the changed set no longer matches the original one."""
    changed = project.path / "changed"
    shutil.copytree(shared_data / CLEAN, changed / CLEAN)
    trans = changed / CLEAN / "1089/134686/1089-134686.trans.txt"
    text = trans.read_text(encoding="utf-8").replace("1089-134686-0002 ", "1089-134686-0099 ")
    trans.write_text(text, encoding="utf-8")
    audio = trans.parent / "1089-134686-0002.flac"
    audio.rename(audio.with_name("1089-134686-0099.flac"))
    refs = transcripts(changed)
    assert len(refs) == 6 and "1089-134686-0099" in refs
    preds = project.path / "preds.jsonl"
    write_predictions(preds, {**transcripts(shared_data), **refs})
    (project.path / "thresholds.yaml").write_text(
        "replay:\n  librispeech-test-clean:\n    - metric: wer\n      value: 0.0\n"
        "      max: 1.0\n      samples: 6\n", encoding="utf-8")
    run = ["--predictions", str(preds), *ARGS]

    result = project.runpytest(*run, f"--data-root={changed}")
    result.assert_outcomes(passed=1)
    assert report_row(project)["reason"] == (
        "WER 0.00 within max 1.00 (recorded 0.00, "
        "+0.00); matched on count only: the entry (line 3) records 6 samples and no "
        "sample_set, so any 6 samples match it; --update-thresholds pins this run's set")
    markdown = (project.path / "reports" / "audiogate-report.md").read_text(encoding="utf-8")
    assert "matched on count only" in markdown

    updated = project.runpytest(*run, f"--data-root={changed}", "--update-thresholds")
    updated.assert_outcomes(passed=1)
    fingerprint = report_row(project)["result"]["sample_set"]
    assert (f"thresholds updated in {project.path / 'thresholds.yaml'}: "
            "pinned: replay/librispeech-test-clean wer: 0.00 -> 0.00 (max 1.00 -> 1.00); "
            f"sample_set pinned to {fingerprint} (matched on count only until now)"
            ) in said(updated)
    assert f"sample_set: {fingerprint}" in (project.path / "thresholds.yaml").read_text()

    # pinned: the changed set passes without the caveat, the original set no longer matches
    again = project.runpytest(*run, f"--data-root={changed}")
    again.assert_outcomes(passed=1)
    assert "count only" not in again.stdout.str()
    original = project.runpytest(*run, f"--data-root={shared_data}")
    original.assert_outcomes(failed=1)
    original.stdout.fnmatch_lines(["*gates this pair, but on another sample set*"])


# --- an allowed error never improves the gated number ------------------------------------

MISTAKES = "1089-134686-0000"  # 28 of the slice's 106 reference words (UltraEval-Audio)


def _entry(maximum: float, ids: list[str]) -> str:
    return ("replay:\n  librispeech-test-clean:\n    - metric: wer\n      value: 0.0\n"
            f"      max: {maximum}\n      samples: 6\n"
            f"      sample_set: {sample_set_fingerprint(ids)}\n      max_errors: 1\n")


def test_an_allowed_error_counts_as_every_word_deleted(project: pytest.Pytester,
                                                       shared_data: Path) -> None:
    """The one clip with mistakes errors instead of answering: with `max_errors: 1` the
    pair used to pass at WER 0.00 (the clip left the corpus). Now its 28 reference words
    count as deleted (28/106 = 26.42), the answered-only value is reported beside it, and
    --update-thresholds says why it records nothing."""
    refs = transcripts(shared_data)
    preds = project.path / "preds.jsonl"
    write_predictions(preds, {i: (None if i == MISTAKES else t) for i, t in refs.items()})
    thresholds = project.path / "thresholds.yaml"
    thresholds.write_text(_entry(1.0, list(refs)), encoding="utf-8")
    run = ["--predictions", str(preds), f"--data-root={shared_data}", *ARGS]

    failed = project.runpytest(*run)
    failed.assert_outcomes(failed=1)
    counted = ("1 errored sample(s) counted as every reference token deleted; WER over the "
               "answered samples only: 0.00")
    assert (f"replay/librispeech-test-clean: regressed: WER 26.42 > max 1.00 (recorded "
            f"0.00, +26.42); {counted}") in said(failed)
    row = report_row(project)
    score = row["result"]["score"]
    assert score["value"] == 100 * 28 / 106 and score["answered_value"] == 0.0
    assert score["protocols"]["ultraeval-audio"]["error_tokens"] == 28
    markdown = (project.path / "reports" / "audiogate-report.md").read_text(encoding="utf-8")
    assert "answered only 0.00 (1 error(s) counted as the worst answer)" in markdown
    assert "+ 28 reference tokens of errored samples counted as deleted" in markdown

    thresholds.write_text(_entry(30.0, list(refs)), encoding="utf-8")
    passed = project.runpytest(*run)
    passed.assert_outcomes(passed=1)
    passed.stdout.fnmatch_lines(["*PASS*librispeech-test-clean*WER 26.42*1 errored*"])  # table
    assert report_row(project)["reason"] == (
        f"WER 26.42 within max 30.00 (recorded 0.00, +26.42); {counted}")
    verbose = project.runpytest(*run, "-v")  # the wide table's note column
    verbose.stdout.fnmatch_lines(
        ["*26.42*PASS*answered only 0.00 (1 error(s) counted as the worst answer)*"])

    before = thresholds.read_text(encoding="utf-8")
    updated = project.runpytest(*run, "--update-thresholds")
    updated.assert_outcomes(passed=1)
    assert (f"thresholds unchanged in {thresholds}: "
            "not recorded: replay/librispeech-test-clean wer: 1 sample(s) errored, so nothing "
            "was recorded (thresholds are recorded from runs where every sample is answered); "
            f"the gated WER 26.42 is kept as measured: {counted}") in said(updated)
    assert thresholds.read_text(encoding="utf-8") == before


def test_an_error_with_no_reference_to_count_fails_whatever_max_errors_allows(
        project: pytest.Pytester, shared_data: Path) -> None:
    """A transcript line that was not read correctly (a terminal escape in it) has no
    words to count as deleted: the worst answer there is unknown, so `max_errors` cannot
    allow it (it used to pass at WER 0.00 on the other five)."""
    broken = project.path / "broken"
    shutil.copytree(shared_data / CLEAN, broken / CLEAN)
    trans = broken / CLEAN / "1089/134686/1089-134686.trans.txt"
    text = trans.read_text(encoding="utf-8").replace("STEW FOR DINNER", "STEW \x1b[0mFOR DINNER")
    trans.write_text(text, encoding="utf-8")
    refs = transcripts(shared_data)
    preds = project.path / "preds.jsonl"
    write_predictions(preds, refs)
    (project.path / "thresholds.yaml").write_text(_entry(99.0, list(refs)), encoding="utf-8")
    result = project.runpytest("--predictions", str(preds), f"--data-root={broken}", *ARGS)
    result.assert_outcomes(failed=1)
    assert ("replay/librispeech-test-clean: 1 errored sample(s) have no reference to count "
            "as deleted, so the worst answer there is unknown and max_errors cannot allow them: "
            f"{MISTAKES}: {trans}:1: control character(s) (U+001B)") in said(result)
    assert report_row(project)["result"]["score"]["uncounted"] == [MISTAKES]
