"""docs/custom-engine.md's example, exactly as written: its Python block becomes my_asr.py,
its YAML block my-models.yaml, and its two commands record a threshold for the custom
PyTorch model and then gate it on the real test-clean slice."""

from __future__ import annotations

import importlib.util
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "custom-engine.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)

if importlib.util.find_spec("torch") is None or importlib.util.find_spec("transformers") is None:
    pytest.skip("pip install -e '.[transformers]'", allow_module_level=True)


def blocks(language: str) -> list[str]:
    """The page's fenced blocks of ``language``, in order."""
    return [body for lang, body in FENCE.findall(PAGE.read_text(encoding="utf-8"))
            if lang == language]


def commands() -> list[list[str]]:
    """The example's shell commands (the first bash block), continuation lines joined."""
    text = blocks("bash")[0].replace("\\\n", " ")
    return [shlex.split(line) for line in text.splitlines() if line.strip()]


def test_the_example_is_at_most_15_lines_of_code() -> None:
    code = [line for line in blocks("python")[0].splitlines() if line.strip()]
    assert len(code) <= 15, code


def test_the_documented_custom_model_records_then_gates(tmp_path: Path) -> None:
    (tmp_path / "my_asr.py").write_text(blocks("python")[0], encoding="utf-8")
    (tmp_path / "my-models.yaml").write_text(blocks("yaml")[0], encoding="utf-8")
    record, gate = commands()
    assert record[:3] == gate[:3] == ["python", "-m", "pytest"]
    assert "--update-thresholds" in record and "--update-thresholds" not in gate
    # Run from the folder holding the two files, against this checkout's benchmarks and
    # data; thresholds and store in tmp (never the checkout's thresholds.yaml).
    extra = ["--rootdir", str(REPO), "--data-root", str(REPO / "data"),
             "--thresholds", str(tmp_path / "thresholds.yaml"),
             "--store", str(tmp_path / "store.sqlite"), "-p", "no:randomly",
             "--report-dir", str(tmp_path / "reports")]

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, *argv[1:]]
        argv[argv.index("benchmarks")] = str(REPO / "benchmarks")
        return subprocess.run([*argv, *extra], cwd=tmp_path, capture_output=True, text=True,
                              timeout=1200)

    recorded = run(record)
    assert recorded.returncode == 0, recorded.stdout[-3000:] + recorded.stderr[-2000:]
    assert "1 passed" in recorded.stdout, recorded.stdout[-3000:]
    thresholds = (tmp_path / "thresholds.yaml").read_text(encoding="utf-8")
    assert "my-whisper:" in thresholds and "librispeech-test-clean:" in thresholds
    value = float(re.search(r"value: ([0-9.]+)", thresholds).group(1))  # type: ignore[union-attr]
    assert value < 10  # real transcripts of real speech: tiny.en's WER on the slice
    gated = run(gate)
    assert gated.returncode == 0, gated.stdout[-3000:] + gated.stderr[-2000:]
    assert "1 passed" in gated.stdout
