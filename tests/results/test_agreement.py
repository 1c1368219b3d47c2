"""`audiogate report agree`: two runs' report folders compared clip by clip (real reports,
written by replay runs of the gated tests)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


def replay(project: pytest.Pytester, shared_data: Path, name: str,
           change: dict[int, str]) -> Path:
    """A report of test-clean whose predictions are the references, except `change`."""
    lines = [line for trans in sorted((shared_data / "LibriSpeech/test-clean").glob(
        "*/*/*.trans.txt")) for line in trans.read_text().splitlines()]
    preds = project.path / f"{name}.jsonl"
    preds.write_text("".join(json.dumps({"id": line.split(" ", 1)[0], "prediction": change.get(
        n, line.split(" ", 1)[1].lower())}) + "\n" for n, line in enumerate(lines)))
    project.runpytest("-k", "test-clean", "--model=replay", f"--predictions={preds}",
                      f"--data-root={shared_data}", "--no-store", "--report-dir", name)
    return project.path / name


def agree(a: Path, b: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "audiogate.cli", "report", "agree", str(a),
                           str(b), *extra], capture_output=True, text=True, check=False)


def test_identical_runs_agree(project: pytest.Pytester, shared_data: Path) -> None:
    a = replay(project, shared_data, "a", {})
    b = replay(project, shared_data, "b", {})
    done = agree(a, b)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        "librispeech-test-clean: replay vs replay: 6/6 identical, 0 same words, 0 different",
        "agreement: 6/6 clips agree (0 differ, 0 allowed)"]


def test_a_changed_clip_is_named_and_fails(project: pytest.Pytester, shared_data: Path) -> None:
    a = replay(project, shared_data, "a", {})
    b = replay(project, shared_data, "b", {0: "something else entirely",
                                          3: "He could wait no longer."})
    done = agree(a, b)
    assert done.returncode == 1
    out = done.stdout
    assert "4/6 identical, 1 same words, 1 different" in out
    assert "  same words 1089-134691-0000" in out  # case and punctuation only
    assert "  DIFFERENT 1089-134686-0000:" in out and "'something else entirely'" in out
    assert out.splitlines()[-1] == "agreement: 5/6 clips agree (1 differ, 0 allowed)"
    assert agree(a, b, "--allow", "1").returncode == 0
