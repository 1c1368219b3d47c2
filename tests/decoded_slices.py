"""One real decode of the three shipped LibriSpeech slices, shared by the slow tests.

The README's gated run (``pytest benchmarks`` with whisper-tiny.en on librispeech-test-clean,
-dev-clean and -test-other: 83 clips, gated by the repository's thresholds.yaml) is run once
per session into a folder that every pytest-xdist worker of the session sees, under a file
lock: the first test that needs it runs it, the others wait for it and read it. It leaves the
per-sample store the run filled and its report folder. A test that runs pytest on the store
works on its own copy (``copy_store``), so no test changes what another one reads.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]
MODEL = "whisper-tiny.en"
SLICES = ("librispeech-test-clean", "librispeech-dev-clean", "librispeech-test-other")
TIMEOUT_S = 1800  # 83 clips on two busy shared cores, with room to spare


def copy_store(store: Path, target: Path) -> Path:
    """A consistent copy of a closed WAL store (the run that wrote it has exited)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(store)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
    return target


@dataclass(frozen=True)
class DecodedSlices:
    """Where the shared decode left its store and report, and how its run ended."""

    folder: Path
    data_root: Path
    command: tuple[str, ...]
    returncode: int
    output: str  # the run's stdout and stderr (their last 20,000 characters)

    @property
    def store(self) -> Path:
        return self.folder / "store.sqlite"

    @property
    def report(self) -> Path:
        return self.folder / "report"

    def copy_store(self, target: Path) -> Path:
        """A private copy of the store at ``target`` (the shared one is only ever read)."""
        return copy_store(self.store, target)

    def rows(self) -> dict[str, dict[str, Any]]:
        """The report's row of each slice, by dataset name."""
        data = json.loads((self.report / "audiogate-report.json").read_text(encoding="utf-8"))
        return {row["result"]["dataset"]: row for row in data["rows"]}

    def samples(self, dataset: str) -> list[dict[str, Any]]:
        """The per-sample records the run wrote for ``dataset``."""
        path = self.report / "samples" / f"{MODEL}__{dataset}.jsonl"
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _run(folder: Path, data_root: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "pytest", "benchmarks", "-k", " or ".join(SLICES),
               f"--model={MODEL}", f"--data-root={data_root}",
               f"--thresholds={REPO / 'thresholds.yaml'}", f"--store={folder / 'store.sqlite'}",
               f"--report-dir={folder / 'report'}", "-p", "no:cacheprovider",
               "-p", "no:randomly", "-q"]
    env = {k: v for k, v in os.environ.items() if k != "AUDIOGATE_DATA_ROOT"}
    try:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S, check=False)
        returncode, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as e:
        returncode = -1
        output = f"timed out after {TIMEOUT_S} s\n{e.stdout or ''}{e.stderr or ''}"
    return {"command": command, "returncode": returncode, "output": output[-20_000:]}


def decode_once(shared_root: Path, data_root: Path) -> DecodedSlices:
    """The session's decode, run by the first caller under ``shared_root`` (a folder all the
    session's workers share), read from its record by every later one."""
    folder = shared_root / "decoded-slices"
    record = shared_root / "decoded-slices.json"
    with FileLock(str(shared_root / "decoded-slices.lock")):
        if not record.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(_run(folder, data_root)), encoding="utf-8")
        done = json.loads(record.read_text(encoding="utf-8"))
    decoded = DecodedSlices(folder, data_root, tuple(done["command"]), done["returncode"],
                            done["output"])
    if decoded.returncode != 0:
        pytest.fail(f"the shared decode of the LibriSpeech slices failed (exit "
                    f"{decoded.returncode}): {' '.join(decoded.command)}\n{decoded.output}",
                    pytrace=False)
    return decoded
