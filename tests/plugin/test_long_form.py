"""Long-form pairs through the plugin: collected only when asked for, scored per recording,
and a looping stitched output flagged in every report without changing the score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audiogate.datasets import load_dataset
from audiogate.registry import load as registry

pytest_plugins = ["pytester"]


def collected(project: pytest.Pytester, *args: str) -> list[str]:
    result = project.runpytest("--collect-only", "-q", "-p", "no:cacheprovider", *args)
    return [line for line in result.outlines if "::" in line]


def test_long_form_pairs_are_collected_only_when_asked_for(project: pytest.Pytester) -> None:
    plain = collected(project, "-k", "test-clean")
    assert plain == ["test_gated_asr.py::test_asr[whisper-tiny.en/librispeech-test-clean]"]
    asked = collected(project, "-k", "long-form")
    long_form = {n for n, d in registry.datasets().items() if d.long_form}
    assert {"earnings21", "earnings22", "tedlium-release3-longform-test"} <= long_form
    assert sorted(asked) == sorted(f"test_gated_asr.py::test_asr[whisper-tiny.en/{n}]"
                                   for n in long_form)
    assert "test_gated_asr.py::test_asr[whisper-tiny.en/librispeech-chapters-dev-clean]" in asked
    both = collected(project, "--long-form", "-k", "dev-clean")
    assert len(both) == 2


def test_a_looping_recording_is_flagged_and_still_scored(project: pytest.Pytester,
                                                         shared_data: Path) -> None:
    chapters = load_dataset(registry.dataset("librispeech-chapters-test-clean"), shared_data)
    looping = chapters[0]
    lines = [{"id": s.id, "prediction": s.reference} for s in chapters[1:]]
    lines.append({"id": looping.id, "prediction": looping.reference + " and so on" * 10})
    preds = project.path / "preds.jsonl"
    preds.write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = project.runpytest("-k", "long-form and test-clean", "--model=replay",
                               f"--predictions={preds}", f"--data-root={shared_data}",
                               "--no-store", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    report = json.loads((project.path / "reports" / "audiogate-report.json").read_text())
    [row] = report["rows"]
    [flag] = row["result"]["flagged"]
    assert flag[0] == looping.id and flag[1].startswith("looping: 'and so on' x10")
    words = sum(len(s.reference.split()) for s in chapters)
    assert row["result"]["score"]["value"] == pytest.approx(100 * 30 / words)  # not excluded
    html = (project.path / "reports" / "audiogate-report.html").read_text()
    assert "Abnormal long-form outputs (1)" in html and looping.id in html
    assert "with abnormal output (flagged, score unchanged)" in \
        (project.path / "reports" / "audiogate-report.md").read_text()
