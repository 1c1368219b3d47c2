"""The suite's two tiers (tests/conftest.py): `pytest tests` skips the slow end-to-end tier,
saying which flag runs it, `pytest tests --slow` runs it, and a test that reads the shared
decode of the slices without being marked slow is refused.

Each case runs pytest in a subprocess on this repository's own tests (collection only, or
a slow test that skips before its fixtures), so nothing is decoded here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SLOW_TEST = "tests/plugin/test_sample_shards.py::test_merged_shards_equal_the_serial_run_to_the_bit"
FAST_TEST = "tests/test_shards.py::test_the_shard_of_an_id_is_fixed_by_its_hash"


def _pytest(*args: str, cwd: Path = REPO, **env: str) -> subprocess.CompletedProcess[str]:
    """pytest in a subprocess, without the outer run's xdist or PYTEST_ADDOPTS settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist",
                           "-p", "no:randomly", *args], cwd=cwd, env={**clean, **env},
                          capture_output=True, text=True, timeout=300, check=False)


def test_without_the_flag_a_slow_test_skips_naming_it() -> None:
    done = _pytest(SLOW_TEST, FAST_TEST, "-rs")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed, 1 skipped" in done.stdout
    assert "slow end-to-end tier: run it with `pytest tests --slow`" in done.stdout
    assert ("1 test(s) of the slow end-to-end tier skipped: run them with "
            "`pytest tests --slow`") in done.stdout


def test_the_flag_selects_the_slow_tier() -> None:
    done = _pytest(SLOW_TEST, FAST_TEST, "--slow", "-m", "slow", "--collect-only", "-q")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    listed = [line for line in done.stdout.splitlines() if "::" in line]
    assert listed == [SLOW_TEST]


def test_a_test_reading_the_shared_decode_must_be_marked_slow(tmp_path: Path) -> None:
    tests = tmp_path / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text((REPO / "tests" / "conftest.py").read_text())
    (tests / "test_unmarked.py").write_text(
        "def test_reads_it(decoded_slices):\n    pass\n")
    done = _pytest("tests", "--collect-only", "-q", f"--rootdir={tmp_path}", cwd=tmp_path,
                   PYTHONPATH=os.pathsep.join([str(REPO / "tests"), str(REPO)]))
    assert done.returncode == 4, done.stdout[-3000:] + done.stderr[-3000:]
    assert ("tests/test_unmarked.py::test_reads_it" in done.stderr
            and "not marked @pytest.mark.slow" in done.stderr), done.stderr
